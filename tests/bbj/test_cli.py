"""`bbjcoder check`: files, directories and stdin, exit codes 0/1/2, JSON and human output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

GOOD = 'PRINT "hello"\nx = 1\n'
BAD = 'PRINT "a" "b"\nx = 1\nend if\n'


def run_check(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # no real or configured bbjcpl leaks in; wide COLUMNS so Rich does not wrap messages
    full_env = {k: v for k, v in os.environ.items() if k != "BBJCODER_BBJCPL"}
    full_env.update({"COLUMNS": "250", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "bbjcoder.cli", "check", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.bbj").write_text(GOOD)
    (tmp_path / "sub" / "bad.src").write_text(BAD)
    (tmp_path / "sub" / "ignored.py").write_text("this is { not BBj\n")
    return tmp_path


def test_clean_file_exits_0(tree: Path) -> None:
    done = run_check(str(tree / "good.bbj"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "no syntax errors" in done.stderr


def test_directory_with_errors_exits_1_and_prints_path_line_col(tree: Path) -> None:
    done = run_check(str(tree))
    assert done.returncode == 1
    bad = tree / "sub" / "bad.src"
    assert done.stdout.splitlines() == [
        f"{bad}:1:11: expected ',' between items, found '\"b\"'",
        f"{bad}:3:1: `end if` is not BBj: use FI or ENDIF",
    ]
    assert "2 syntax errors in 1 of 2 files" in done.stderr


def test_json_output_lists_every_file(tree: Path) -> None:
    done = run_check("--json", str(tree))
    assert done.returncode == 1
    results = json.loads(done.stdout)
    assert [(Path(r["path"]).name, r["ok"]) for r in results] == [("good.bbj", True), ("bad.src", False)]
    assert results[1]["diagnostics"][1] == {
        "line": 3,
        "column": 1,
        "message": "`end if` is not BBj: use FI or ENDIF",
    }


def test_ext_option_chooses_directory_extensions(tree: Path) -> None:
    done = run_check("--json", "--ext", ".bbj", str(tree))
    assert [Path(r["path"]).name for r in json.loads(done.stdout)] == ["good.bbj"]
    assert done.returncode == 0


def test_stdin_is_read_with_dash() -> None:
    done = run_check("--json", "-", stdin=BAD)
    assert done.returncode == 1
    (result,) = json.loads(done.stdout)
    assert result["path"] == "<stdin>" and [d["line"] for d in result["diagnostics"]] == [1, 3]
    assert run_check("-", stdin=GOOD).returncode == 0


def test_strict_flag_checks_loop_nesting() -> None:
    assert run_check("-", stdin="FOR i = 1 TO 3\n").returncode == 0
    assert run_check("--strict", "-", stdin="FOR i = 1 TO 3\n").returncode == 1


def test_missing_path_exits_2(tmp_path: Path) -> None:
    done = run_check(str(tmp_path / "nope.bbj"))
    assert done.returncode == 2
    assert "no such file or directory" in done.stderr


def test_unknown_backend_exits_2(tree: Path) -> None:
    done = run_check("--backend", "javac", str(tree))
    assert done.returncode == 2
    assert "unknown --backend" in done.stderr


def test_bbjcpl_backend_without_compiler_exits_2(tree: Path) -> None:
    done = run_check("--backend", "bbjcpl", str(tree), env={"PATH": os.path.dirname(sys.executable)})
    assert done.returncode == 2
    assert "bbjcpl not found" in done.stderr


def test_bbjcpl_backend_through_the_cli(tree: Path, tmp_path: Path, fake_bbjcpl: Callable[..., Path]) -> None:
    fake_dir = tmp_path / "bin"
    fake_dir.mkdir()
    fake = fake_bbjcpl(fake_dir)
    (tree / "b.bbj").write_text("x = 1\nBROKEN\n")
    done = run_check("--json", "--backend", "bbjcpl", str(tree / "b.bbj"), env={"BBJCODER_BBJCPL": str(fake)})
    assert done.returncode == 1
    assert [d["line"] for d in json.loads(done.stdout)[0]["diagnostics"]] == [2]


def test_check_starts_without_heavy_imports() -> None:
    code = (
        "import sys; from bbjcoder.cli import app; import bbjcoder.bbj, bbjcoder.bbj.runner;"
        "heavy = [m for m in ('torch', 'transformers', 'llama_cpp', 'numpy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""


def test_directory_walk_finds_every_program_extension_but_not_prose(tmp_path: Path) -> None:
    for ext in (".bbj", ".src", ".bbl", ".bbx", ".bbjt", ".aon", ".prc"):
        (tmp_path / f"prog{ext}").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("Some prose, not { BBj\n")
    (tmp_path / "form.arc").write_text("WINDOW 101\n")
    done = run_check("--json", str(tmp_path))
    assert done.returncode == 0, done.stdout
    found = sorted(Path(r["path"]).suffix for r in json.loads(done.stdout))
    assert found == sorted([".bbj", ".src", ".bbl", ".bbx", ".bbjt", ".aon", ".prc"])


def test_api_option_prints_warnings_without_failing(tmp_path: Path) -> None:
    source = tmp_path / "a.bbj"
    source.write_text("x = frobnicate(1)\nw!.adButton(101)\n")
    done = run_check("--api", str(source))
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines() == [
        f"{source}:1:5: warning: api: frobnicate() is not a BBj built-in function",
        f"{source}:2:4: warning: api: method adButton() exists on no BBj class (did you mean addButton?)",
    ]
    as_json = json.loads(run_check("--api", "--json", str(source)).stdout)
    assert as_json[0]["ok"] is True and len(as_json[0]["warnings"]) == 2
    assert "warnings" not in json.loads(run_check("--json", str(source)).stdout)[0]


def test_a_language_server_library_file_is_reported_as_skipped_not_as_an_error(tmp_path: Path) -> None:
    (tmp_path / "prog.bbj").write_text(GOOD)
    (tmp_path / "functions.bbl").write_text("library\n\n/@@\nabsolute value\n@/\nABS(num:num): num\n")
    done = run_check(str(tmp_path))
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith(f"{tmp_path / 'functions.bbl'}: skipped: not a BBj program")
    assert "1 skipped, not BBj programs" in done.stderr
    by_name = {Path(r["path"]).name: r for r in json.loads(run_check("--json", str(tmp_path)).stdout)}
    assert by_name["functions.bbl"]["skipped"].startswith("not a BBj program")
    assert "skipped" not in by_name["prog.bbj"]
