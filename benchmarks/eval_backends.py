"""CPU eval speed of one real model through the local backends, in one run: `gguf:` one sequence at
a time (the serve loop), `gguf:` with --parallel sequences decoded together, and `hf:` (transformers,
batched); same prompts, same greedy settings, same token budget.

Run: `python benchmarks/eval_backends.py --hf models/qwen2.5-coder-0.5b-instruct --gguf models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`
(`--no-hf` leaves transformers out). Prints samples/s and generated tokens/s of each, the ratios, and
how many greedy texts the parallel decoder shares with the one-at-a-time loop; writes
benchmarks/results/eval_backends.json. Without --gguf it says so and exits 0. Threads:
BBJCODER_THREADS (llama.cpp) and torch's default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "eval_backends.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hf", type=Path)
    ap.add_argument("--gguf", type=Path)
    ap.add_argument("--suite", type=Path, default=ROOT / "evals" / "bbj-core")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4, help="hf batch size")
    ap.add_argument("--parallel", type=int, nargs="+", default=[4], help="gguf sequences decoded together")
    ap.add_argument("--no-hf", action="store_true", help="measure the gguf backend only")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.gguf is None or (args.hf is None and not args.no_hf):
        print(
            "eval_backends: needs --gguf FILE and --hf DIR of the same model (or --no-hf); nothing to measure"
        )
        return 0

    from bbjcoder.config import llama_threads
    from bbjcoder.evaluate.generate import GGUFBackend, HFBackend, SamplingParams
    from bbjcoder.evaluate.prompts import case_prompt
    from bbjcoder.evaluate.suite import load_suite

    cases = load_suite(args.suite).cases[: args.prompts]
    prompts = [case_prompt(c) for c in cases]
    seeds = list(range(len(prompts)))

    def params(batch: int) -> SamplingParams:
        return SamplingParams(n=1, temperature=0.0, max_new_tokens=args.max_new_tokens, batch_size=batch)

    results: dict[str, dict[str, float]] = {}
    texts: dict[str, list[str]] = {}
    gguf = GGUFBackend(args.gguf, label="gguf")
    runs = [("gguf", 1)] + [(f"gguf-parallel-{n}", n) for n in args.parallel]
    backends: list[tuple[str, int]] = runs + ([] if args.no_hf else [("hf", args.batch)])
    for name, batch in backends:
        t_load = time.perf_counter()
        backend = gguf if name.startswith("gguf") else HFBackend(args.hf, label="hf")
        load_s = time.perf_counter() - t_load
        t0 = time.perf_counter()
        out: list[str] = []
        step = batch if name == "hf" else len(prompts)  # gguf: one call, the backend schedules
        for i in range(0, len(prompts), step):
            out += backend.generate(prompts[i : i + step], params(batch), seeds[i : i + step])
        wall = time.perf_counter() - t0
        if name == "hf":
            backend.close()
        toks = sum(len(gguf.engine.tokenize(t)) for t in out)
        texts[name] = out
        results[name] = {
            "batch": batch,
            "load_s": round(load_s, 1),
            "wall_s": round(wall, 1),
            "samples_per_s": len(prompts) / wall,
            "tokens": toks,
            "tokens_per_s": toks / wall,
        }
        same = sum(a == b for a, b in zip(out, texts["gguf"], strict=True))
        print(
            f"{name:18} load {load_s:5.1f} s  {len(prompts)} samples in {wall:6.1f} s  "
            f"{len(prompts) / wall:.3f} samples/s  {toks / wall:6.1f} generated tok/s  "
            f"same text as gguf one at a time: {same}/{len(prompts)}",
            flush=True,
        )
        results[name]["same_text_as_gguf"] = same
    # The decode step alone, without prompts or the tail of a short run: n sequences, 20 steps.
    from bbjcoder.evaluate.llamacpp import _ParallelContext

    first = gguf.engine.tokenize(gguf.engine.render_chat(prompts[0].chat()))
    steps: dict[int, float] = {}
    for n in [1, *args.parallel]:
        par = _ParallelContext(gguf.llm, n, len(first) + 64)
        for slot in range(n):
            par.prefill(slot, first)
        t0 = time.perf_counter()
        for _ in range(20):
            par.decode([(int(first[-1]), slot) for slot in range(n)])
        steps[n] = n * 20 / (time.perf_counter() - t0)
        par.close()
        print(
            f"decode step of {n} sequences: {steps[n]:6.1f} tok/s ({steps[n] / steps[1]:.2f}x one)",
            flush=True,
        )
    gguf.close()
    base = results["gguf"]["tokens_per_s"]
    ratios = {name: r["tokens_per_s"] / base for name, r in results.items() if name != "gguf"}
    for name, ratio in ratios.items():
        print(f"{name} / gguf one at a time, generated tok/s = {ratio:.2f}x")
    print(f"llama.cpp threads {llama_threads()}; {os.cpu_count()} CPUs")
    out_json = {
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "threads": llama_threads(),
        "results": results,
        "over_gguf_one_at_a_time": ratios,
        "decode_step_tokens_per_s": steps,
        "hf": None if args.no_hf else str(args.hf),
        "gguf": str(args.gguf),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out_json, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
