"""Does the exported GGUF keep the fine-tune? KL of F16 / Q8_0 / Q4_K_M exports to the merged model
and to the untouched base, top-1 agreement, and F32-export logits vs the merged HF model.

Run: `python benchmarks/export_fidelity.py --base models/qwen2.5-coder-0.5b-instruct --run runs/<id>`
(a trained run on that base). Texts: the first --texts validation conversations of --dataset,
teacher-forced, every position counted. Prints a table and writes benchmarks/results/export_fidelity.json.
Without --run it says so and exits 0 (`make bench` has no trained real run to measure).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "export_fidelity.json"


def texts_ids(tokenizer_dir: Path, dataset: Path, n: int, max_tokens: int) -> list[list[int]]:
    from transformers import AutoTokenizer

    from bbjcoder.fileio import read_jsonl

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    out = []
    for rec in read_jsonl(dataset / "val.jsonl"):
        text = tok.apply_chat_template(rec["messages"], tokenize=False)
        out.append(list(tok(text, add_special_tokens=False)["input_ids"])[:max_tokens])
        if len(out) == n:
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, help="the run's base HF directory")
    ap.add_argument("--run", type=Path, help="a trained run directory (adapter/ inside)")
    ap.add_argument("--dataset", type=Path, default=ROOT / "dataset")
    ap.add_argument("--work", type=Path, help="where the exports go (default: RUN/fidelity)")
    ap.add_argument("--texts", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.run is None or args.base is None:
        print("export_fidelity: needs --base DIR --run DIR (a trained real run); nothing to measure")
        return 0

    from bbjcoder.export.fidelity import fidelity, gguf_logits, hf_logits, max_abs_diff
    from bbjcoder.export.gguf import convert_hf_to_gguf
    from bbjcoder.export.merge import merge_adapter
    from bbjcoder.export.quantize import quantize_gguf

    work = args.work or args.run / "fidelity"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    merged = work / "merged"
    if not (merged / "config.json").exists():
        merge_adapter(args.base, args.run / "adapter", merged)
    files = {"f32": work / "m-f32.gguf", "f16": work / "m-f16.gguf"}
    for kind, path in files.items():
        if not path.exists():
            convert_hf_to_gguf(merged, path, out_type=kind, name="fidelity")  # type: ignore[arg-type]
    for q in ("q8_0", "q4_k_m"):
        files[q] = work / f"m-{q}.gguf"
        if not files[q].exists():
            quantize_gguf(files["f16"], files[q], q)  # type: ignore[arg-type]
    export_s = time.perf_counter() - t0

    ids = texts_ids(merged, args.dataset, args.texts, args.max_tokens)
    n_pos = sum(len(x) for x in ids)
    merged_logits = hf_logits(merged, ids)
    base_logits = hf_logits(args.base, ids)
    rows = []
    f32 = gguf_logits(files["f32"], ids)
    f32_diff = max_abs_diff(merged_logits, f32)
    for q in ("f16", "q8_0", "q4_k_m"):
        fid = fidelity(q, gguf_logits(files[q], ids), merged_logits, base_logits)
        rows.append({**fid.to_dict(), "size_mib": round(files[q].stat().st_size / 2**20, 1)})
    from bbjcoder.export.fidelity import mean_kl, top1_agreement

    base_vs_merged = {
        "kl": mean_kl(merged_logits, base_logits),
        "top1": top1_agreement(merged_logits, base_logits),
    }

    print(f"{n_pos} positions over {len(ids)} validation conversations; export took {export_s:.0f} s")
    print(f"F32 export vs merged HF model: max |logit diff| = {f32_diff:.2e}")
    print(
        f"base vs merged (how far the fine-tune moved): KL {base_vs_merged['kl']:.4f}, top-1 same {base_vs_merged['top1']:.1%}"
    )
    print(
        f"{'export':8} {'MiB':>7} {'KL->merged':>11} {'KL->base':>9} {'top1=merged':>12} {'top1=base':>10}  keeps fine-tune"
    )
    for r in rows:
        print(
            f"{r['quant']:8} {r['size_mib']:7.1f} {r['kl_to_merged']:11.4f} {r['kl_to_base']:9.4f} "
            f"{r['top1_merged']:12.1%} {r['top1_base']:10.1%}  {'yes' if r['keeps_finetune'] else 'NO'}"
        )
    result = {
        "base": str(args.base),
        "run": str(args.run),
        "positions": n_pos,
        "f32_max_abs_logit_diff": f32_diff,
        "base_vs_merged": base_vs_merged,
        "exports": rows,
        "export_seconds": round(export_s, 1),
        "machine": "2 CPU cores shared with other jobs",
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
