"""Build the stage-1 corpus: collect BBj source files, decode them, drop identical copies.

Decoding: UTF-8 (a BOM is dropped), else the fallback encodings in order (default cp1252, the
Windows code page old BBx sources use). A file none of them decodes, or with NUL bytes (a binary
or tokenized program), is reported with the byte offset. Only line endings change (CRLF/CR -> LF).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bbjcoder.bbj.runner import DEFAULT_EXTENSIONS
from bbjcoder.data.checker import UNAVAILABLE_MESSAGE, get_checker
from bbjcoder.data.records import rejected
from bbjcoder.errors import DataError
from bbjcoder.fileio import atomic_write_jsonl

DEFAULT_FALLBACKS: tuple[str, ...] = ("cp1252",)


class DecodeError(DataError):
    """A source file that no configured encoding decodes."""


@dataclass
class CorpusResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # `file: message`, undecodable files
    notes: list[str] = field(default_factory=list)
    files_seen: int = 0

    @property
    def lines(self) -> int:
        return sum(int(r["lines"]) for r in self.records)


def decode_source(data: bytes, path: str, fallbacks: Sequence[str] = DEFAULT_FALLBACKS) -> tuple[str, str]:
    """(text, encoding name) of a source file's bytes; DecodeError naming the byte offset if none fits."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DecodeError(
            f"binary file (NUL byte at offset {nul}); a tokenized BBx program must be listed as text first",
            path=path,
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data, bom = data[3:], True
    else:
        bom = False
    try:
        return data.decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as exc:
        first = exc
    for enc in fallbacks:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
        except LookupError as exc:
            raise DataError(f"unknown encoding {enc!r}") from exc
    tried = ", ".join(("utf-8", *fallbacks))
    raise DecodeError(
        f"cannot decode: byte 0x{data[first.start]:02x} at offset {first.start + (3 if bom else 0)} is not valid "
        f"in {tried}",
        path=path,
        hint="convert the file to UTF-8, or pass --fallback-encoding latin-1",
    )


def find_sources(dirs: Iterable[str | Path], extensions: Sequence[str]) -> list[Path]:
    """Source files under `dirs` with one of `extensions` (case-insensitive), hidden dirs skipped."""
    # Not bbj.runner.collect_sources: a corpus walk skips hidden files and directories (editor and
    # VCS droppings), while `bbjcoder check` checks exactly what it is given, `-` included.
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    found: set[Path] = set()
    for raw in dirs:
        d = Path(raw)
        if d.is_file():
            found.add(d)
            continue
        if not d.is_dir():
            raise DataError("no such directory", path=d)
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = [n for n in dirnames if not n.startswith(".")]
            for name in filenames:
                if Path(name).suffix.lower() in exts and not name.startswith("."):
                    found.add(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.as_posix())


def build_corpus(
    dirs: Iterable[str | Path],
    *,
    extensions: Sequence[str] = DEFAULT_EXTENSIONS,
    fallbacks: Sequence[str] = DEFAULT_FALLBACKS,
    check: bool = False,
    progress: bool = False,
) -> CorpusResult:
    """Collect, decode, dedup (identical text after line-ending normalisation) and optionally check."""
    from bbjcoder.data.validate import display_path

    files = find_sources(dirs, extensions)
    result = CorpusResult(files_seen=len(files))
    checker = get_checker() if check else None
    if check and checker is None:
        result.notes.append(UNAVAILABLE_MESSAGE)
    first_by_hash: dict[str, str] = {}
    for path in _track(files, progress):
        shown = display_path(path)
        try:
            text, encoding = decode_source(path.read_bytes(), shown, fallbacks)
        except DecodeError as exc:
            result.errors.append(str(exc).split("\n")[0])
            result.rejected.append(rejected("", shown, f"undecodable: {exc.message}", "corpus"))
            continue
        except OSError as exc:
            result.errors.append(f"{shown}: cannot read: {exc.strerror}")
            result.rejected.append(rejected("", shown, f"unreadable: {exc.strerror}", "corpus"))
            continue
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if not text.strip():
            result.rejected.append(rejected(digest, shown, "empty file", "corpus"))
            continue
        if digest in first_by_hash:
            result.rejected.append(
                rejected(digest, shown, "identical file", "corpus", duplicate_of=first_by_hash[digest])
            )
            continue
        first_by_hash[digest] = shown
        if checker is not None:
            diags = checker.check_source(text)
            if diags:
                d = diags[0]
                more = f" (+{len(diags) - 1} more)" if len(diags) > 1 else ""
                reason = f"checker: line {d.line}: {d.message}{more}"
                result.rejected.append(rejected(digest, shown, reason, "corpus"))
                continue
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        result.records.append(
            {"id": digest, "text": text, "source": shown, "lines": lines, "encoding": encoding}
        )
    return result


def write_corpus(result: CorpusResult, out: str | Path, rejected_path: str | Path | None = None) -> None:
    out = Path(out)
    atomic_write_jsonl(out, result.records)
    rej = Path(rejected_path) if rejected_path else out.with_name(out.stem + ".rejected.jsonl")
    atomic_write_jsonl(rej, result.rejected)


def _track(files: list[Path], enabled: bool) -> Iterable[Path]:
    if not enabled or len(files) < 50:
        yield from files
        return
    from rich.progress import track

    yield from track(files, description="reading sources", transient=True)
