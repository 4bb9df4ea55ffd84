"""Jinja2 templates (package data under bbjcoder/templates/) for every rendered page and report.

HTML templates (`*.html.j2`) are autoescaped; Markdown ones are not. Terminal output stays Rich.
"""

from __future__ import annotations

import functools
from typing import Any


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec)


@functools.cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bbjcoder", "templates"),
        autoescape=lambda name: (name or "").endswith(".html.j2"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = _fmt
    return env


def render(name: str, **context: Any) -> str:
    """Render the template `name` (a path under bbjcoder/templates/) with `context`."""
    return str(environment().get_template(name).render(**context))
