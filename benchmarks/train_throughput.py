"""Training throughput: plain TRL/Trainer-style path vs our fast path on a 14B-shaped QLoRA model.

Builds a random-init Qwen2.5-Coder-14B-shaped model directly on the GPU in NF4 (no fp32 weights on
CPU), LoRA r=64 all-linear, micro-batch 1, and times >= 20 optimizer steps after warm-up at seq
2048 and 4096 for both paths in one process. Prints a table and ratios vs the goals (>= 2x plain
tokens/s, <= 20 GiB peak at 4096) and writes benchmarks/results/train_throughput.json.
On a machine without CUDA it exits 0 with a message; `--cpu-smoke` runs a miniature shape on CPU
(no NF4) to prove the code path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "train_throughput.json"
SHAPE_14B = dict(
    hidden_size=5120,
    num_hidden_layers=48,
    num_attention_heads=40,
    num_key_value_heads=8,
    intermediate_size=13824,
    vocab_size=152064,
)
SHAPE_SMOKE = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    vocab_size=1000,
)


def build_model(shape: dict, *, cuda: bool, fast: bool):  # type: ignore[no-untyped-def]
    """Random-init Qwen2 of `shape`; on CUDA, weights are created on the GPU and quantized to NF4."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from bbjcoder.train.model import add_lora, apply_fused_kernels, enable_gradient_checkpointing

    cfg = Qwen2Config(**shape, max_position_embeddings=8192, tie_word_embeddings=False, use_cache=False)
    cfg._attn_implementation = "sdpa"
    if cuda:
        import bitsandbytes as bnb
        from transformers import BitsAndBytesConfig
        from transformers.integrations import replace_with_bnb_linear

        bnb_cfg = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        with torch.device("meta"):
            model = Qwen2ForCausalLM(cfg)
        model = replace_with_bnb_linear(
            model, modules_to_not_convert=["lm_head"], quantization_config=bnb_cfg
        )
        # Materialise layer by layer on the GPU: bf16 random weights, then NF4 (never fp32 on CPU).
        for name, module in model.named_modules():
            for pname, p in list(module.named_parameters(recurse=False)):
                if p.device.type != "meta":
                    continue
                data = torch.empty(p.shape, dtype=torch.bfloat16, device="cuda").normal_(0, 0.02)
                if "norm" in name:
                    data.fill_(1.0)
                if isinstance(module, bnb.nn.Linear4bit) and pname == "weight":
                    module.weight = bnb.nn.Params4bit(
                        data, requires_grad=False, quant_type="nf4", compress_statistics=True
                    ).to("cuda")
                    module.compute_dtype = torch.bfloat16
                else:
                    setattr(module, pname, torch.nn.Parameter(data, requires_grad=False))
        for name, buf in list(model.named_buffers()):
            if buf.device.type == "meta":
                mod = model.get_submodule(name.rsplit(".", 1)[0])
                mod.register_buffer(
                    name.rsplit(".", 1)[1],
                    torch.empty(buf.shape, dtype=buf.dtype, device="cuda"),
                    persistent=False,
                )
        model.model.rotary_emb.__init__(config=cfg, device="cuda")  # recompute inv_freq on the GPU
        model.is_loaded_in_4bit = True
        if not fast:
            from peft import prepare_model_for_kbit_training

            # The plain path: PEFT's preparation (norms/embeddings/lm_head upcast to fp32).
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False}
            )
    else:
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(cfg)
    fused = apply_fused_kernels(model) if fast else False
    model = add_lora(
        model, r=64 if cuda else 8, alpha=128 if cuda else 16, dropout=0.0, target_modules="all-linear"
    )
    enable_gradient_checkpointing(model, 1)
    return model, fused


def run_path(shape: dict, seq: int, *, fast: bool, cuda: bool, steps: int, warmup: int) -> dict:
    import torch

    from bbjcoder.train.loss import (
        chunked_linear_cross_entropy,
        liger_fused_linear_cross_entropy,
        shift_for_causal_lm,
    )

    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model, fused = build_model(shape, cuda=cuda, fast=fast)
    dev = "cuda" if cuda else "cpu"
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    liger = liger_fused_linear_cross_entropy() if fast else None
    g = torch.Generator(device="cpu").manual_seed(0)
    times = []
    for step in range(warmup + steps):
        ids = torch.randint(0, shape["vocab_size"], (1, seq), generator=g).to(dev)
        t0 = time.perf_counter()
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=cuda):  # bf16=True as in Trainer/TRL
            if fast:
                base = model.get_base_model()
                hidden = base.model(input_ids=ids, use_cache=False).last_hidden_state
                h, t = shift_for_causal_lm(hidden, ids)
                w = base.lm_head.weight
                total = (
                    liger(w, h.reshape(-1, h.shape[-1]), t.reshape(-1))
                    if liger is not None
                    else chunked_linear_cross_entropy(h, w, t, chunk_size=1024)
                )
                loss = total / t.numel()
            else:
                loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    out = {
        "path": "fast" if fast else "plain",
        "seq": seq,
        "steps_timed": len(times),
        "median_step_s": round(med, 4),
        "tokens_per_s": round(seq / med, 1),
        "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "liger_loss": liger is not None,
        "fused_kernels": fused,
    }
    del model, opt
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="miniature shape on CPU, to test the code path")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seqs", type=int, nargs="+", default=[2048, 4096])
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu_smoke:
        print("train_throughput: no CUDA GPU here; skipped (run on an NVIDIA machine, or --cpu-smoke).")
        return 0
    shape = SHAPE_14B if cuda and not args.cpu_smoke else SHAPE_SMOKE
    seqs = args.seqs if cuda and not args.cpu_smoke else [64, 128]
    steps = args.steps if cuda and not args.cpu_smoke else 2
    rows = []
    for seq in seqs:
        for fast in (False, True):
            rows.append(
                run_path(
                    shape,
                    seq,
                    fast=fast,
                    cuda=cuda and not args.cpu_smoke,
                    steps=steps,
                    warmup=1 if args.cpu_smoke else args.warmup,
                )
            )
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'seq':>6} {'path':>6} {'tokens/s':>10} {'peak GiB':>9} {'ratio':>7}")
    summary = {}
    for seq in seqs:
        plain = next(r for r in rows if r["seq"] == seq and r["path"] == "plain")
        fast = next(r for r in rows if r["seq"] == seq and r["path"] == "fast")
        ratio = fast["tokens_per_s"] / plain["tokens_per_s"]
        summary[str(seq)] = {
            "speedup": round(ratio, 2),
            "goal_speedup_2x": ratio >= 2.0,
            "fast_peak_gib": fast["peak_allocated_gib"],
        }
        for r in (plain, fast):
            print(
                f"{seq:>6} {r['path']:>6} {r['tokens_per_s']:>10.1f} {r['peak_allocated_gib'] or 0:>9.2f} {(ratio if r is fast else 1.0):>7.2f}"
            )
    if "4096" in summary and summary["4096"]["fast_peak_gib"] is not None:
        summary["4096"]["goal_peak_le_20gib"] = summary["4096"]["fast_peak_gib"] <= 20.0
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    result = {"device": device, "cpu_smoke": args.cpu_smoke, "shape": shape, "rows": rows, "summary": summary}
    if not args.cpu_smoke:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
