"""report.html renders from whatever the stages have written so far (the demo rebuilds it mid-run)."""

from __future__ import annotations

import json
from pathlib import Path

from bbjcoder.records.demo import DemoStages, StageEntry
from bbjcoder.report_html import render_report_html


def _stage(status: str, **fields: object) -> StageEntry:
    base = {
        "status": status,
        "title": "t",
        "input_hash": "h",
        "started": "2026-12-07T00:00:00",
        "log": "logs/x.log",
    }
    return StageEntry.model_validate({**base, **fields})


def test_a_demo_directory_with_only_a_running_stage_renders(tmp_path: Path) -> None:
    DemoStages(profile="quick", stages={"convert": _stage("running")}).save(tmp_path / "stages.json")
    page = render_report_html(tmp_path, commands=[("convert", "bbjcoder data convert <dir>")])
    assert "data-stage='convert'" in page and "data-seconds='None'" in page
    assert "No eval report." in page and "Not run." in page
    assert "(loss curves: loss.png not found)" in page
    assert "bbjcoder data convert &lt;dir&gt;" in page  # autoescaped


def test_serve_check_diagnostics_and_stage_phases_are_shown(tmp_path: Path) -> None:
    train = _stage("done", seconds=12.5, result={"phases": {"sft": 3.0}})
    DemoStages(stages={"train": train}).save(tmp_path / "stages.json")
    serve = {
        "compiles": False,
        "latency_s": 1.25,
        "answer": "<b>x</b>",
        "code": "PRINT 1",
        "diagnostics": [{"line": 1, "column": 2, "message": "expected <THEN>"}],
    }
    (tmp_path / "serve_check.json").write_text(json.dumps(serve))
    page = render_report_html(tmp_path)
    assert "<span class='phase'>stage 2 (SFT): 3.0 s</span>" in page and "12.5 s" in page
    assert "does not compile" in page and "answered in 1.2 s" in page
    assert "line 1, column 2: expected &lt;THEN&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page
