"""Atomic writes keep the umask's mode; directory locks exclude a second process and name it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bbjcoder.fileio import DirectoryInUse, DirLock, atomic_write_json, lock_holder


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_respects_the_umask_like_a_plain_write(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        (tmp_path / "b.json").write_text("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == mode


def test_dir_lock_refuses_a_second_holder_naming_the_first_pid(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from bbjcoder.fileio import DirLock; "
            f"lock = DirLock({str(tmp_path)!r}).acquire(); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert lock_holder(tmp_path) == holder.pid
        with pytest.raises(DirectoryInUse, match=f"pid {holder.pid}") as exc:
            DirLock(tmp_path, "eval output directory").acquire()
        assert exc.value.path == str(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    # the kernel released the killed holder's lock: no stale lock to clean up by hand
    assert lock_holder(tmp_path) is None
    with DirLock(tmp_path):
        assert lock_holder(tmp_path) == os.getpid()


def test_numbered_jsonl_gives_file_lines_and_names_a_bad_one(tmp_path: Path) -> None:
    from bbjcoder.errors import DataError
    from bbjcoder.fileio import numbered_jsonl

    good = tmp_path / "a.jsonl"
    good.write_text('{"a": 1}\n\n{"b": 2}\n', encoding="utf-8")
    assert list(numbered_jsonl(good)) == [(1, {"a": 1}), (3, {"b": 2})]
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"a": 1}\n[1]\n', encoding="utf-8")
    with pytest.raises(DataError, match="expected a JSON object") as info:
        list(numbered_jsonl(bad))
    assert info.value.line == 2
    latin = tmp_path / "c.jsonl"
    latin.write_bytes(b'{"a": "caf\xe9"}\n')
    with pytest.raises(DataError, match="not UTF-8"):
        list(numbered_jsonl(latin))
