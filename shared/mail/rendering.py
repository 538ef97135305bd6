"""The email templates (`templates/`): one Jinja environment per process, with the catalogue's i18n extension
reading the template context's `language`. HTML templates autoescape; plain-text ones (`.txt.j2`) do not."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.i18n import install_jinja

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def email_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    install_jinja(environment)
    return environment


def render_email(template_name: str, context: Mapping[str, Any]) -> str:
    """A template of `templates/` rendered with `context` (its `language` picks the words: Spanish by default)."""
    return email_environment().get_template(template_name).render(context)
