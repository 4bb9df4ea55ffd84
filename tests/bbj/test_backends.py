"""Checker backends: builtin, bbjcpl (against a fake executable replaying real-format stderr), auto.

bbjcpl itself is proprietary and cannot run here; the fake prints what bbjcpl prints for a file and,
like bbjcpl, exits 0 even when it reports errors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bbjcoder.bbj import Checker, CheckerUnavailable, Diagnostic, get_checker, parse_bbjcpl_output
from bbjcoder.bbj.backends import BbjcplChecker, BuiltinChecker

# Recorded format: `<path>: error at line <legacy> (<physical>): <source line>`.
RECORDED_STDERR = """\
/tmp/x/program.bbj: error at line 30 (3):     method public void brokenMethod())
/tmp/x/program.bbj: error at line 70 (7): methodend
some other line bbjcpl may print
"""


def test_parse_bbjcpl_output_reads_physical_lines_and_ignores_other_lines() -> None:
    diags = parse_bbjcpl_output(RECORDED_STDERR)
    assert [(d.line, d.column) for d in diags] == [(3, 5), (7, 1)]
    assert "method public void brokenMethod())" in diags[0].message


def test_parse_bbjcpl_output_puts_a_line_0_error_on_line_1() -> None:
    assert [d.line for d in parse_bbjcpl_output("/p/f.bbj: error at line 10 (0):     bad code\n")] == [1]


def test_parse_bbjcpl_output_of_a_clean_file_is_empty() -> None:
    assert parse_bbjcpl_output("") == []


def test_bbjcpl_backend_runs_the_compiler_with_dash_n_and_parses_stderr(
    tmp_path: Path, fake_bbjcpl: Callable[..., Path]
) -> None:
    fake = fake_bbjcpl(tmp_path)
    checker = BbjcplChecker(str(fake))
    src = 'PRINT "ok"\nx = BROKEN(\nPRINT "fine"\nBROKEN again\n'
    diags = checker.check(src)
    assert [d.line for d in diags] == [2, 4]
    argv = (tmp_path / "argv.txt").read_text().split("\n")
    assert argv[0] == "-N" and argv[-1].endswith(".bbj")
    assert checker.check('PRINT "clean"\n') == []


def test_bbjcpl_backend_reads_errors_printed_on_stdout(
    tmp_path: Path, fake_bbjcpl: Callable[..., Path]
) -> None:
    checker = BbjcplChecker(str(fake_bbjcpl(tmp_path, stream="stdout")))
    assert [d.line for d in checker.check('PRINT "ok"\nBROKEN\n')] == [2]


def test_bbjcpl_backend_times_out_with_a_clear_error(
    tmp_path: Path, fake_bbjcpl: Callable[..., Path]
) -> None:
    fake = fake_bbjcpl(tmp_path, sleep=5)
    with pytest.raises(CheckerUnavailable, match="longer than"):
        BbjcplChecker(str(fake), timeout=0.5).check("x = 1\n")


def test_bbjcpl_backend_without_compiler_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BBJCODER_BBJCPL", raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(CheckerUnavailable) as info:
        get_checker("bbjcpl")
    assert "BBJCODER_BBJCPL" in (info.value.hint or "")


def test_auto_picks_builtin_when_bbjcpl_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BBJCODER_BBJCPL", raising=False)
    monkeypatch.setenv("PATH", "")
    assert get_checker("auto").name == "builtin"


def test_auto_picks_bbjcpl_from_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_bbjcpl: Callable[..., Path]
) -> None:
    monkeypatch.setenv("BBJCODER_BBJCPL", str(fake_bbjcpl(tmp_path)))
    checker = get_checker("auto")
    assert checker.name == "bbjcpl"
    assert [d.line for d in checker.check("BROKEN\n")] == [1]


def test_auto_picks_bbjcpl_from_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_bbjcpl: Callable[..., Path]
) -> None:
    fake_bbjcpl(tmp_path)
    monkeypatch.delenv("BBJCODER_BBJCPL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    assert get_checker("auto").name == "bbjcpl"


def test_builtin_backend_matches_check_source() -> None:
    checker = get_checker("builtin")
    assert isinstance(checker, BuiltinChecker) and isinstance(checker, Checker)
    assert checker.check("end if\n") == [Diagnostic(1, 1, "`end if` is not BBj: use FI or ENDIF")]


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown checker backend"):
        get_checker("javac")
