"""`bbjcoder data lint`: each rule fires on its fixture, stays quiet on correct BBj, and finds
nothing in the data we ship."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbjcoder.data.lint import MNEMONICS, RULES, Program, lint_paths, lint_program
from bbjcoder.data.validate import validate_paths

FIXTURES = Path(__file__).parent / "fixtures" / "lint"
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("fixture", "rule", "line", "teaches"),
    [
        ("not-numeric.bbj", "not-numeric", 3, "`done = 0`"),
        ("kno-option.bbj", "kno-option", 4, "KNUM="),
        ("ucs-lcs.bbj", "ucs-lcs", 3, "CVS(s$, 4)"),
        ("assignment-err.bbj", "assignment-err", 4, "num(s$, err=label)"),
        ("sysgui-not-opened.bbj", "sysgui-not-opened", 2, 'openSysGui("X0")'),
        ("mnemonic.bbj", "mnemonic", 2, "'EE' (end echo)"),
        ("api-method.bbj", "api-method", 4, "getMenuItem().getID()"),
        ("api-function.bbj", "api-function", 2, "strlen()"),
        ("api-arity.bbj", "api-arity", 4, "setTitle() is called with 0 arguments"),
        ("api-arity.bbj", "api-arity", 5, "JUL() takes 3 arguments, found 2"),
    ],
)
def test_each_rule_reports_file_line_and_the_fix(fixture: str, rule: str, line: int, teaches: str) -> None:
    findings = lint_paths([FIXTURES / fixture])
    hits = [f for f in findings if f.rule == rule and f.line == line]
    assert hits, findings
    assert teaches in hits[0].message
    assert hits[0].path.endswith(fixture)


def test_generation_label_without_its_idioms_is_reported_at_the_label() -> None:
    (finding,) = lint_paths([FIXTURES / "training"])
    assert finding.rule == "generation-idioms"
    assert finding.path.endswith("portable-labelled-character.md") and finding.line == 4
    assert "label it `all`" in finding.message


def test_eval_reference_findings_name_the_case_and_its_line() -> None:
    (finding,) = lint_paths([FIXTURES / "cases.jsonl"])
    assert finding.rule == "sysgui-not-opened" and finding.line == 1
    assert "(case gui-no-open, reference line 2)" in finding.message


def test_correct_bbj_and_library_classes_pass() -> None:
    # an opened X0 then getSysGui(), NOT() on a string, CVS modes, Java objects, library code
    assert lint_paths([FIXTURES / "clean.bbj", FIXTURES / "library.bbj"]) == []


def test_bbjvector_calls_are_checked_against_the_api_table() -> None:
    # BBjVector's methods live in the API table (from BASIS's BBjVector page), so a call with an
    # argument count its documented overloads do not take is found like any other.
    code = 'v! = BBjAPI().makeVector()\nv!.addItem("a")\nv!.insertItem(1)\nn = v!.size()\n'
    findings = lint_program(Program("vector.bbj", 1, code, ("all",)))
    assert [(f.line, f.rule) for f in findings] == [(3, "api-arity")]
    assert (
        "insertItem() is called with 1 argument, but its overloads take 2 (BBjVector)" in findings[0].message
    )


def test_every_rule_has_a_fixture() -> None:
    every = [*sorted(FIXTURES.glob("*.bbj")), FIXTURES / "cases.jsonl", FIXTURES / "training"]
    fired = {f.rule for f in lint_paths(every)}
    assert fired == set(RULES)


def test_not_is_fine_on_strings_and_wrong_on_conditions() -> None:
    def rules(code: str) -> list[str]:
        return [f.rule for f in lint_program(Program("x.bbj", 1, code))]

    assert rules("a$ = not(b$)\nc$ = not($FF00$)\n") == []
    assert rules("if not(a = b) then print 1\n") == ["not-numeric"]


def test_sysgui_opened_after_use_is_still_reported() -> None:
    code = 'sysgui! = BBjAPI().getSysGui()\nx! = BBjAPI().openSysGui("X0")\n'
    assert [f.rule for f in lint_program(Program("x.bbj", 1, code))] == ["sysgui-not-opened"]


def test_every_documented_mnemonic_names_its_source() -> None:
    assert {"CS", "EE", "BE", "WINDOW", "TITLE"} <= set(MNEMONICS)
    assert "IE" not in MNEMONICS
    assert all(source.strip() for source in MNEMONICS.values())


def test_shipped_training_data_evals_and_corpus_have_no_findings() -> None:
    findings = lint_paths([REPO / "training-data", REPO / "evals" / "bbj-core", REPO / "corpus"])
    assert [str(f) for f in findings] == []


def test_validate_reports_lint_findings(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    source = (FIXTURES / "training" / "character-ui" / "portable-labelled-character.md").read_text()
    bad = source.replace("print a + b", 'print a + b\nprint ucs("x")')
    (tmp_path / "files" / "bad.md").write_text(bad, encoding="utf-8")
    result = validate_paths([tmp_path])
    messages = [str(p) for p in result.problems]
    assert any(":16: error: lint ucs-lcs: UCS() does not exist" in m for m in messages), messages
    # a label without its idioms warns in validate, as every label check there does (FORMAT.md)
    assert any(":4: warning: lint generation-idioms" in m for m in messages), messages


def test_cli_lint_exit_codes_and_json(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("data", "lint", str(FIXTURES / "clean.bbj"))[0] == 0
    code, _, err = run_cli("data", "lint", str(FIXTURES / "kno-option.bbj"))
    assert code == 1 and "kno-option.bbj:4: kno-option: KNO= is ProvideX" in err
    code, out, _ = run_cli("data", "lint", "--json", str(FIXTURES / "ucs-lcs.bbj"))
    assert code == 1 and json.loads(out)[0]["rule"] == "ucs-lcs"
    assert run_cli("data", "lint", str(tmp_path / "missing"))[0] == 2
