"""The BBj checker (`bbjcoder.bbj`) as the data stage uses it: check code, detect generations.

Callers pass `check=False` (`--no-check`) to skip checking; code is then reported as unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bbjcoder import bbj

UNAVAILABLE_MESSAGE = "BBj checker not available; code not checked"


@dataclass(frozen=True)
class Checker:
    """The two functions of `bbjcoder.bbj` the data stage uses."""

    check_source: Callable[[str], list[Any]]
    detect_generations: Callable[[str], set[str]] | None


def get_checker() -> Checker | None:
    """The BBj checker (typed optional: validate and corpus also run with checking turned off)."""
    return Checker(check_source=bbj.check_source, detect_generations=bbj.detect_generations)


def get_detector() -> Callable[[str], set[str]] | None:
    """`bbj.detect_generations`, the generation detector import uses for unlabelled records."""
    return bbj.detect_generations
