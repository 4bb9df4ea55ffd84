"""The plan's 5% rule: the general-code gate in the report, `runs compare` and `eval --gate`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bbjcoder.evaluate.forgetting import load_problems, solution_code
from bbjcoder.evaluate.gate import ADVICE, gate_from_reports, general_gate
from bbjcoder.evaluate.metrics import paired_bootstrap_diff
from bbjcoder.records.eval_report import EvalReport
from bbjcoder.render import render

ROOT = Path(__file__).resolve().parents[2]


def _scores(solved: int, total: int = 40) -> dict[str, float]:
    return {f"p{i:02d}": 1.0 if i < solved else 0.0 for i in range(total)}


def test_drop_of_more_than_five_points_fails_with_the_plans_advice() -> None:
    gate = general_gate("base", _scores(30), "tuned", _scores(26), max_drop=5.0)
    assert gate is not None
    assert gate.reference_pass == pytest.approx(75.0) and gate.model_pass == pytest.approx(65.0)
    assert gate.change == pytest.approx(-10.0)
    assert not gate.passed and gate.advice == ADVICE and "general_mix" in gate.advice
    assert gate.low <= gate.change <= gate.high < 0  # every lost problem is one the base solved
    assert (gate.only_reference, gate.only_model) == (4, 0)
    assert gate.p_value == pytest.approx(0.125)  # McNemar exact: 2 * 0.5**4
    assert "FAILED" in gate.verdict and "10.0 points" in gate.verdict


def test_small_drop_and_gains_pass_and_the_limit_is_configurable() -> None:
    small = general_gate("base", _scores(30), "tuned", _scores(29))
    assert small is not None and small.passed and small.change == pytest.approx(-2.5) and small.advice == ""
    gain = general_gate("base", _scores(20), "tuned", _scores(30))
    assert gain is not None and gain.passed and gain.change == pytest.approx(25.0)
    strict = general_gate("base", _scores(30), "tuned", _scores(29), max_drop=2.0)
    assert strict is not None and not strict.passed


def test_gate_compares_only_problems_both_models_were_scored_on() -> None:
    ref = {"a": 1.0, "b": 1.0, "c": 0.0}
    model = {"b": 0.0, "c": 0.0, "d": 1.0}
    gate = general_gate("base", ref, "tuned", model)
    assert gate is not None and gate.problems == 2 and gate.change == pytest.approx(-50.0)
    assert general_gate("base", {"a": 1.0}, "tuned", {"z": 1.0}) is None


def test_paired_bootstrap_interval_is_narrower_than_the_unpaired_spread() -> None:
    a = [1.0] * 20 + [0.0] * 20
    b = [1.0] * 18 + [0.0] * 22  # the same problems, two lost
    diff = paired_bootstrap_diff(a, b, seed=3)
    assert diff.value == pytest.approx(-0.05)
    assert -0.15 < diff.low <= diff.value <= diff.high <= 0.0
    with pytest.raises(ValueError):
        paired_bootstrap_diff([1.0], [1.0, 0.0])


def test_report_section_shows_verdict_interval_test_and_advice() -> None:
    gate = general_gate("base:r1", _scores(30), "run:r1", _scores(20))
    assert gate is not None
    report = {
        "general": {"run:r1": {"value": 0.5}},
        "general_gate": gate.record().model_dump(),
        "config": {"forgetting_suite": "humaneval", "forgetting_prompts": {"run:r1": "chat"}},
    }
    text = render("eval/_gate.md.j2", r=EvalReport.from_json(report))
    assert "Gate FAILED" in text and "-25.0" in text and "McNemar p" in text and ADVICE in text
    assert "`humaneval`" in text
    report["general_gate"] = None
    assert "needs a baseline" in render("eval/_gate.md.j2", r=EvalReport.from_json(report))


def test_reports_from_different_forgetting_suites_are_not_gated() -> None:
    def rep(suite: str) -> EvalReport:
        return EvalReport.from_json(
            {
                "config": {"forgetting_suite": suite},
                "models": [{"label": "m"}],
                "general_cases": [{"model": "m", "problem_id": "p", "outcomes": [{"status": "passed"}]}],
            }
        )

    assert gate_from_reports(rep("humaneval"), rep("/x/evals/general-code")) is None
    same = gate_from_reports(rep("humaneval"), rep("humaneval"))
    assert same is not None and same.passed and same.model == "m (B)"


# --- `bbjcoder eval --gate` end to end, from recorded samples -------------------------------------


def _recorded_eval(out: Path, *, tuned_correct: bool) -> list[str]:
    """An eval directory holding every sample already (so no model is loaded): the baseline answered
    all 45 general-code problems correctly, the model under test the first 9 only if `tuned_correct`
    (a drop of 20 points otherwise). Scoring, the sandbox, the report and the gate then run for real."""
    from bbjcoder.evaluate.suite import load_suite

    problems = load_problems(ROOT / "evals" / "general-code")
    case_id = load_suite(ROOT / "evals" / "bbj-core").subset(1).cases[0].id
    ref, tuned = "hf:/models/base-7b", "hf:/models/tuned-7b"
    samples, general = [], []
    for label in (tuned, ref):
        samples.append(
            {"model": label, "case_id": case_id, "sample": 0, "text": "print 1\n", "code": "print 1\n"}
        )
        for p in problems:
            wrong = label == tuned and not tuned_correct and problems.index(p) < 9
            text = "```python\nx = 1\n```" if wrong else f"```python\n{p.reference}```"
            general.append(
                {"model": label, "case_id": p.id, "sample": 0, "text": text, "code": solution_code(p, text)}
            )
    out.mkdir(parents=True)
    (out / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in samples))
    (out / "general-samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in general))
    settings = {"temperature": 0.0, "top_p": 0.95, "max_new_tokens": 8, "stop": [], "seed": 42}
    (out / "sampling.json").write_text(json.dumps(settings))
    return [
        "eval", "--model", tuned, "--baseline", ref, "--out", str(out), "-n", "1", "--k", "1",
        "--temperature", "0", "--max-new-tokens", "8", "--max-cases", "1",
        "--forgetting-suite", str(ROOT / "evals" / "general-code"), "--forgetting-prompt", "chat",
    ]  # fmt: skip


def _bbjcoder(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bbjcoder", *args], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_eval_gate_exits_1_when_general_code_dropped(tmp_path: Path) -> None:
    args = _recorded_eval(tmp_path / "ev", tuned_correct=False)
    done = _bbjcoder([*args, "--gate"])
    assert done.returncode == 1, done.stderr
    assert "gate failed" in done.stderr and "dropped 20.0 points" in done.stderr
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["general_gate"]["passed"] is False and report["general_gate"]["problems"] == 45
    assert report["general_gate"]["only_reference"] == 9 and report["general_gate"]["p_value"] < 0.01
    md = (tmp_path / "ev" / "report.md").read_text()
    assert "Gate FAILED" in md and "general_mix" in md
    # Without --gate the same eval reports the failure but exits 0 (the report is the product).
    assert _bbjcoder(args).returncode == 0


def test_eval_gate_exits_0_when_general_code_held(tmp_path: Path) -> None:
    done = _bbjcoder([*_recorded_eval(tmp_path / "ev", tuned_correct=True), "--gate"])
    assert done.returncode == 0, done.stderr
    assert "gate" in done.stderr and "passed" in done.stderr


def test_eval_gate_without_a_baseline_is_a_usage_error(tmp_path: Path) -> None:
    args = _recorded_eval(tmp_path / "ev", tuned_correct=True)
    i = args.index("--baseline")
    done = _bbjcoder([*args[:i], *args[i + 2 :], "--gate"])
    assert done.returncode == 2 and "--baseline base" in done.stderr


def test_runs_compare_shows_the_gate_and_exits_1_with_gate_when_b_dropped(tmp_path: Path) -> None:
    from bbjcoder.runs import create_run

    runs = tmp_path / "runs"
    a = create_run(runs, "g", {"eval": {"forgetting_max_drop": 5.0}})
    b = create_run(runs, "g", {"eval": {"forgetting_max_drop": 5.0}})
    for run, correct in ((a, True), (b, False)):
        assert (
            _bbjcoder(_recorded_eval(run.path / "eval" / "bbj-core", tuned_correct=correct)).returncode == 0
        )
    done = _bbjcoder(["runs", "compare", a.id, b.id, "--runs-dir", str(runs), "--gate"])
    assert done.returncode == 1, done.stderr
    assert "FAILED" in done.stdout and "-20.0" in done.stdout and "McNemar" in done.stdout
    assert "general_mix" in done.stdout
    # B against A the other way round is a gain: the gate passes; a loose limit passes too.
    assert _bbjcoder(["runs", "compare", b.id, a.id, "--runs-dir", str(runs), "--gate"]).returncode == 0
    loose = ["runs", "compare", a.id, b.id, "--runs-dir", str(runs), "--gate", "--max-general-drop", "100"]
    assert _bbjcoder(loose).returncode == 0


def test_general_pass_at_k_is_unbiased_when_problems_have_several_samples() -> None:
    from bbjcoder.evaluate.scoring import GeneralResult

    outcomes = tuple({"sample": i, "status": "passed" if i < 2 else "failed"} for i in range(5))
    g = GeneralResult("m", "p", outcomes)
    assert g.pass_rate == pytest.approx(0.4) and g.pass_at(1) == pytest.approx(0.4)
    assert g.pass_at(2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert g.pass_at(6) is None


def test_real_eval_of_base_models_uses_completion_prompts_and_reports_the_gate(eval_run) -> None:  # type: ignore[no-untyped-def]
    """The shared real eval (tiny hf model against its GGUF export, first 3 HumanEval problems)."""
    from bbjcoder.evaluate.prompts import COMPLETION_STOPS
    from bbjcoder.evaluate.samples import SampleStore

    report = eval_run.report
    hf, gguf = report.labels
    assert report.config.forgetting_suite == "humaneval"
    assert report.config.forgetting_prompts == {hf: "completion", gguf: "completion"}
    assert report.config.forgetting_temperature == 0.0  # one sample per problem: greedy
    gate = report.general_gate
    assert gate is not None
    assert gate.reference == gguf and gate.model == hf and gate.problems == 3
    assert gate.passed == (gate.change >= -gate.max_drop)
    texts = [r["text"] for r in SampleStore(eval_run.out_dir / "general-samples.jsonl").records()]
    assert len(texts) == 6 and not any(stop in t for t in texts for stop in COMPLETION_STOPS)
    assert "## General code (forgetting check)" in eval_run.paths["md"].read_text()


def test_html_report_shows_a_failed_gate_with_its_advice_and_no_gate_without_a_baseline() -> None:
    def _gate_html(report: EvalReport) -> str:
        return render("demo/_gate.html.j2", r=report)

    gate = general_gate("base:r", _scores(30), "run:r", _scores(20))
    assert gate is not None
    report = EvalReport.from_json(
        {
            "general": {"run:r": {}},
            "general_gate": gate.record().model_dump(),
            "config": {"forgetting_suite": "humaneval"},
        }
    )
    html = _gate_html(report)
    assert "data-gate='failed'" in html and "FAILED" in html and "general_mix" in html
    assert f"data-change='{gate.change!r}'" in html and "McNemar" in html
    assert "data-gate='none'" in _gate_html(report.model_copy(update={"general_gate": None}))
    assert _gate_html(EvalReport()).strip() == ""  # no forgetting check, no section
