"""Eval on a CPU: each sample of a one-at-a-time backend is stored as soon as it exists, run_eval
reports progress per model, and BBJCODER_THREADS sets llama.cpp's threads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbjcoder.config import llama_threads
from bbjcoder.errors import UserError
from bbjcoder.evaluate.generate import GGUFBackend, SamplingParams, Task, generate_samples
from bbjcoder.evaluate.prompts import Prompt
from bbjcoder.evaluate.runner import EvalSettings, run_eval
from bbjcoder.evaluate.samples import SampleStore


def test_gguf_samples_are_stored_one_by_one_even_with_a_batch_size(tiny_gguf: Path, tmp_path: Path) -> None:
    backend = GGUFBackend(tiny_gguf, label="gguf:tiny")
    tasks = [Task(f"c{i}", Prompt((("user", f"task {i}"),))) for i in range(3)]
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=4, batch_size=8)
    store = SampleStore(tmp_path / "samples.jsonl")
    seen: list[tuple[int, int, int]] = []

    def watch(done: int, total: int) -> None:
        # what is on disk when progress is reported: every reported sample is already stored
        seen.append((done, total, len(store.path.read_text().splitlines())))

    generate_samples(backend, tasks, params, store, postprocess=lambda t, s: s, progress=watch)
    backend.close()
    assert seen == [(1, 3, 1), (2, 3, 2), (3, 3, 3)]


def test_run_eval_reports_progress_per_model(tiny_gguf: Path, tiny_suite: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    run_eval(
        f"gguf:{tiny_gguf}",
        tiny_suite,
        out_dir=tmp_path / "eval",
        settings=EvalSettings(
            params=SamplingParams(n=1, temperature=0.0, max_new_tokens=4),
            ks=(1,),
            max_cases=2,
            forgetting_suite=None,
            runs_dir=tmp_path,
        ),
        progress=lambda label, done, total: calls.append((label, done, total)),
    )
    assert [(d, t) for _, d, t in calls] == [(1, 2), (2, 2)]
    assert all(label.startswith("gguf:") for label, _, _ in calls)
    assert len((tmp_path / "eval" / "samples.jsonl").read_text().splitlines()) == 2
    assert json.loads((tmp_path / "eval" / "sampling.json").read_text())["max_new_tokens"] == 4


def test_threads_come_from_bbjcoder_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BBJCODER_THREADS", "3")
    assert llama_threads() == 3
    monkeypatch.delenv("BBJCODER_THREADS")
    assert llama_threads() >= 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("BBJCODER_THREADS", bad)
        with pytest.raises(UserError, match="BBJCODER_THREADS"):
            llama_threads()


def _run_info(tmp_path: Path):  # type: ignore[no-untyped-def]
    from bbjcoder.records.run import RunRecord

    base = tmp_path / "base"
    base.mkdir()
    adapter = tmp_path / "run" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"x")
    return RunRecord(id="run", path=tmp_path / "run", base_model_path=str(base))


def test_on_cpu_base_is_evaluated_through_the_gguf_it_was_imported_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bbjcoder.evaluate.generate import cpu_gguf_for

    monkeypatch.delenv("BBJCODER_EVAL_BACKEND", raising=False)
    run = _run_info(tmp_path)
    assert cpu_gguf_for(run, base=True) is None  # an ordinary HF base
    source = tmp_path / "src.gguf"
    source.write_bytes(b"GGUF")
    (run.base_model_dir / "IMPORTED_FROM.json").write_text(json.dumps({"gguf": str(source)}))
    assert cpu_gguf_for(run, base=True) == source
    monkeypatch.setenv("BBJCODER_EVAL_BACKEND", "hf")
    assert cpu_gguf_for(run, base=True) is None


def test_on_cpu_a_run_is_evaluated_through_its_export_only_when_it_is_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from bbjcoder.evaluate.generate import cpu_gguf_for

    monkeypatch.delenv("BBJCODER_EVAL_BACKEND", raising=False)
    run = _run_info(tmp_path)
    assert cpu_gguf_for(run, base=False) is None  # not exported yet
    export = run.export_dir
    export.mkdir()
    (export / "export.json").write_text(json.dumps({"quant": "q8_0"}))
    (export / "m-f16.gguf").write_bytes(b"GGUF")
    q8 = export / "m-q8_0.gguf"
    q8.write_bytes(b"GGUF")
    assert cpu_gguf_for(run, base=False) == q8
    weights = run.adapter_dir / "adapter_model.safetensors"
    os.utime(weights, (q8.stat().st_mtime + 10, q8.stat().st_mtime + 10))  # retrained after export
    assert cpu_gguf_for(run, base=False) is None
