"""`bbjcoder check` behind the CLI: find the sources, run a checker, print diagnostics or JSON.

Exit codes: 0 every file clean, 1 syntax errors found, 2 usage or I/O error (raised as SourceError).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bbjcoder.bbj import Diagnostic
from bbjcoder.bbj.backends import Checker
from bbjcoder.bbj.parser import LIBRARY_MESSAGE, is_library

# Every extension real repositories keep BBj programs under: .bbjt (BBjUnit tests), .aon
# (AddonSoftware programs), .prc (stored procedures). Not .txt, .arc, .cdf or .tpl.
DEFAULT_EXTENSIONS: tuple[str, ...] = (".bbj", ".src", ".bbl", ".bbx", ".bbjt", ".aon", ".prc")
STDIN = "-"


class SourceError(Exception):
    """A path that does not exist or cannot be read (the CLI turns it into a UserError, exit 2)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.message = message
        self.path = path


@dataclass(frozen=True)
class FileResult:
    """The diagnostics of one checked source."""

    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # `--api` only: unknown methods/functions and impossible argument counts (never errors)
    warnings: list[Diagnostic] | None = None
    # why the file was not checked (a language-server library file is not a program)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.diagnostics

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "path": self.path,
            "ok": self.ok,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }
        if self.warnings is not None:
            out["warnings"] = [d.to_dict() for d in self.warnings]
        if self.skipped is not None:
            out["skipped"] = self.skipped
        return out


def decode_source(data: bytes) -> str:
    """BBj sources are UTF-8 or, in older code, Latin-1: decode either without failing."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def collect_sources(paths: Sequence[str], extensions: Iterable[str] = DEFAULT_EXTENSIONS) -> list[str]:
    """Files named directly (any extension), files under directories matching `extensions`, `-`.

    Raises SourceError for a path that does not exist, before anything is checked.
    """
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    found: list[str] = []
    for raw in paths:
        if raw == STDIN:
            found.append(STDIN)
            continue
        path = Path(raw)
        if path.is_dir():
            found.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in exts)
        elif path.is_file():
            found.append(raw)
        else:
            raise SourceError("no such file or directory", raw)
    return found


def read_source(path: str, stdin: TextIO | None = None) -> str:
    if path == STDIN:
        stream = stdin if stdin is not None else sys.stdin
        buffer = getattr(stream, "buffer", None)
        return decode_source(buffer.read()) if buffer is not None else stream.read()
    try:
        return decode_source(Path(path).read_bytes())
    except OSError as exc:
        raise SourceError(exc.strerror or str(exc), path) from exc


def check_paths(
    paths: Sequence[str],
    checker: Checker,
    *,
    strict: bool = False,
    api: bool = False,
    stdin: TextIO | None = None,
) -> list[FileResult]:
    """Check every source in order; `-` reads standard input (shown as `<stdin>`).

    With `api`, each result also carries the BBj API table's warnings (`bbj.api.check_api`).
    """
    results = []
    for path in paths:
        text = read_source(path, stdin)
        shown = "<stdin>" if path == STDIN else path
        if is_library(text):  # reported, not checked: it declares the API, it is no program
            results.append(FileResult(shown, skipped=LIBRARY_MESSAGE))
            continue
        warnings = None
        if api:
            from bbjcoder.bbj.api import check_api

            warnings = check_api(text)
        results.append(FileResult(shown, checker.check(text, strict=strict), warnings))
    return results


def render_human(results: Sequence[FileResult], out: TextIO) -> None:
    """`path:line:col: message`, one line per diagnostic (plain text, easy to grep and click)."""
    for result in results:
        if result.skipped:
            out.write(f"{result.path}: skipped: {result.skipped}\n")
        for d in result.diagnostics:
            out.write(f"{result.path}:{d.line}:{d.column}: {d.message}\n")
        for d in result.warnings or ():
            out.write(f"{result.path}:{d.line}:{d.column}: warning: {d.message}\n")


def render_json(results: Sequence[FileResult], out: TextIO) -> None:
    json.dump([r.to_dict() for r in results], out, indent=2)
    out.write("\n")


def summary(results: Sequence[FileResult], backend: str) -> str:
    """A one-line Rich-markup summary for stderr."""
    bad = sum(1 for r in results if not r.ok)
    count = sum(len(r.diagnostics) for r in results)
    skipped = sum(1 for r in results if r.skipped)
    checked = len(results) - skipped
    files = f"{checked} file{'s' if checked != 1 else ''}"
    if skipped:
        backend += f"; {skipped} skipped, not BBj programs"
    if not checked:
        return f"[yellow]no BBj sources found[/] ({backend})"
    warned = sum(len(r.warnings or ()) for r in results)
    if warned:
        backend += f"; {warned} API warning{'s' if warned != 1 else ''}"
    if bad == 0:
        return f"[bold green]ok[/] {files} checked, no syntax errors ({backend})"
    return f"[bold red]{count} syntax error{'s' if count != 1 else ''}[/] in {bad} of {files} ({backend})"


def exit_code(results: Sequence[FileResult]) -> int:
    return 0 if all(r.ok for r in results) else 1
