"""The copy rule: a sample whose code is (near-)identical to code in the prompt is not an answer.

Comprehension and migration prompts carry code that already passes the checker, so echoing it
would score; compile@k counts such a sample as "no code" and the report shows each model's copy rate.
Short of a copy, `reused_share` says how much of an answer is the prompt's code: a migration that
keeps most of its source program's lines has not migrated it, though it adds a line of its own.
"""

from __future__ import annotations

import re

from bbjcoder.evaluate.extract import fenced_blocks
from bbjcoder.evaluate.suite import Case

# Code shorter than this many lines is a copy only when it is a whole piece of the prompt's code:
# one `return` or `wend` of a FIM middle also occurs in its prefix without being copied from it.
MIN_EXCERPT_LINES = 3
# An answer with at least this share of its lines from the prompt's code mostly repeats it.
MOSTLY_REUSED = 0.8

_LINE_NUMBER = re.compile(r"^\d+\s+")
_SPACE = re.compile(r"\s+")
_REM = re.compile(r"^rem(?:\s|$)")


def normalise_lines(code: str) -> list[str]:
    """Code lines as the copy rule compares them: case, all spacing, line numbers and REM lines
    ignored (so re-indenting, re-casing, renumbering or un-numbering a program still copies it)."""
    out = []
    for raw in code.splitlines():
        line = _LINE_NUMBER.sub("", raw.strip()).lower()
        if line and not _REM.match(line):
            out.append(_SPACE.sub("", line))
    return out


def prompt_codes(case: Case) -> list[str]:
    """The code a case shows the model: fenced blocks of its prompt, its FIM prefix and suffix."""
    codes = [body for _info, body in fenced_blocks(case.prompt)]
    codes += [c for c in (case.prefix, case.suffix) if c]
    return codes


def is_copy(case: Case, code: str) -> bool:
    """Whether `code` adds no line of its own to the code the prompt shows.

    True when every normalised line of `code` occurs in the prompt's code and the code is either
    at least MIN_EXCERPT_LINES lines long (an echo, or an excerpt of it) or one whole piece of the
    prompt's code. A real answer, even a one-line fix of a program, has a line the prompt lacks.
    """
    lines = normalise_lines(code)
    if not lines:
        return False
    pieces = _prompt_pieces(case)
    seen = {ln for piece in pieces for ln in piece}
    if not all(ln in seen for ln in lines):
        return False
    return len(lines) >= MIN_EXCERPT_LINES or lines in pieces


def reused_share(case: Case, code: str) -> float | None:
    """The share of `code`'s normalised lines that occur in the prompt's code (1.0 for a copy).

    None when the prompt shows no code, when `code` has no line to compare, and for FIM cases (a
    middle's `wend` or `next i` is in its prefix by design), so the share is only averaged over
    answers that rewrite or change code they were shown.
    """
    if case.is_fim:
        return None
    lines = normalise_lines(code)
    seen = {ln for piece in _prompt_pieces(case) for ln in piece}
    if not lines or not seen:
        return None
    return sum(ln in seen for ln in lines) / len(lines)


def _prompt_pieces(case: Case) -> list[list[str]]:
    """The prompt's code pieces as normalised lines."""
    return [normalise_lines(c) for c in prompt_codes(case)]
