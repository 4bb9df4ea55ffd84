"""Backends on the tiny model: SPEC parsing, hf batching, gguf, and the resumable sample log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bbjcoder.errors import ModelError
from bbjcoder.evaluate.generate import (
    GGUFBackend,
    HFBackend,
    SamplingParams,
    Task,
    generate_samples,
    parse_spec,
    sample_seed,
)
from bbjcoder.evaluate.prompts import Prompt, case_prompt
from bbjcoder.evaluate.samples import SampleStore
from bbjcoder.evaluate.suite import load_suite


def test_parse_spec_reads_every_kind() -> None:
    assert parse_spec("hf:/m").kind == "hf"
    s = parse_spec("openai:qwen2.5-coder:7b@http://127.0.0.1:11434/v1/")
    assert (s.kind, s.target, s.base_url) == ("openai", "qwen2.5-coder:7b", "http://127.0.0.1:11434/v1")
    assert parse_spec("base", run="r1").label == "base:r1"
    with pytest.raises(ModelError, match="bad model SPEC"):
        parse_spec("llama:/x")
    with pytest.raises(ModelError, match="openai:MODEL@"):
        parse_spec("openai:gpt")
    with pytest.raises(ModelError, match="base model of the run"):
        parse_spec("base")


def test_sample_seeds_are_stable_and_distinct() -> None:
    assert sample_seed(1, "a", 0) == sample_seed(1, "a", 0)
    assert len({sample_seed(1, "a", i) for i in range(50)}) == 50


def test_fim_case_gets_raw_qwen_fim_prompt_and_chat_fallback(tiny_suite: Path) -> None:
    fim = next(c for c in load_suite(tiny_suite).cases if c.is_fim)
    p = case_prompt(fim)
    assert p.raw == "<|fim_prefix|>FOR i = 1 TO 10\n<|fim_suffix|>NEXT i\n<|fim_middle|>"
    assert "FOR i = 1 TO 10" in p.messages[1][1] and p.messages[0][0] == "system"


def test_hf_batched_greedy_matches_one_at_a_time(tiny_model: Path) -> None:
    backend = HFBackend(tiny_model, label="hf:tiny")
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=12, batch_size=3)
    prompts = [
        Prompt((("system", "s"), ("user", "Print hello"))),
        Prompt(
            (("system", "s"), ("user", "A much longer request so that the batch needs left padding here"))
        ),
        Prompt((("user", "x"),), raw="<|fim_prefix|>A = 1\n<|fim_suffix|>END\n<|fim_middle|>"),
    ]
    batched = backend.generate(prompts, params, [1, 2, 3])
    single = [backend.generate([p], params, [1])[0] for p in prompts]
    assert batched == single
    assert all("<|" not in t for t in batched)  # control tokens never leak into samples


def test_gguf_backend_agrees_with_hf_greedy(tiny_model: Path, tiny_gguf: Path) -> None:
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=10)
    prompts = [Prompt((("system", "s"), ("user", "Print hello")))]
    gg = GGUFBackend(tiny_gguf, label="gguf:tiny")
    try:
        g = gg.generate(prompts, params, [5])
    finally:
        gg.close()
    h = HFBackend(tiny_model, label="hf:tiny").generate(prompts, params, [5])
    assert g == h  # same weights, same chat template, greedy: the same text


def test_store_drops_torn_last_line_and_rejects_corrupt_middle(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    good = {"model": "m", "case_id": "a", "sample": 0, "text": "x"}
    path.write_text(json.dumps(good) + "\n" + '{"model": "m", "case_id": "a", "sam')
    store = SampleStore(path)
    assert len(store) == 1 and ("m", "a", 0) in store
    assert path.read_text() == json.dumps(good) + "\n"  # torn tail removed before appending
    path.write_text("not json\n" + json.dumps(good) + "\n")
    with pytest.raises(Exception, match=r"samples.jsonl:1: corrupt sample record"):
        SampleStore(path)


def test_interrupted_generation_resumes_without_duplicates_or_gaps(tiny_model: Path, tmp_path: Path) -> None:
    backend = HFBackend(tiny_model, label="hf:tiny")
    tasks = [Task(f"c{i}", Prompt((("user", f"task {i}"),))) for i in range(3)]
    params = SamplingParams(n=2, temperature=0.7, max_new_tokens=6, batch_size=2)
    store = SampleStore(tmp_path / "samples.jsonl")

    def stop_after_first_batch(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_samples(
            backend, tasks, params, store, postprocess=lambda t, s: {}, progress=stop_after_first_batch
        )
    assert len(SampleStore(store.path)) == 2
    resumed = SampleStore(store.path)
    assert generate_samples(backend, tasks, params, resumed, postprocess=lambda t, s: {}) == 4
    lines = [json.loads(x) for x in store.path.read_text().splitlines()]
    keys = [(r["case_id"], r["sample"]) for r in lines]
    assert sorted(keys) == sorted((f"c{i}", j) for i in range(3) for j in range(2))


@pytest.mark.slow
def test_killed_eval_process_resumes_to_a_complete_log(
    tiny_model: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "bbjcoder.cli", "eval", "--model", f"hf:{tiny_model}", "--suite", str(tiny_suite),
        "--out", str(out), "-n", "3", "--k", "1", "--max-new-tokens", "48", "--batch-size", "1", "--no-forgetting",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = out / "samples.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not samples.exists() or samples.read_text().count("\n") < 3):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = samples.read_text().count("\n")
    assert 3 <= before < 12, "the kill should land mid-run"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    recs = [json.loads(x) for x in samples.read_text().splitlines()]
    keys = [(r["case_id"], r["sample"]) for r in recs]
    assert len(keys) == len(set(keys)) == 12  # 4 cases x 3 samples, none twice, none missing
    assert (out / "report.md").exists()
