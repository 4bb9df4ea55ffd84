"""The EvalReport record: the one reader of report.json, old files included, and its table methods."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbjcoder.records.base import RecordError
from bbjcoder.records.eval_report import EvalReport


def _legacy_report() -> dict:
    """A report.json as bbjcoder wrote it before the records (no schema keys), two models, k = 1."""

    def est(value: float | None, n: int) -> dict:
        if not n:
            return {"value": None, "low": None, "high": None, "n": 0}
        return {"value": value, "low": value / 2, "high": min(1.0, value * 1.5), "n": n}

    def cat(axis: str, value: str, score: float, cases: int) -> dict:
        return {
            "axis": axis,
            "value": value,
            "cases": cases,
            "failed_cases": 1,
            "compile@1": est(score, cases),
            "idioms": est(0.0, 0),
            "copy_rate": 0.25,
        }

    return {
        "suite": {"name": "mini", "path": "/x/mini", "cases": 4, "sha256": "a" * 64},
        "models": [
            {
                "label": "run:r",
                "role": "model",
                "spec": "run:r",
                "description": {"backend": "hf"},
                "model_hash": "b" * 64,
                "backend_hash": "c" * 64,
            },
            {
                "label": "base:r",
                "role": "baseline",
                "spec": "base:r",
                "description": {"backend": "hf"},
                "model_hash": "d" * 64,
                "backend_hash": "e" * 64,
            },
        ],
        "config": {
            "n": 2,
            "temperature": 0.8,
            "top_p": 0.95,
            "max_new_tokens": 24,
            "stop": [],
            "seed": 7,
            "batch_size": 4,
            "ks": [1],
            "max_cases": None,
            "forgetting_suite": None,
            "forgetting_samples": 1,
            "forgetting_max": None,
        },
        "config_hash": "f" * 64,
        "ks": [1],
        "summary": {
            "run:r": {
                "overall:all": cat("overall", "all", 0.5, 4),
                "type:completion": cat("type", "completion", 0.25, 2),
            },
            "base:r": {"overall:all": cat("overall", "all", 0.125, 4)},
        },
        "general": {},
        "general_gate": None,
        "general_at_k": {},
        "comparisons": [
            {
                "category": "overall:all",
                "a": "base:r",
                "b": "run:r",
                "cases": 4,
                "both": 1,
                "only_a": 0,
                "only_b": 2,
                "neither": 1,
                "p_value": 0.5,
                "verdict": "no significant difference",
            }
        ],
        "weak_areas": {
            "k": 1,
            "categories": [{"category": "type:completion", "cases": 2, "failed_cases": 1, "compile@1": 0.25}],
            "failures": [],
        },
        "cases": [],
        "general_cases": [],
    }


def test_a_legacy_report_loads_and_saves_back_to_the_same_json(tmp_path: Path) -> None:
    legacy = _legacy_report()
    path = tmp_path / "report.json"
    path.write_text(json.dumps(legacy))
    report = EvalReport.load(path)
    assert report.result("run:r", "type:completion").at(1).value == 0.25
    assert report.weak_areas.categories[0].score == 0.25
    report.save(tmp_path / "again.json")
    written = json.loads((tmp_path / "again.json").read_text())
    assert written.pop("schema") == "eval-report" and written.pop("schema_version") == 1
    assert written.pop("review") is None
    # keys the record adds to an old file's config are the new settings, with their defaults
    added = {k: v for k, v in written["config"].items() if k not in legacy["config"]}
    assert set(added) <= {
        "cases_seed",
        "forgetting_prompt",
        "forgetting_max_new_tokens",
        "forgetting_temperature",
        "max_general_drop",
        "forgetting_prompts",
    }
    written["config"] = {k: v for k, v in written["config"].items() if k in legacy["config"]}
    assert written == legacy


def test_summary_rows_and_headline_read_the_overall_category() -> None:
    report = EvalReport.from_json(_legacy_report())
    rows = report.summary_rows()
    assert [(r.label, r.role) for r in rows] == [("run:r", "model"), ("base:r", "baseline")]
    assert [est.value for _, est in rows[0].compile_at] == [0.5]
    assert rows[0].compile_at[0][1].fmt() == "50.0% [25.0, 75.0]"
    assert rows[0].idioms.fmt() == "–" and rows[0].copy_rate_text == "25.0%" and rows[0].general is None
    assert report.headline() == "compile@1 50% vs base 12%: no significant difference"
    assert report.category_keys() == ["overall:all", "type:completion"]
    assert [(key, cases, [e.value for e in ests]) for key, cases, ests in report.category_rows()] == [
        ("overall:all", 4, [0.5, 0.125]),
        ("type:completion", 2, [0.25, None]),
    ]
    metrics = report.run_metrics()
    assert metrics["compile@1"] == 0.5 and metrics["compile@1_by_category"] == {"type:completion": 0.25}


def test_other_kinds_newer_versions_and_bad_fields_are_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    for data, message in (
        ({**_legacy_report(), "schema": "run"}, "not a eval-report file"),
        ({**_legacy_report(), "schema_version": 99}, "newer than this bbjcoder reads"),
        ({**_legacy_report(), "ks": "one"}, "malformed eval-report: ks"),
    ):
        path.write_text(json.dumps(data))
        with pytest.raises(RecordError, match=message) as exc:
            EvalReport.load(path)
        assert exc.value.path == str(path)


def test_evaluate_run_takes_its_settings_from_the_config_and_reports_progress(
    tiny_gguf: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    from bbjcoder import evaluate
    from bbjcoder.config import RunConfig

    cfg = RunConfig.model_validate(
        {
            "run": {"seed": 11, "runs_dir": str(tmp_path / "runs")},
            "eval": {
                "suite": str(tiny_suite),
                "n_samples": 1,
                "k": [1],
                "temperature": 0.0,
                "max_new_tokens": 4,
                "max_cases": 2,
                "forgetting_suite": None,
            },
        }
    )
    calls: list[tuple[str, int, int]] = []
    report = evaluate.run(cfg, f"gguf:{tiny_gguf}", out=tmp_path / "out", progress=lambda *c: calls.append(c))
    assert isinstance(report, EvalReport) and report.suite.cases == 2
    assert (report.config.n, report.config.max_new_tokens, report.config.seed) == (1, 4, 11)
    assert [(d, t) for _, d, t in calls] == [(1, 2), (2, 2)]
    assert EvalReport.load(tmp_path / "out" / "report.json") == report
