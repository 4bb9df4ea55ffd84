"""Usage mistakes end in one `error:` line (plus a `--help` hint) and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def bbjcoder(*args: str, cwd: Path | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bbjcoder", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["check"], "error: Missing argument 'paths'."),
        (["train"], "error: Missing option '--config' / '-c'."),
        (["frobnicate"], "error: No such command 'frobnicate'."),
        (["check", "--bogus", "x.bbj"], "error: No such option: --bogus"),
        (["review", "--eval", "x", "--port", "99999"], "error: Invalid value for '--port'"),
        (["mcp", "--max-repairs", "-1"], "error: Invalid value for '--max-repairs'"),
        (["eval", "-n", "zero"], "error: Invalid value for '-n'"),
    ],
)
def test_usage_error_prints_one_error_line_and_exits_2(args: list[str], first_line: str) -> None:
    out = bbjcoder(*args)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.splitlines()
    assert lines[0].startswith(first_line)
    assert "Traceback" not in out.stderr
    assert len(lines) <= 2
    assert lines[-1].startswith("  hint: see `bbjcoder")


def test_no_arguments_prints_the_help_and_exits_0() -> None:
    out = bbjcoder()
    assert out.returncode == 0
    assert "Usage: bbjcoder" in out.stdout


def test_data_new_without_title_is_a_usage_error_when_it_cannot_ask() -> None:
    out = bbjcoder("data", "new", "--type", "completion", "--topic", "x")
    assert out.returncode == 2
    assert out.stderr.startswith("error: missing --title")


def test_check_on_a_directory_without_sources_exits_2(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# not BBj\n")
    out = bbjcoder("check", str(tmp_path))
    assert out.returncode == 2
    assert "no BBj sources" in out.stderr


def test_help_documents_the_exit_codes() -> None:
    for args in (["check", "--help"], ["data", "import", "--help"], ["data", "build", "--help"]):
        out = bbjcoder(*args)
        assert "Exit 0" in " ".join(out.stdout.split()), args
