"""Small file helpers shared by the stages: atomic writes and JSONL reading/writing.

Artifacts are written to a temporary file in the same directory and renamed into place, so a
killed process never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from bbjcoder.errors import DataError, UserError

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600; an artifact gets the mode a plain open() would give it.
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def atomic_write_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSONL file; a bad line is a DataError naming path:line."""
    for _line, obj in numbered_jsonl(path):
        yield obj


def numbered_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSONL file; a line that is not a JSON
    object, or a file that cannot be read as UTF-8, is a DataError naming path (and line)."""
    path = Path(path)
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", path=path) from exc
    with fh:
        try:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=lineno
                    ) from exc
                if not isinstance(obj, dict):
                    raise DataError("expected a JSON object on each line", path=path, line=lineno)
                yield lineno, obj
        except UnicodeDecodeError as exc:
            # the reader decodes ahead in blocks, so no line number can be trusted here
            raise DataError(f"not UTF-8: {exc}", path=path) from exc


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- directory locks ------------------------------------------------------------------------------

LOCK_NAME = ".bbjcoder.lock"


class DirectoryInUse(UserError):
    """Another process holds the lock of a run or eval output directory."""


class DirLock:
    """An exclusive, non-blocking lock on a directory (flock on `DIR/.bbjcoder.lock`).

    The holder writes its pid into the lock file, so a second process can say who has it. The
    kernel drops the lock when the holder exits, however it exits (kill -9 included).
    """

    def __init__(self, directory: str | Path, what: str = "directory") -> None:
        self.directory = Path(directory)
        self.what = what
        self._fh: TextIO | None = None

    def acquire(self) -> DirLock:
        self.directory.mkdir(parents=True, exist_ok=True)
        fh = (self.directory / LOCK_NAME).open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise DirectoryInUse(
                f"{self.what} is in use by another bbjcoder process (pid {holder})",
                path=self.directory,
                hint=f"wait for it to finish, or stop it (kill {holder}) and run again",
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.seek(0)
                self._fh.truncate()
                fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(directory: str | Path) -> int | None:
    """The pid holding `directory`'s DirLock, or None when no live process holds it."""
    path = Path(directory) / LOCK_NAME
    try:
        fh = path.open("r", encoding="utf-8")
    except OSError:
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            text = fh.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fh, fcntl.LOCK_UN)
        return None
