"""The BBj language: lexer, parser, diagnostics, checker backends and generation detection.

This package imports nothing else of bbjcoder's (and no torch), so checking stays fast and light.
Public API (relied on by data, evaluate, serve and outside checks):

    check_source(text: str, *, strict: bool = False) -> list[Diagnostic]
    Diagnostic(line: int, column: int, message: str)   # 1-based physical line and column
    detect_generations(text: str) -> set[str]           # subset of GENERATIONS, or {"all"}
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
