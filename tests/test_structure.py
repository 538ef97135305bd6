"""The shape of the code: which of the project's modules may import which, no import cycle, and no module
grown past what a reader takes in at once.

Every import counts, wherever it stands (inside functions, under `if TYPE_CHECKING`): an import that is
allowed only where it happens to run later is still a dependency. An edge goes to the module the statement
names: `from a.b import c` is `a.b.c` when that is a module, else `a.b`; `import a.b` is `a.b` (not `a`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "web", "worker")
TOP_LEVEL = ("beat_schedule.py",)
MAX_LINES = 500


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: Path
    line: int

    def __str__(self) -> str:
        where = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{self.source} -> {self.target} ({where}:{self.line})"


def project_modules(
    root: Path = ROOT, packages: tuple[str, ...] = PACKAGES, top_level: tuple[str, ...] = TOP_LEVEL
) -> dict[str, Path]:
    """Every module of the packages and the top-level modules, by dotted name (a package by its own name)."""
    modules = {Path(name).stem: root / name for name in top_level}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    """The project modules that `name` imports: an edge for each module an import statement names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    edges = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.append(submodule if submodule in modules else base)
        named = dict.fromkeys(target for target in targets if target in modules and target != name)
        edges += [Edge(name, target, path, node.lineno) for target in named]
    return edges


def import_graph(
    root: Path = ROOT, packages: tuple[str, ...] = PACKAGES, top_level: tuple[str, ...] = TOP_LEVEL
) -> list[Edge]:
    modules = project_modules(root, packages, top_level)
    return [edge for name, path in modules.items() for edge in imports_of(name, path, modules)]


def find_cycle(edges: list[Edge]) -> list[Edge]:
    """One import cycle as its edges in order, or [] when there is none."""
    graph: dict[str, list[Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.source, []).append(edge)
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        # Depth-first, iteratively: `path` holds the edges from `start` to the module being expanded.
        path: list[Edge] = []
        on_path = {start}
        stack = [iter(graph.get(start, []))]
        while stack:
            edge = next(stack[-1], None)
            if edge is None:
                stack.pop()
                finished = path.pop().target if path else start
                on_path.discard(finished)
                done.add(finished)
                continue
            if edge.target in on_path:
                first = next((i for i, e in enumerate(path) if e.source == edge.target), len(path))
                return [*path[first:], edge]
            if edge.target in done:
                continue
            path.append(edge)
            on_path.add(edge.target)
            stack.append(iter(graph.get(edge.target, [])))
    return []


def in_package(module: str, packages: str | tuple[str, ...]) -> bool:
    """Whether `module` is one of the packages or inside one."""
    names = (packages,) if isinstance(packages, str) else packages
    return any(module == name or module.startswith(name + ".") for name in names)


def test_the_graph_counts_every_kind_of_import_and_finds_a_cycle(tmp_path: Path) -> None:
    """Absolute, relative, aliased, in a function, under TYPE_CHECKING; a name from a module, a module from a
    package; no edge to a parent package's __init__, to a module itself, or outside the project."""
    files = {
        "pkg/__init__.py": "from . import a\n",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import Thing\n",
        "pkg/b.py": "import os\n\n\ndef later():\n    from .a import value\n    from . import c\n",
        "pkg/c.py": "import pkg.sub.d as d\nfrom pkg import sub\nfrom ..outside import x\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/d.py": "from .. import c\nfrom ..sub import d\n",
        "top.py": "import pkg.a\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    edges = import_graph(tmp_path, ("pkg",), ("top.py",))

    assert sorted((e.source, e.target, e.line) for e in edges) == [
        ("pkg", "pkg.a", 1),
        ("pkg.a", "pkg.b", 3),
        ("pkg.b", "pkg.a", 5),
        ("pkg.b", "pkg.c", 6),
        ("pkg.c", "pkg.sub", 2),
        ("pkg.c", "pkg.sub.d", 1),
        ("pkg.sub.d", "pkg.c", 1),
        ("top", "pkg.a", 1),
    ]
    cycle = find_cycle(edges)
    assert [(e.source, e.target) for e in cycle] == [("pkg.a", "pkg.b"), ("pkg.b", "pkg.a")]
    assert find_cycle([e for e in edges if e.source not in ("pkg.b", "pkg.sub.d")]) == []
    assert [(e.source, e.target) for e in find_cycle([e for e in edges if e.source != "pkg.a"])] == [
        ("pkg.c", "pkg.sub.d"),
        ("pkg.sub.d", "pkg.c"),
    ]


def test_there_is_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle == [], "import cycle:\n  " + "\n  ".join(str(edge) for edge in cycle)


def assert_no_import(forbidden: Callable[[str, str], bool], what: str) -> None:
    wrong = [str(edge) for edge in import_graph() if forbidden(edge.source, edge.target)]
    assert wrong == [], f"{what}:\n  " + "\n  ".join(wrong)


def outside_the_command_line(module: str) -> bool:
    return in_package(module, "shared") and not in_package(module, "shared.cli")


def test_shared_does_not_import_web_or_worker_except_its_command_line() -> None:
    assert_no_import(
        lambda source, target: outside_the_command_line(source) and in_package(target, ("web", "worker")),
        "shared imports the web or the worker",
    )


def test_only_the_command_line_imports_the_command_line() -> None:
    assert_no_import(
        lambda source, target: outside_the_command_line(source) and in_package(target, "shared.cli"),
        "shared imports shared.cli",
    )


def test_the_web_and_the_worker_do_not_import_each_other() -> None:
    assert_no_import(
        lambda source, target: (
            (in_package(source, "web") and in_package(target, "worker"))
            or (in_package(source, "worker") and in_package(target, "web"))
        ),
        "the web and the worker import each other",
    )


def test_no_module_is_longer_than_500_lines() -> None:
    versions = ROOT / "shared" / "migrations" / "versions"
    long = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if not path.is_relative_to(versions)
        and (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert long == [], f"modules over {MAX_LINES} lines:\n  " + "\n  ".join(long)
