"""Eval throughput on the tiny demo model: hf samples/s batched vs one prompt at a time, and the
BBj checker's time per sample relative to generating it.

Run: `python benchmarks/eval_throughput.py [--prompts 16] [--batch 8] [--max-new-tokens 64]`;
prints both ratios and writes benchmarks/results/eval_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bbjcoder.bbj import check_source
from bbjcoder.evaluate.generate import HFBackend, SamplingParams, sample_seed
from bbjcoder.evaluate.prompts import Prompt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "eval_throughput.json"

REQUESTS = (
    "Write a BBj program that creates a window with a button. When the button is clicked, display a message box saying 'Hello'.",
    "Open a keyed file customers.dat and print every record's name.",
    "Read two numbers from the terminal and print their sum.",
    "Convert this Visual PRO/5 PRINT (sysgui)'WINDOW' code to the BBj object API.",
    "Explain what SETERR does, with a short example.",
    "Write a DWC program with a grid of three columns.",
    "Loop over a BBjVector of strings and print each in upper case.",
    "Write a subroutine that formats a date as YYYY-MM-DD.",
)


def _training_code(limit: int = 200) -> list[str]:
    """Real BBj from the shipped training data, for a representative checker workload."""
    from bbjcoder.data.markdown import parse_example

    out: list[str] = []
    for path in sorted((ROOT / "training-data").glob("*/*.md")):
        example, _ = parse_example(path.read_text(encoding="utf-8"), path=str(path), example_id=path.stem)
        out += [b.code for b in example.all_blocks() if b.code.strip()]
    return out[:limit]


def _time_generation(backend: HFBackend, prompts: list[Prompt], params: SamplingParams) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(prompts), params.batch_size):
        batch = prompts[start : start + params.batch_size]
        backend.generate(batch, params, [sample_seed(params.seed, str(start), i) for i in range(len(batch))])
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)

    import torch

    from bbjcoder.train.tiny import build_tiny_model

    code = _training_code()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny", code or list(REQUESTS))
        backend = HFBackend(model_dir, label="hf:tiny")
        prompts = [
            Prompt((("system", "You write BBj."), ("user", REQUESTS[i % len(REQUESTS)])))
            for i in range(args.prompts)
        ]
        # Sampled as in an eval: a sample ends at EOS or the token budget, in both modes.
        base = SamplingParams(n=1, temperature=1.0, top_p=1.0, max_new_tokens=args.max_new_tokens, seed=1)
        single = SamplingParams(**{**base.to_dict(), "batch_size": 1})
        batched = SamplingParams(**{**base.to_dict(), "batch_size": args.batch})
        _time_generation(backend, prompts[:2], single)  # warm-up
        t_single = min(_time_generation(backend, prompts, single) for _ in range(args.repeats))
        t_batched = min(_time_generation(backend, prompts, batched) for _ in range(args.repeats))
        samples = backend.generate(prompts[: args.batch], batched, list(range(args.batch)))

    workload = code or samples
    per_check = []
    for _ in range(3):
        t0 = time.perf_counter()
        for text in workload:
            check_source(text)
        per_check.append((time.perf_counter() - t0) / len(workload))
    check_s = statistics.median(per_check)
    gen_batched_s = t_batched / args.prompts
    result = {
        "benchmark": "eval_throughput",
        "model": "tiny demo Qwen2 (build_tiny_model defaults)",
        "prompts": args.prompts,
        "batch_size": args.batch,
        "max_new_tokens": args.max_new_tokens,
        "samples_per_s_one_at_a_time": args.prompts / t_single,
        "samples_per_s_batched": args.prompts / t_batched,
        "batched_speedup": t_single / t_batched,
        "checker_workload": "training-data code blocks" if code else "generated samples",
        "checker_samples": len(workload),
        "checker_ms_per_sample": 1000 * check_s,
        "generation_ms_per_sample_batched": 1000 * gen_batched_s,
        "checker_share_of_generation": check_s / gen_batched_s,
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"hf tiny model, {args.prompts} prompts x {args.max_new_tokens} new tokens")
    print(f"  one at a time: {result['samples_per_s_one_at_a_time']:.2f} samples/s")
    print(f"  batched ({args.batch}):   {result['samples_per_s_batched']:.2f} samples/s")
    print(f"  ratio batched / one-at-a-time: {result['batched_speedup']:.2f}x")
    print(f"checker: {result['checker_ms_per_sample']:.3f} ms per sample ({len(workload)} samples)")
    print(f"  ratio checker / generation time per sample: {result['checker_share_of_generation']:.5f}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
