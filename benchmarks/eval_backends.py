"""CPU eval speed of one real model through both local backends, in one run: `hf:` (transformers,
batched) vs `gguf:` (llama.cpp), same prompts, same greedy settings, same token budget.

Run: `python benchmarks/eval_backends.py --hf models/qwen2.5-coder-0.5b-instruct --gguf models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`
Prints samples/s and generated tokens/s of each and the ratio; writes benchmarks/results/eval_backends.json.
Without --hf/--gguf it says so and exits 0. Threads: BBJCODER_THREADS (llama.cpp) and torch's default.
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
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.hf is None or args.gguf is None:
        print("eval_backends: needs --hf DIR --gguf FILE of the same model; nothing to measure")
        return 0

    from transformers import AutoTokenizer

    from bbjcoder.config import llama_threads
    from bbjcoder.evaluate.generate import GGUFBackend, HFBackend, SamplingParams
    from bbjcoder.evaluate.prompts import case_prompt
    from bbjcoder.evaluate.suite import load_suite

    cases = load_suite(args.suite).cases[: args.prompts]
    prompts = [case_prompt(c) for c in cases]
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=args.max_new_tokens, batch_size=args.batch)
    seeds = list(range(len(prompts)))
    tok = AutoTokenizer.from_pretrained(args.hf)

    def n_tokens(texts: list[str]) -> int:
        return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)

    results = {}
    for kind in ("gguf", "hf"):
        t_load = time.perf_counter()
        backend = GGUFBackend(args.gguf, label="gguf") if kind == "gguf" else HFBackend(args.hf, label="hf")
        load_s = time.perf_counter() - t_load
        t0 = time.perf_counter()
        texts: list[str] = []
        step = args.batch if kind == "hf" else 1
        for i in range(0, len(prompts), step):
            texts += backend.generate(prompts[i : i + step], params, seeds[i : i + step])
        wall = time.perf_counter() - t0
        backend.close()
        toks = n_tokens(texts)
        results[kind] = {
            "load_s": round(load_s, 1),
            "wall_s": round(wall, 1),
            "samples_per_s": len(prompts) / wall,
            "tokens": toks,
            "tokens_per_s": toks / wall,
        }
        print(
            f"{kind:5} load {load_s:5.1f} s  {len(prompts)} samples in {wall:6.1f} s  "
            f"{len(prompts) / wall:.3f} samples/s  {toks / wall:6.1f} generated tok/s",
            flush=True,
        )
    ratio = results["gguf"]["samples_per_s"] / results["hf"]["samples_per_s"]
    print(
        f"gguf / hf samples/s = {ratio:.2f}x  (hf batch {args.batch}; llama.cpp threads {llama_threads()}; "
        f"{os.cpu_count()} CPUs, shared with other jobs)"
    )
    out = {
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "batch": args.batch,
        "threads": llama_threads(),
        "results": results,
        "gguf_over_hf": ratio,
        "hf": str(args.hf),
        "gguf": str(args.gguf),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
