"""The copy rule: code that only repeats the prompt's code is no answer (echo baseline, copy rate)."""

from __future__ import annotations

from pathlib import Path

from bbjcoder.evaluate.copying import is_copy, prompt_codes, reused_share
from bbjcoder.evaluate.report import build_report, render_markdown
from bbjcoder.evaluate.scoring import COPY_MESSAGE, default_checker, score_model, score_sample, summarise
from bbjcoder.evaluate.suite import Case, Idioms, load_suite
from bbjcoder.records.eval_report import EvalReport, EvalSettingsInfo, ModelInfo, SuiteInfo

SUITE = Path(__file__).resolve().parents[2] / "evals" / "bbj-core"


def echo_answer(case: Case) -> str:
    """What a model that only copies the prompt answers: its code fenced (a FIM middle: the prefix)."""
    if case.is_fim:
        return case.prefix or ""
    codes = prompt_codes(case)
    return "Here is the program:\n\n```bbj\n" + (codes[0] if codes else case.prompt) + "\n```\n"


def _case(prompt: str, type_: str = "comprehension", **kw: object) -> Case:
    return Case(id="c", prompt=prompt, type=type_, generation=("character",), difficulty="basic", **kw)  # type: ignore[arg-type]


PROGRAM = 'x=1\nfor i=1 to 10\n    print @(5,i),"row ",i\nnext i\nend\n'


def test_echo_baseline_scores_at_most_five_percent_on_bbj_core() -> None:
    suite = load_suite(SUITE)
    records = [{"model": "echo", "case_id": c.id, "sample": 0, "text": echo_answer(c)} for c in suite.cases]
    results = score_model("echo", suite.cases, records, default_checker(), n=1)
    overall = summarise(results, [1])["overall:all"]
    compile_1 = overall.at(1).value
    assert compile_1 is not None and compile_1 <= 0.05
    # the echo fails because it copies, not by accident of the checker
    assert overall.copy_rate is not None and overall.copy_rate >= 0.5


def test_verbatim_echo_counts_as_no_code() -> None:
    case = _case(f"Rewrite this to use WHILE:\n\n```bbj\n{PROGRAM}```")
    res = score_sample(case, 0, f"```bbj\n{PROGRAM}```", lambda code: [])
    assert res.copied and not res.compiles
    assert res.diagnostics[0]["message"] == COPY_MESSAGE


def test_reformatted_or_renumbered_echo_is_still_a_copy() -> None:
    case = _case(f"Modernise:\n\n```bbj\n{PROGRAM}```")
    numbered = "".join(
        f"{(i + 1) * 10:04d} {ln.strip().upper()}\n" for i, ln in enumerate(PROGRAM.splitlines())
    )
    assert is_copy(case, numbered)
    assert is_copy(case, "rem my answer\n" + PROGRAM.replace("    ", "\t"))


def test_a_one_line_fix_of_the_prompt_program_is_an_answer() -> None:
    case = _case(f"Fix the bug:\n\n```bbj\n{PROGRAM}```")
    fixed = PROGRAM.replace("to 10", "to 20")
    res = score_sample(case, 0, f"```bbj\n{fixed}```", lambda code: [])
    assert not res.copied and res.compiles


def test_short_fim_middle_repeating_a_prefix_line_is_an_answer_but_the_prefix_is_not() -> None:
    prefix = "x=1\nwhile x<10\n    x=x+1\nwend\nprint x\n"
    case = _case("Fill the gap.", "completion", prefix=prefix, suffix="end\n")
    assert not is_copy(case, "wend\n")
    assert is_copy(case, prefix)
    assert is_copy(case, "end\n")  # the whole suffix, however short


def test_migration_answer_without_target_idioms_fails_even_when_it_compiles() -> None:
    case = _case(
        "Migrate to structured BBj:\n\n```bbj\n0010 PRINT 1\n0020 GOTO 0010\n```",
        "migration",
        idioms=Idioms(must=("while",), must_not=(r"^\s*\d{4}\s",)),
    )
    old_style = "0010 print 2\n0020 goto 0010\n"
    res = score_sample(case, 0, f"```bbj\n{old_style}```", lambda code: [])
    assert not res.copied and not res.compiles
    assert "target generation's idioms" in res.diagnostics[0]["message"]
    good = score_sample(case, 0, "```bbj\nwhile 1\n    print 2\nwend\n```", lambda code: [])
    assert good.compiles


def test_copy_rate_is_reported_per_model() -> None:
    case = _case(f"Rewrite:\n\n```bbj\n{PROGRAM}```")
    records = [
        {"model": "m", "case_id": "c", "sample": 0, "text": f"```bbj\n{PROGRAM}```"},
        {"model": "m", "case_id": "c", "sample": 1, "text": "```bbj\nprint 1\n```"},
    ]
    summary = summarise(score_model("m", [case], records, lambda code: [], n=2), [1])
    assert summary["overall:all"].copy_rate == 0.5


def test_reused_share_counts_the_answer_lines_found_in_the_prompt_code() -> None:
    case = _case(f"Migrate to a SYSGUI window:\n\n```bbj\n{PROGRAM}```", "migration")
    # 2 of 4 statement lines kept from the source (renumbered and re-cased), REM lines not counted
    answer = 'rem migrated\n0010 X=1\nsysgui=unt\nopen (sysgui)"X0"\nEND\n'
    assert reused_share(case, answer) == 0.5
    assert reused_share(case, PROGRAM) == 1.0
    assert reused_share(case, "rem only a comment\n") is None  # nothing to compare
    assert reused_share(_case("Write a loop that prints 1 to 10."), PROGRAM) is None  # no code shown
    # a FIM middle repeats lines of its prefix by design: not counted
    fim = _case("Fill the gap.", "completion", prefix=PROGRAM, suffix="end\n")
    assert reused_share(fim, PROGRAM) is None and is_copy(fim, PROGRAM)
    res = score_sample(case, 0, f"```bbj\n{answer}```", lambda code: [])
    assert res.reused == 0.5 and not res.copied


def test_reuse_is_summarised_per_category_and_rendered_per_type() -> None:
    migration = _case(f"Migrate:\n\n```bbj\n{PROGRAM}```", "migration")
    fresh = _case("Write a program that prints 1 to 10.", "completion")
    kept = PROGRAM.replace("to 10", "to 20")  # 4 of 5 lines kept: mostly reused, not a copy
    records = [
        {"model": "m", "case_id": "c", "sample": 0, "text": f"```bbj\n{kept}```"},
        {"model": "m", "case_id": "c", "sample": 1, "text": "```bbj\nsysgui=unt\nx=1\n```"},
    ]
    results = score_model("m", [migration], records, lambda code: [], n=2)
    summary = summarise(results, [1])
    assert summary["type:migration"].reuse == (0.8 + 0.5) / 2
    assert summary["type:migration"].mostly_reused == 0.5
    plain = summarise(score_model("m", [fresh], [records[0]], lambda c: [], n=1), [1])
    assert plain["overall:all"].reuse is None and plain["overall:all"].mostly_reused is None
    report = build_report(
        suite=SuiteInfo(name="s", cases=1),
        models=[ModelInfo(label="m", role="model", spec="m")],
        results={"m": results},
        general=None,
        ks=[1],
        config=EvalSettingsInfo(),
        config_hash="h",
    )
    md = render_markdown(report)
    assert "## How much of an answer is the prompt's code" in md
    assert "| migration | 65% (50%) |" in md
    # the values survive a save and load of report.json
    again = EvalReport.from_json(report.to_json())
    assert again.result("m", "type:migration").reuse == (0.8 + 0.5) / 2
    assert again.cases[0].samples[0].reused == 0.8
    # a second model without the share shows a dash in its column
    both = build_report(
        suite=SuiteInfo(name="s", cases=1),
        models=[
            ModelInfo(label="m", role="model", spec="m"),
            ModelInfo(label="b", role="baseline", spec="b"),
        ],
        results={"m": results, "b": score_model("b", [migration], [], lambda c: [], n=1)},
        general=None,
        ks=[1],
        config=EvalSettingsInfo(),
        config_hash="h",
    )
    assert "| migration | 65% (50%) | – |" in render_markdown(both)
    # a report of answers with nothing to reuse has no such section, and its JSON no such keys
    bare = build_report(
        suite=SuiteInfo(name="s", cases=1),
        models=[ModelInfo(label="m", role="model", spec="m")],
        results={"m": score_model("m", [fresh], [{**records[0]}], lambda c: [], n=1)},
        general=None,
        ks=[1],
        config=EvalSettingsInfo(),
        config_hash="h",
    )
    assert "How much of an answer" not in render_markdown(bare)
    dumped = bare.to_json()
    assert "reuse" not in dumped["summary"]["m"]["overall:all"]
    assert "mostly_reused" not in dumped["summary"]["m"]["overall:all"]
    assert "reused" not in dumped["cases"][0]["samples"][0]


def test_max_cases_subset_is_stratified_by_generation_and_type_and_seeded() -> None:
    suite = load_suite(SUITE)
    strata = {("+".join(c.generation), c.type) for c in suite.cases}
    sub = suite.subset(22, seed=1)
    assert len(sub.cases) == 22
    assert len({c.generation for c in sub.cases}) >= 5  # not all from one generation
    assert {c.type for c in sub.cases} == {c.type for c in suite.cases}
    per_stratum: dict[tuple[str, str], int] = {}
    for c in sub.cases:
        key = ("+".join(c.generation), c.type)
        per_stratum[key] = per_stratum.get(key, 0) + 1
    assert max(per_stratum.values()) - min(per_stratum.values()) <= 1
    assert len(per_stratum) == min(22, len(strata))
    assert [c.id for c in suite.subset(22, seed=1).cases] == [c.id for c in sub.cases]
    assert [c.id for c in suite.subset(22, seed=2).cases] != [c.id for c in sub.cases]
    order = [c.id for c in suite.cases]
    assert [c.id for c in sub.cases] == sorted((c.id for c in sub.cases), key=order.index)
