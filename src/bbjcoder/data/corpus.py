"""Build the stage-1 corpus: collect BBj source files, decode them, drop identical copies.

Decoding, one rule per file (`decode_source`): a UTF-16/32 byte-order mark names the encoding;
else strict UTF-8; else, for a file with no UTF-8 in it, the legacy fallbacks (default cp1252, the
Windows code page old BBx sources use). Mixed or undecodable files and binaries are rejected with
the byte offset. Only line endings change (CRLF/CR -> LF). Files: program extensions only.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from bbjcoder.bbj.runner import DEFAULT_EXTENSIONS
from bbjcoder.data.checker import UNAVAILABLE_MESSAGE, get_checker
from bbjcoder.data.records import Rejected, rejected
from bbjcoder.errors import DataError
from bbjcoder.fileio import atomic_write_jsonl

DEFAULT_FALLBACKS: tuple[str, ...] = ("cp1252",)


class DecodeError(DataError):
    """A source file that no configured encoding decodes."""


class CorpusRecord(TypedDict):
    """A line of corpus.jsonl: one source file's text (stage 1 trains on `text`)."""

    id: str  # sha256 of the text
    text: str
    source: str
    lines: int
    encoding: str


@dataclass
class CorpusResult:
    records: list[CorpusRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # `file: message`, undecodable files
    notes: list[str] = field(default_factory=list)
    files_seen: int = 0

    @property
    def lines(self) -> int:
        return sum(int(r["lines"]) for r in self.records)


# A well-formed multi-byte UTF-8 sequence: a file holding these is (partly) UTF-8 text, so a stray
# invalid byte in it is an error to fix, not a sign that the whole file is in a legacy code page.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
# C0 control characters that do not occur in source text (tab, LF, CR, FF, ESC and SUB excepted):
# about one byte in eight of random binary data, whatever the code page.
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x19\x1c-\x1f\x7f]")


def _binary_problem(text: str) -> str | None:
    controls = _CONTROL.findall(text)
    if len(controls) >= 2 and len(controls) > len(text) // 100:
        return f"binary file ({len(controls)} control characters in {len(text)}), not source text"
    return None


def decode_source(data: bytes, path: str, fallbacks: Sequence[str] = DEFAULT_FALLBACKS) -> tuple[str, str]:
    """(text, encoding name) of a source file's bytes, by one rule per file: a UTF-16/32 byte-order
    mark names its encoding; else strict UTF-8 (a BOM is dropped); else, when the file holds no
    UTF-8 at all, the legacy `fallbacks` in order (cp1252 by default). A file that mixes valid
    UTF-8 with other bytes, decodes with none, or is binary is a DecodeError naming the byte offset.
    """
    for bom, enc in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError as exc:
                raise DecodeError(
                    f"cannot decode as {enc.upper()} (its byte-order mark): byte at offset {exc.start}",
                    path=path,
                ) from exc
            if problem := _binary_problem(text):
                raise DecodeError(problem, path=path)
            return text, enc
    nul = data.find(b"\x00")
    if nul >= 0:
        half = data[:4096]
        odd, even = half[1::2], half[0::2]
        if len(half) >= 4 and (odd.count(0) > 0.9 * len(odd) or even.count(0) > 0.9 * len(even)):
            raise DecodeError(
                f"looks like UTF-16 without a byte-order mark (NUL byte at offset {nul})",
                path=path,
                hint="convert it to UTF-8, e.g. iconv -f UTF-16LE -t UTF-8",
            )
        raise DecodeError(
            f"binary file (NUL byte at offset {nul}); a tokenized BBx program must be listed as text first",
            path=path,
        )
    if problem := _binary_problem(data.decode("latin-1")):  # C0 bytes mean the same in every code page
        raise DecodeError(problem, path=path)
    if data.startswith(b"\xef\xbb\xbf"):
        data, bom_len = data[3:], 3
    else:
        bom_len = 0
    try:
        text, encoding = data.decode("utf-8"), "utf-8-sig" if bom_len else "utf-8"
    except UnicodeDecodeError as exc:
        first = exc
    else:
        return text, encoding
    offset = first.start + bom_len
    m = _UTF8_MULTIBYTE.search(data)
    if bom_len or m is not None:
        where = (
            f"UTF-8 text ({m.group().decode()!r} at offset {m.start() + bom_len})"
            if m is not None
            else "a UTF-8 byte-order mark"
        )
        raise DecodeError(
            f"mixed encodings: {where}, but byte 0x{data[first.start]:02x} at offset {offset} is not UTF-8; "
            "decoding the whole file as a legacy code page would garble its UTF-8 text",
            path=path,
            hint="fix that byte (save the file as UTF-8 throughout)",
        )
    for enc in fallbacks:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        except LookupError as exc:
            raise DataError(f"unknown encoding {enc!r}") from exc
        return text, enc
    tried = ", ".join(("utf-8", *fallbacks))
    raise DecodeError(
        f"cannot decode: byte 0x{data[first.start]:02x} at offset {offset} is not valid in {tried}",
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
