"""export.run: the files it writes, the Modelfile and README, run.json metrics, and atomicity."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bbjcoder.errors import ModelError
from bbjcoder.export.modelfile import render_modelfile
from bbjcoder.records.export_manifest import ExportManifest

from .conftest import export_dir


def test_export_writes_merged_gguf_modelfile_and_readme(exported: ExportManifest, tiny_run: Path) -> None:
    assert exported.export_dir == tiny_run / "export"
    assert (exported.merged_dir / "config.json").exists()
    assert (exported.merged_dir / "tokenizer.json").exists()
    assert exported.gguf_files["f16"].name == "bbj-coder-f16.gguf"
    assert exported.gguf_files["q4_k_m"].name == "bbj-coder-q4_k_m.gguf"
    assert all(p.stat().st_size == exported.files[p.name] for p in exported.gguf_files.values())
    assert not list(tiny_run.glob("export.tmp-*"))
    on_disk = ExportManifest.find(exported.export_dir)
    assert on_disk.files == exported.files and on_disk.gguf == exported.gguf and on_disk.quant == "q4_k_m"
    assert on_disk.stop_tokens[0] == "<|im_end|>" and on_disk.vocab_size and on_disk.tokenizer_model


def test_export_records_sizes_and_timings_in_run_json(exported: ExportManifest, tiny_run: Path) -> None:
    metrics = json.loads((tiny_run / "run.json").read_text())["metrics"]["export"]
    assert metrics["files"] == exported.files
    assert metrics["timings"]["total_s"] > 0


def test_modelfile_has_chatml_template_stops_sampling_and_bbj_system_prompt(exported: ExportManifest) -> None:
    text = exported.modelfile_path.read_text()
    lines = text.splitlines()
    assert lines[0] == "FROM ./bbj-coder-q4_k_m.gguf"
    assert 'PARAMETER stop "<|im_end|>"' in lines
    assert 'PARAMETER stop "<|endoftext|>"' in lines
    assert {"PARAMETER temperature 0.2", "PARAMETER top_p 0.9", "PARAMETER num_ctx 4096"} <= set(lines)
    # Ollama's own repeat penalty (1.1) is turned off: it samples as serve and the eval do
    assert "PARAMETER repeat_penalty 1.0" in lines
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    assert "<|im_start|>{{ $m.Role }}" in template
    assert template.rstrip().endswith("{{- end }}")
    assert "<|im_start|>assistant\n{{ end }}" in template  # the assistant turn is left open
    system = text.split('SYSTEM """', 1)[1].split('"""', 1)[0]
    for generation in ("character", "vpro5", "bbj-gui", "dwc"):
        assert generation in system
    assert "DWC unless asked otherwise" in system


def test_modelfile_rejects_a_system_prompt_that_would_end_the_string() -> None:
    with pytest.raises(ValueError):
        render_modelfile("m.gguf", system='say """ hi')


def test_readme_has_ollama_command_and_measured_sizes(exported: ExportManifest) -> None:
    text = exported.readme_path.read_text()
    assert "ollama create bbj-coder -f Modelfile" in text
    for name, size in exported.files.items():
        assert f"`{name}`" in text
        assert f"{size / 1024**2:.1f} MiB" in text
    assert "estimates, not measured" in text and "Qwen2.5-Coder-14B" in text


def test_failed_export_leaves_previous_export_untouched(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "broken-run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("export"))
    first = export_dir(run, "f16")
    before = sorted(p.name for p in first.export_dir.iterdir())
    # A tokenizer llama.cpp cannot pre-tokenize: the merge succeeds, the GGUF conversion fails.
    tj = json.loads((run / "model" / "tokenizer.json").read_text())
    tj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\s+|\S+"
    (run / "adapter" / "tokenizer.json").write_text(json.dumps(tj))
    with pytest.raises(ModelError, match="pre-tokenizer"):
        export_dir(run, "q4_k_m")
    assert sorted(p.name for p in (run / "export").iterdir()) == before
    assert not list(run.glob("export.tmp-*")) and not list(run.glob("export.old-*"))


def test_failed_first_export_leaves_no_export_dir(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "no-weights"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("export"))
    (run / "adapter" / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(Exception):  # noqa: B017 - whatever peft raises for a corrupt adapter
        export_dir(run, "q4_k_m")
    assert not (run / "export").exists()
    assert not list(run.glob("export.tmp-*"))


def test_export_of_a_run_without_adapter_is_a_user_error(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "untrained"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("export", "adapter"))
    with pytest.raises(ModelError, match="no final adapter"):
        export_dir(run)


def test_cli_export_rejects_unknown_quant(tiny_run: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bbjcoder.cli", "export", str(tiny_run), "--quant", "q3_k"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "q4_k_m" in proc.stderr
