"""The report of a real eval (hf model under test, its GGUF as baseline) and `bbjcoder eval`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bbjcoder.evaluate.report import compare_reports
from bbjcoder.records.eval_report import EvalReport


def test_report_has_per_case_records_hashes_and_both_models(eval_run) -> None:
    report = json.loads(eval_run.paths["json"].read_text())
    labels = [m["label"] for m in report["models"]]
    assert labels[0].startswith("hf:") and labels[1].startswith("gguf:")
    assert {m["role"] for m in report["models"]} == {"model", "baseline"}
    assert all(len(m["model_hash"]) == 64 and len(m["backend_hash"]) == 64 for m in report["models"])
    assert len(report["config_hash"]) == 64 and len(report["suite"]["sha256"]) == 64
    assert len(report["cases"]) == 8  # 4 cases x 2 models
    rec = report["cases"][0]
    assert rec["n"] == 2 and 0 <= rec["c"] <= 2 and len(rec["samples"]) == 2
    assert set(rec["compile_at_k"]) == {"1", "2"}
    # compile@1 overall equals the mean of c/n over cases (the estimator with k=1)
    hf = [c for c in report["cases"] if c["model"] == labels[0]]
    overall = report["summary"][labels[0]]["overall:all"]["compile@1"]["value"]
    assert overall == pytest.approx(sum(c["c"] / c["n"] for c in hf) / len(hf))
    for key in ("generation:dwc", "type:explanation", "difficulty:intermediate"):
        assert key in report["summary"][labels[0]]
    assert report["general"][labels[0]]["n"] == 3
    assert any(c["category"] == "overall:all" for c in report["comparisons"])


def test_report_markdown_and_plot_are_written(eval_run) -> None:
    md = eval_run.paths["md"].read_text()
    for heading in (
        "## Summary",
        "## Paired comparisons",
        "## compile@1 per category",
        "## Weak areas",
        "## Provenance",
    ):
        assert heading in md
    assert eval_run.paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_weak_areas_list_failures_with_checker_diagnostics(eval_run) -> None:
    weak = eval_run.report.weak_areas
    assert weak.categories, "every category is ranked"
    assert weak.k == 1 and all(e.k == 1 for e in weak.categories)
    scores = [e.score for e in weak.categories]
    assert scores == sorted(scores)
    for failure in weak.failures:
        assert failure.diagnostics and failure.diagnostics[0].message


def test_rerun_resumes_without_generating_again(
    eval_run, tiny_model: Path, tiny_gguf: Path, tiny_suite: Path
) -> None:
    from bbjcoder.evaluate.generate import SamplingParams
    from bbjcoder.evaluate.runner import EvalSettings, run_eval

    settings = EvalSettings(
        params=SamplingParams(n=2, temperature=0.8, max_new_tokens=24, batch_size=4, seed=7),
        ks=(1, 2),
        forgetting_max=3,
    )
    again = run_eval(
        f"hf:{tiny_model}",
        tiny_suite,
        baselines=[f"gguf:{tiny_gguf}"],
        out_dir=eval_run.out_dir,
        settings=settings,
    )
    assert again.generated == 0
    assert again.report.summary == eval_run.report.summary


def _fake_report(label: str, solved: list[bool]) -> EvalReport:
    cases = [
        {
            "model": label,
            "case_id": f"c{i}",
            "solved": s,
            "generation": ["dwc" if i % 2 else "character"],
            "type": "completion",
            "difficulty": "basic",
        }
        for i, s in enumerate(solved)
    ]
    return EvalReport.from_json({"models": [{"label": label}], "cases": cases})


def test_compare_reports_claims_improvement_only_when_significant() -> None:
    old = _fake_report("run:a", [False] * 12 + [True] * 8)
    new = _fake_report("run:b", [True] * 20)  # 12 discordant pairs, all for B
    rows = dict(compare_reports(old, new))
    assert rows["overall:all"].only_b == 12 and rows["overall:all"].p_value == pytest.approx(2 / 4096)
    assert rows["overall:all"].verdict == "run:b beats run:a"
    assert rows["generation:dwc"].cases == 10
    close = _fake_report("run:c", [False] * 10 + [True] * 10)  # only 2 discordant
    assert dict(compare_reports(old, close))["overall:all"].verdict == "no significant difference"


@pytest.mark.slow
def test_bbjcoder_eval_cli_writes_report_files(tiny_model: Path, tiny_suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    # The shipped forgetting suite, cut to a few problems and tokens: the whole of HumanEval at 512
    # tokens took the tiny model 48 s alone and over 300 s beside a training job.
    config = tmp_path / "eval.toml"
    config.write_text("[eval]\nforgetting_max_problems = 6\nforgetting_max_new_tokens = 64\n")
    cmd = [
        sys.executable, "-m", "bbjcoder.cli", "eval", "--config", str(config), "--model", f"hf:{tiny_model}",
        "--suite", str(tiny_suite), "--out", str(out), "-n", "2", "--k", "1", "--k", "2",
        "--max-new-tokens", "8", "--max-cases", "3",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "compile@2" in done.stderr and "report:" in done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["suite"]["cases"] == 3 and report["ks"] == [1, 2]
    assert (out / "report.md").is_file() and (out / "compile_at_k.png").is_file()
    assert report["general"]  # the shipped forgetting suite ran too, on the problems asked for
    assert len({g["problem_id"] for g in report["general_cases"]}) == 6


def test_bbjcoder_eval_rejects_k_above_n(tiny_suite: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "bbjcoder.cli",
        "eval",
        "--model",
        "hf:/nonexistent",
        "--suite",
        str(tiny_suite),
        "-n",
        "1",
        "--k",
        "5",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--k 5 is larger than" in done.stderr


def test_shipped_suite_runs_on_hf_and_gguf(tiny_model: Path, tiny_gguf: Path, tmp_path: Path) -> None:
    from bbjcoder.evaluate.generate import SamplingParams
    from bbjcoder.evaluate.runner import EvalSettings, run_eval

    suite = Path(__file__).resolve().parents[2] / "evals" / "bbj-core"
    if not (suite / "cases.jsonl").exists():
        pytest.skip("evals/bbj-core/cases.jsonl is not written yet")
    settings = EvalSettings(
        params=SamplingParams(n=1, max_new_tokens=8), ks=(1,), max_cases=6, forgetting_max=2
    )
    result = run_eval(
        f"hf:{tiny_model}", suite, baselines=[f"gguf:{tiny_gguf}"], out_dir=tmp_path, settings=settings
    )
    assert result.report.suite.name == "bbj-core" and len(result.report.cases) == 12
    assert all(p.is_file() for p in result.paths.values())
