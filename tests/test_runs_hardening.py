"""The run registry under faults: broken run.json files are listed as broken, ids are never cut,
and one rule resolves a run id (`RUNS_DIR/ID` before `./ID`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bbjcoder.runs import RunError, create_run, list_runs, resolve_run


def _run(runs: Path, run_id: str) -> Path:
    return create_run(runs, "x", {"run": {"name": "x"}}, run_id=run_id).path


def test_list_reports_broken_run_json_instead_of_crashing_or_dropping(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _run(runs, "good")
    (runs / "array").mkdir(parents=True)
    (runs / "array" / "run.json").write_text("[1, 2]\n")
    (runs / "torn").mkdir()
    (runs / "torn" / "run.json").write_text('{"id": "torn", "status": "do')
    listed = {r.id: r for r in list_runs(runs)}
    assert set(listed) == {"good", "array", "torn"}
    assert listed["array"].status == listed["torn"].status == "broken"
    assert (listed["array"].problem or "").startswith(
        f"{runs / 'array' / 'run.json'}: run.json holds a JSON list"
    )
    assert "run.json is not valid JSON" in (listed["torn"].problem or "")
    with pytest.raises(RunError, match="not an object"):
        resolve_run("array", runs)


def test_runs_list_shows_whole_ids_in_80_columns(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    long_id = "qwen2.5-coder-14b-bbj-sft-only-20261128-101500-2"
    _run(runs, long_id)
    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run(
        [sys.executable, "-m", "bbjcoder", "runs", "list", "--runs-dir", str(runs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert long_id in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    assert f"{long_id}: interrupted: recorded as running" in " ".join(out.stderr.split())


def test_bare_id_resolves_under_runs_dir_before_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _run(Path("runs"), "demo")
    _run(Path("."), "demo")  # ./demo exists too: the layout `demo --out demo` makes
    assert resolve_run("demo", Path("runs")).path == Path("runs") / "demo"
    assert resolve_run("run:demo", Path("runs")).path == Path("runs") / "demo"
    assert resolve_run("./demo", Path("runs")).path == Path("demo")  # an explicit path stays a path
    assert resolve_run(Path("demo"), Path("runs")).path == Path("demo")


def test_bare_id_falls_back_to_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _run(Path("."), "mine")
    assert resolve_run("mine", Path("runs")).path == Path("mine")


def test_demo_out_name_in_cwd_resolves_to_the_absolute_demo_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`demo --out NAME` makes runs_dir the absolute cwd; the eval stage then finds run:NAME as the
    same absolute directory, so paths inside it are relative to the demo directory."""
    monkeypatch.chdir(tmp_path)
    demo_dir = (tmp_path / "NAME").resolve()
    _run(demo_dir.parent, "NAME")
    run = resolve_run("run:NAME", demo_dir.parent)
    assert run.path == demo_dir
    assert (run.path / "eval" / "bbj-core" / "report.json").relative_to(demo_dir)


def test_run_json_is_written_with_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = _run(tmp_path / "runs", "m")
    finally:
        os.umask(old)
    assert (path / "run.json").stat().st_mode & 0o777 == 0o644
    assert json.loads((path / "run.json").read_text())["id"] == "m"
