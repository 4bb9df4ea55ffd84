"""Checker backends behind one protocol: the builtin parser and BASIS's real compiler `bbjcpl -N`.

`get_checker("auto")` picks bbjcpl when it is configured (env BBJCODER_BBJCPL) or on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from bbjcoder.bbj import Diagnostic

BBJCPL_ENV = "BBJCODER_BBJCPL"
BBJCPL_TIMEOUT_ENV = "BBJCODER_BBJCPL_TIMEOUT"
BACKENDS: tuple[str, ...] = ("auto", "builtin", "bbjcpl")

# `<path>: error at line <legacy> (<physical>): <source line>`; only the physical line is used.
_BBJCPL_ERROR_RE = re.compile(r"^(?P<path>.+?):\s+error at line \d+ \((?P<line>\d+)\):\s?(?P<source>.*)$")


class CheckerUnavailable(Exception):
    """A backend that cannot run here (bbjcpl missing, not executable, timed out).

    bbj/ imports nothing else of bbjcoder's, so this is not a UserError; the CLI turns it into one.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@runtime_checkable
class Checker(Protocol):
    """Anything that syntax-checks BBj source text."""

    name: str

    def check(self, text: str, *, strict: bool = False) -> list[Diagnostic]:
        """Diagnostics sorted by line and column; an empty list means the text compiles."""
        ...


class BuiltinChecker:
    """Our own parser (`bbjcoder.bbj.parser`): fast, no JVM, names what was expected."""

    name = "builtin"

    def check(self, text: str, *, strict: bool = False) -> list[Diagnostic]:
        from bbjcoder.bbj.parser import check_source

        return check_source(text, strict=strict)


def parse_bbjcpl_output(stderr: str) -> list[Diagnostic]:
    """Diagnostics from bbjcpl's output, stdout and stderr together (it exits 0 even on errors)."""
    diags = []
    for raw in stderr.splitlines():
        match = _BBJCPL_ERROR_RE.match(raw.rstrip("\r"))
        if not match:
            continue
        source = match.group("source")
        column = len(source) - len(source.lstrip()) + 1 if source.strip() else 1
        message = f"bbjcpl: syntax error in: {source.strip()}" if source.strip() else "bbjcpl: syntax error"
        # a whole-file error is reported on physical line 0: diagnostics are 1-based
        diags.append(Diagnostic(max(1, int(match.group("line"))), column, message))
    return sorted(set(diags))


def find_bbjcpl() -> str | None:
    """The bbjcpl executable: $BBJCODER_BBJCPL if set, else `bbjcpl` on PATH, else None."""
    configured = os.environ.get(BBJCPL_ENV, "").strip()
    if configured:
        return configured
    return shutil.which("bbjcpl")


class BbjcplChecker:
    """Runs `bbjcpl -N` (check only, writes nothing) on a temp copy of the source, no shell.

    Columns are approximate (bbjcpl reports whole lines: the first non-blank character); strict
    mode has no bbjcpl equivalent and is ignored.
    """

    name = "bbjcpl"

    def __init__(self, executable: str | None = None, timeout: float | None = None) -> None:
        exe = executable or find_bbjcpl()
        if not exe:
            raise CheckerUnavailable(
                "bbjcpl not found",
                hint=f"put BASIS's bbjcpl on PATH or set {BBJCPL_ENV}=/path/to/bbjcpl, or use --backend builtin",
            )
        resolved = exe if os.path.sep in exe else shutil.which(exe)
        if not resolved or not os.access(resolved, os.X_OK):
            raise CheckerUnavailable(f"bbjcpl is not an executable file: {exe}", hint=f"check {BBJCPL_ENV}")
        self.executable = resolved
        self.timeout = timeout if timeout is not None else float(os.environ.get(BBJCPL_TIMEOUT_ENV, "60"))

    def check(self, text: str, *, strict: bool = False) -> list[Diagnostic]:
        with tempfile.TemporaryDirectory(prefix="bbjcoder-bbjcpl-") as tmp:
            source = Path(tmp) / "program.bbj"
            source.write_text(text, encoding="utf-8")
            try:
                done = subprocess.run(
                    [self.executable, "-N", str(source)],
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=self.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise CheckerUnavailable(
                    f"bbjcpl took longer than {self.timeout:g} s",
                    hint=f"raise {BBJCPL_TIMEOUT_ENV} or use --backend builtin",
                ) from exc
            except OSError as exc:
                raise CheckerUnavailable(f"cannot run bbjcpl ({self.executable}): {exc}") from exc
        # Some bbjcpl versions print their errors on stdout, others on stderr: read both.
        return parse_bbjcpl_output(done.stdout + "\n" + done.stderr)


def get_checker(name: str = "auto") -> Checker:
    """The checker called `name`: builtin, bbjcpl, or auto (bbjcpl when available, else builtin)."""
    key = name.strip().lower()
    if key == "builtin":
        return BuiltinChecker()
    if key == "bbjcpl":
        return BbjcplChecker()
    if key == "auto":
        return BbjcplChecker() if find_bbjcpl() else BuiltinChecker()
    raise ValueError(f"unknown checker backend {name!r} (use one of: {', '.join(BACKENDS)})")
