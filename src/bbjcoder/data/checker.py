"""Access to the BBj checker (`bbjcoder.bbj`) from the data stage, detected at call time.

While the checker is not importable the data stage still works: code is then reported as unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

UNAVAILABLE_MESSAGE = "BBj checker not available; code not checked"


@dataclass(frozen=True)
class Checker:
    """The two functions of `bbjcoder.bbj` the data stage uses."""

    check_source: Callable[[str], list[Any]]
    detect_generations: Callable[[str], set[str]] | None


def get_checker() -> Checker | None:
    """The BBj checker, or None when `bbjcoder.bbj` does not provide `check_source` (yet)."""
    try:
        from bbjcoder import bbj
    except ImportError:
        return None
    check = getattr(bbj, "check_source", None)
    if not callable(check):
        return None
    detect = getattr(bbj, "detect_generations", None)
    return Checker(check_source=check, detect_generations=detect if callable(detect) else None)


def get_detector() -> Callable[[str], set[str]] | None:
    """`detect_generations` alone (it may exist before `check_source` does)."""
    try:
        from bbjcoder import bbj
    except ImportError:
        return None
    detect = getattr(bbj, "detect_generations", None)
    return detect if callable(detect) else None
