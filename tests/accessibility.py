"""What a browser test checks for everyone: axe-core's WCAG 2.0/2.1 A and AA rules (the axe-core that
axe-playwright-python bundles), text of at least 12 px, and no sideways scrolling. Plain functions over a Playwright
page, for any test module that drives the portal in a browser:

    assert_accessible(page)            # axe-core finds no violation
    assert_text_at_least(page, 12)     # every visible text, SVG text at its drawn size
    assert_no_sideways_scroll(page)
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.base import AXE_SCRIPT

WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page: Any, tags: list[str] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (the script is injected once per document)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    options = {"runOnly": {"type": "tag", "values": tags or WCAG_AA}, "resultTypes": ["violations"]}
    results = page.evaluate("(options) => window.axe.run(document, options)", options)
    return list(results["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


def assert_accessible(page: Any, what: str = "") -> None:
    violations = axe_violations(page)
    assert not violations, f"{what or page.url}:\n{describe(violations)}"


SMALL_TEXT = """(minimum) => {
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const element = node.parentElement;
    if (!element || !node.textContent.trim()) continue;
    const rect = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (rect.width === 0 || rect.height === 0 || style.visibility === "hidden" || element.closest("[hidden]")) continue;
    if (element.closest(".visually-hidden, .skip-link")) continue;
    let size = parseFloat(style.fontSize);
    const svg = element.closest("svg");
    if (svg) { size = size * svg.getScreenCTM().a; }
    if (size < minimum - 0.05) {
      small.push(`${element.tagName.toLowerCase()} ${size.toFixed(1)}px: ${node.textContent.trim().slice(0, 40)}`);
    }
  }
  return small;
}"""


def assert_text_at_least(page: Any, pixels: float = 12) -> None:
    small = page.evaluate(SMALL_TEXT, pixels)
    assert not small, f"text under {pixels} px on {page.url}: {small[:10]}"


def assert_no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide in a {width[1]} px window"
