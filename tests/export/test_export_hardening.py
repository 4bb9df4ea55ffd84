"""Export and serve under faults: stale temp folders of killed exports are removed (live ones
kept), the run config's [export] quant is used, corrupt adapters and truncated GGUFs are named."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bbjcoder.errors import UserError
from bbjcoder.export import clean_stale_temps
from bbjcoder.records.export_manifest import ExportManifest

from .conftest import export_dir


def _copy(tiny_run: Path, tmp_path: Path, name: str) -> Path:
    run = tmp_path / name
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("export", "export.*"))
    return run


def test_stale_export_temp_of_a_dead_process_is_removed_and_reported(
    tiny_run: Path, tmp_path: Path, capfd
) -> None:
    run = _copy(tiny_run, tmp_path, "stale")
    stale = run / "export.tmp-killed"
    (stale / "merged").mkdir(parents=True)
    (stale / "merged" / "model.safetensors").write_bytes(b"\0" * 3 * 1024 * 1024)
    live = run / "export.tmp-live"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from bbjcoder.fileio import DirLock; "
            f"lock = DirLock({str(live)!r}).acquire(); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        export_dir(run, "f16")
        assert not stale.exists()
        assert live.is_dir()  # a running export's folder is not touched
    finally:
        holder.kill()
        holder.wait()
    err = capfd.readouterr().err
    assert f"removed {stale}" in err and "3.0 MiB freed" in err
    assert clean_stale_temps(run) == [live]  # its owner is gone now


def test_cli_export_uses_the_run_configs_export_section(tiny_run: Path, tmp_path: Path) -> None:
    run = _copy(tiny_run, tmp_path, "configured")
    info = json.loads((run / "run.json").read_text())
    info["config"] = {"export": {"quant": "f16", "name": "from-config"}}
    (run / "run.json").write_text(json.dumps(info))
    proc = subprocess.run(
        [sys.executable, "-m", "bbjcoder", "export", str(run)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (run / "export").glob("*.gguf")) == ["from-config-f16.gguf"]
    assert ExportManifest.find(run / "export").quant == "f16"


def test_corrupt_adapter_weights_are_named_with_what_to_do(tiny_run: Path, tmp_path: Path) -> None:
    run = _copy(tiny_run, tmp_path, "corrupt")
    weights = run / "adapter" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(UserError, match="truncated") as exc:
        export_dir(run, "f16")
    assert exc.value.path == str(weights)
    assert "checkpoint" in (exc.value.hint or "")
    assert not list(run.glob("export.tmp-*"))


def test_serve_names_a_truncated_gguf_in_one_line(exported: ExportManifest, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    data = exported.gguf_files["q4_k_m"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    proc = subprocess.run(
        [sys.executable, "-m", "bbjcoder", "serve", "--model", f"gguf:{cut}", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {cut}: truncated:")
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 2
