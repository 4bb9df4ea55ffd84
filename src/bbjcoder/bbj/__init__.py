"""The BBj language: lexer, parser, diagnostics, checker backends and generation detection.

This package imports nothing else of bbjcoder's (and no torch), so checking stays fast and light.
Public API (relied on by data, evaluate, serve and outside checks):

    check_source(text: str, *, strict: bool = False) -> list[Diagnostic]
    Diagnostic(line: int, column: int, message: str)   # 1-based physical line and column
    detect_generations(text: str) -> set[str]           # subset of GENERATIONS, or {"all"}
    generation_mismatch(labels, text) -> str | None     # why a label contradicts the code
    get_checker("auto" | "builtin" | "bbjcpl") -> Checker  # .check(text, strict=False)
    load_api() -> ApiTable                              # BBj classes/methods/functions/events/verbs
    check_api(text) -> list[Diagnostic]                 # API warnings (`bbjcoder check --api`)
"""

from __future__ import annotations

from dataclasses import dataclass

GENERATIONS: tuple[str, ...] = ("character", "vpro5", "bbj-gui", "dwc")


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in BBj source: 1-based physical line and column, and what was expected."""

    line: int
    column: int
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column, "message": self.message}


# The implementation modules import Diagnostic from here, so they come after its definition.
from bbjcoder.bbj.api import ApiTable, check_api, load_api  # noqa: E402
from bbjcoder.bbj.backends import BACKENDS, Checker, CheckerUnavailable, get_checker, parse_bbjcpl_output  # noqa: E402
from bbjcoder.bbj.generations import detect_generations, generation_mismatch  # noqa: E402
from bbjcoder.bbj.parser import check_source  # noqa: E402

__all__ = [
    "BACKENDS",
    "GENERATIONS",
    "ApiTable",
    "Checker",
    "CheckerUnavailable",
    "Diagnostic",
    "check_api",
    "check_source",
    "detect_generations",
    "generation_mismatch",
    "get_checker",
    "load_api",
    "parse_bbjcpl_output",
]
