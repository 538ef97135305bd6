"""Placeholder: the ops routes are registered by web.app from this list."""

from __future__ import annotations

from typing import Any

route_handlers: list[Any] = []
