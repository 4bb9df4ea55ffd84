"""The HF -> GGUF converter: llama.cpp computes the same logits and tokens as transformers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bbjcoder.errors import ModelError
from bbjcoder.export.gguf import convert_hf_to_gguf
from bbjcoder.export.quantize import quantize_gguf
from bbjcoder.records.export_manifest import ExportManifest

PROMPTS = [
    '10 PRINT "Hello, world"\n20 END\n',
    "<|im_start|>system\nYou write BBj.<|im_end|>\n<|im_start|>user\nOpen a window<|im_end|>\n"
    "<|im_start|>assistant\n",
    '<|fim_prefix|>OPEN (1)"orders.dat"\n<|fim_suffix|>CLOSE (1)\n<|fim_middle|>',
    'window! = BBjAPI().getSysGui().addWindow(10,10,300,200,"Üben: naïve café")\n',
]
# Max |logit difference| against transformers in fp32 (the test model's logits have a std of ~1).
# F16: F16 weights and llama.cpp's default F16 KV cache, as served (measured ~9e-3).
# F32: F32 weights and an F32 KV cache, so only float summation order differs (measured ~4e-6):
# this is the converter's exactness check.
F16_TOLERANCE = 2e-2
F32_TOLERANCE = 1e-4
GGML_TYPE_F32 = 0


@contextmanager
def llama(path: Path, **kwargs: Any) -> Iterator[Any]:
    from llama_cpp import Llama

    model = Llama(model_path=str(path), n_ctx=256, n_threads=2, verbose=False, **kwargs)
    try:
        yield model
    finally:
        model.close()


def max_logit_diff(
    hf_model: Any, gguf_path: Path, token_lists: list[list[int]], *, f32_cache: bool = False
) -> float:
    """Largest |logit difference| over all positions; also checks it is small next to the logits' spread."""
    import torch

    worst = 0.0
    cache = {"type_k": GGML_TYPE_F32, "type_v": GGML_TYPE_F32} if f32_cache else {}
    with llama(gguf_path, logits_all=True, **cache) as llm:
        for ids in token_lists:
            with torch.no_grad():
                ref = hf_model(torch.tensor([ids])).logits[0].float().numpy()
            llm.reset()
            llm.eval(ids)
            got = np.asarray(llm.scores[: len(ids)], dtype=np.float32)
            assert got.shape == ref.shape
            diff = float(np.abs(got - ref).max())
            assert diff <= 0.025 * float(ref.std()), (diff, float(ref.std()))
            assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.9
            worst = max(worst, diff)
    return worst


def test_f16_gguf_logits_match_transformers(
    exported: ExportManifest, hf_model: Any, hf_tokenizer: Any
) -> None:
    token_lists = [hf_tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    diff = max_logit_diff(hf_model, exported.gguf_files["f16"], token_lists)
    print(f"max |logit diff| F16 GGUF vs transformers: {diff:.2e}")
    assert diff <= F16_TOLERANCE


def test_f32_gguf_logits_match_transformers_tightly(
    exported: ExportManifest, hf_model: Any, hf_tokenizer: Any, tmp_path: Path
) -> None:
    out = convert_hf_to_gguf(exported.merged_dir, tmp_path / "m-f32.gguf", out_type="f32")
    assert out.size_bytes > exported.files["bbj-coder-f16.gguf"]
    token_lists = [hf_tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    diff = max_logit_diff(hf_model, out.path, token_lists, f32_cache=True)
    print(f"max |logit diff| F32 GGUF vs transformers: {diff:.2e}")
    assert diff <= F32_TOLERANCE


def test_merged_model_matches_base_with_adapter(tiny_run: Path, hf_model: Any, hf_tokenizer: Any) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_run / "model", dtype=torch.float32)
    with_adapter = PeftModel.from_pretrained(base, tiny_run / "adapter").eval()
    ids = torch.tensor([hf_tokenizer(PROMPTS[0], add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        ref = with_adapter(ids).logits
        merged = hf_model(ids).logits
        plain = with_adapter.get_base_model()
        with with_adapter.disable_adapter():
            base_logits = plain(ids).logits
    assert torch.allclose(merged, ref, atol=1e-4)
    assert (merged - base_logits).abs().max() > 1e-2  # the adapter really changed the model


def test_tokenizer_gives_identical_ids_in_gguf(exported: ExportManifest, hf_tokenizer: Any) -> None:
    texts = [*PROMPTS, *(p.read_text(encoding="utf-8") for p in sorted(Path("corpus").rglob("*.bbj"))[:6])]
    with llama(exported.gguf_files["f16"], vocab_only=True) as llm:
        for text in texts:
            ref = hf_tokenizer(text, add_special_tokens=False)["input_ids"]
            got = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            assert got == ref, text[:60]
            assert llm.detokenize(got, special=True).decode("utf-8") == text


def test_gguf_metadata_has_special_tokens_and_chat_template(
    exported: ExportManifest, hf_tokenizer: Any
) -> None:
    import gguf

    reader = gguf.GGUFReader(str(exported.gguf_files["f16"]))

    def field(key: str) -> Any:
        return reader.fields[key].contents()

    ids = {
        t: hf_tokenizer.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>", "<|fim_prefix|>")
    }
    assert field("general.architecture") == "qwen2"
    assert field("tokenizer.ggml.model") == "gpt2"
    assert field("tokenizer.ggml.pre") == "qwen2"
    assert field("tokenizer.ggml.eos_token_id") == hf_tokenizer.eos_token_id == ids["<|im_end|>"]
    assert field("tokenizer.ggml.padding_token_id") == hf_tokenizer.pad_token_id == ids["<|endoftext|>"]
    assert field("tokenizer.ggml.eot_token_id") == ids["<|im_end|>"]
    assert field("tokenizer.ggml.fim_pre_token_id") == ids["<|fim_prefix|>"]
    assert field("tokenizer.ggml.add_bos_token") is False
    assert field("tokenizer.chat_template") == hf_tokenizer.chat_template
    tokens = field("tokenizer.ggml.tokens")
    types = field("tokenizer.ggml.token_type")
    assert len(tokens) == len(hf_tokenizer) == field("qwen2.vocab_size")
    assert types[ids["<|im_end|>"]] == gguf.TokenType.CONTROL
    assert field("qwen2.block_count") == 2 and field("qwen2.attention.head_count_kv") == 2
    assert "output.weight" not in {t.name for t in reader.tensors}  # tied to token_embd


def test_q4_k_m_loads_and_generates(exported: ExportManifest, hf_tokenizer: Any) -> None:
    q4 = exported.gguf_files["q4_k_m"]
    assert q4.stat().st_size < exported.gguf_files["f16"].stat().st_size / 2
    with llama(q4) as llm:
        out = llm.create_completion(PROMPTS[0], max_tokens=8, temperature=0.0)
    assert out["usage"]["completion_tokens"] >= 1
    assert isinstance(out["choices"][0]["text"], str)


def test_q8_0_sits_between_q4_and_f16(exported: ExportManifest, tmp_path: Path) -> None:
    q8 = quantize_gguf(exported.gguf_files["f16"], tmp_path / "m-q8_0.gguf", "q8_0")
    assert (
        exported.gguf_files["q4_k_m"].stat().st_size
        < q8.stat().st_size
        < exported.gguf_files["f16"].stat().st_size
    )
    with llama(q8) as llm:
        assert (
            llm.create_completion("10 PRINT", max_tokens=4, temperature=0.0)["usage"]["completion_tokens"]
            >= 1
        )


def test_llama_architecture_with_untied_output_converts(exported: ExportManifest, tmp_path: Path) -> None:
    # Llama stores q/k in rotate-half order; llama.cpp's llama arch wants them permuted. A wrong
    # permutation (or a missing output tensor) shows up as a logit mismatch here.
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    src = tmp_path / "llama"
    src.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (exported.merged_dir / name).exists():
            shutil.copy2(exported.merged_dir / name, src / name)
    n_vocab = json.loads((exported.merged_dir / "config.json").read_text())["vocab_size"]
    torch.manual_seed(3)
    cfg = LlamaConfig(
        vocab_size=n_vocab,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        rope_theta=500000.0,
    )
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    model.save_pretrained(src)
    out = convert_hf_to_gguf(src, tmp_path / "llama-f32.gguf", out_type="f32")
    assert out.arch == "llama"
    ids = [[5, 17, 42, 99, 3, 250, 7, 64]]
    assert max_logit_diff(model, out.path, ids, f32_cache=True) <= F32_TOLERANCE


def test_unsupported_architecture_is_a_model_error(exported: ExportManifest, tmp_path: Path) -> None:
    src = tmp_path / "odd"
    shutil.copytree(exported.merged_dir, src)
    cfg = json.loads((src / "config.json").read_text())
    cfg["architectures"] = ["GPTNeoXForCausalLM"]
    (src / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="not supported"):
        convert_hf_to_gguf(src, tmp_path / "odd.gguf")


def test_unknown_pre_tokenizer_is_a_model_error(exported: ExportManifest, tmp_path: Path) -> None:
    src = tmp_path / "gpt2-split"
    shutil.copytree(exported.merged_dir, src)
    tj = json.loads((src / "tokenizer.json").read_text())
    tj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\s+|\S+"
    (src / "tokenizer.json").write_text(json.dumps(tj))
    with pytest.raises(ModelError, match="pre-tokenizer"):
        convert_hf_to_gguf(src, tmp_path / "x.gguf")
