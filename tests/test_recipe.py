"""The recipe runner: a stage is skipped while its inputs and outputs are unchanged, re-run (after
its stale results are removed) when an input changes, and a failure is recorded and explained."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from bbjcoder.errors import UserError
from bbjcoder.recipe import Display, Outcome, Runner, Stage
from bbjcoder.records.demo import DemoStages


def _stages(root: Path, calls: list[str], *, fail: bool = False) -> list[Stage]:
    src, out, partial = root / "input.txt", root / "out.txt", root / "partial"

    def copy(show: Display) -> Outcome:
        calls.append("copy")
        print("copying")  # goes to the stage's log, not the terminal
        partial.mkdir(exist_ok=True)
        out.write_text(src.read_text().upper())
        return Outcome(f"{len(src.read_text())} chars", {"chars": len(src.read_text())})

    def broken(show: Display) -> Outcome:
        calls.append("broken")
        raise UserError("the input is bad", path=src)

    return [
        Stage("copy", "copy the input", copy, [src], {"upper": True}, [out], [partial]),
        *([Stage("broken", "always fails", broken)] if fail else []),
        Stage("note", "always runs", lambda show: calls.append("note") or Outcome("noted"), always=True),
    ]


def _run(root: Path, calls: list[str], **kw: bool) -> Runner:
    path = root / "stages.json"
    terminal = io.StringIO()
    runner = Runner(
        root,
        "stages.json",
        DemoStages.load_or_new(path, created="t"),
        Console(file=terminal),
        _stages(root, calls, **kw),
    )
    runner.run_all()
    assert "copying" not in terminal.getvalue()  # stage output goes to its log only
    return runner


def test_unchanged_stages_resume_and_changed_inputs_rerun_after_removing_stale_results(
    tmp_path: Path,
) -> None:
    (tmp_path / "input.txt").write_text("abc")
    calls: list[str] = []
    first = _run(tmp_path, calls)
    assert calls == ["copy", "note"] and (tmp_path / "out.txt").read_text() == "ABC"
    rec = DemoStages.load(tmp_path / "stages.json")
    assert rec.stages["copy"].status == "done" and rec.stages["copy"].result == {"chars": 3}
    assert "copying" in (tmp_path / "stage-logs" / "copy.log").read_text()

    calls.clear()
    _run(tmp_path, calls)
    again = DemoStages.load(tmp_path / "stages.json").stages["copy"]
    assert calls == ["note"]  # skipped: same inputs, outputs there
    assert again.started == first.record.stages["copy"].started and again.resumed_at is not None

    (tmp_path / "out.txt").unlink()  # an output gone: the stage runs again
    calls.clear()
    _run(tmp_path, calls)
    assert calls == ["copy", "note"]

    (tmp_path / "partial" / "old-chunk").write_text("from the old input")
    (tmp_path / "input.txt").write_text("abcd")
    calls.clear()
    _run(tmp_path, calls)
    assert calls == ["copy", "note"] and (tmp_path / "out.txt").read_text() == "ABCD"
    assert not (tmp_path / "partial" / "old-chunk").exists()  # stale results of the old input removed


def test_a_failing_stage_is_recorded_and_its_error_names_the_log(tmp_path: Path) -> None:
    (tmp_path / "input.txt").write_text("abc")
    calls: list[str] = []
    with pytest.raises(UserError, match="demo stage 'broken' failed: the input is bad") as exc:
        _run(tmp_path, calls, fail=True)
    assert exc.value.hint is not None and "stage-logs/broken.log" in exc.value.hint
    assert calls == ["copy", "broken"]  # the stages after it did not run
    rec = DemoStages.load(tmp_path / "stages.json")
    assert rec.stages["broken"].status == "failed" and "the input is bad" in (
        rec.stages["broken"].error or ""
    )


def test_stages_json_written_before_the_record_still_loads(tmp_path: Path) -> None:
    legacy = (
        '{"version": 1, "profile": "quick", "created": "2026-01-01T00:00:00", "config_source": "c.toml",'
        ' "stages": {"data": {"status": "done", "title": "data", "input_hash": "ab", "started": "s",'
        ' "log": "stage-logs/data.log", "seconds": 1.5, "detail": "d", "result": {"counts": {"train": 3}}}}}'
    )
    (tmp_path / "stages.json").write_text(legacy)
    rec = DemoStages.load(tmp_path / "stages.json")
    assert rec.profile == "quick" and rec.stages["data"].result == {"counts": {"train": 3}}
