"""`bbjcoder.models.import_gguf`: a GGUF becomes a HF directory that computes what llama.cpp computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbjcoder.errors import ModelError
from bbjcoder.models import import_gguf
from tests.models.conftest import BBJ_PROMPTS, training_texts


def _llama(path: Path, **kw):  # type: ignore[no-untyped-def]
    from llama_cpp import Llama

    return Llama(model_path=str(path), n_ctx=1024, n_threads=2, verbose=False, **kw)


def _hf_next_logits(model_dir: Path, prompts: list[str]):  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    with torch.inference_mode():
        for p in prompts:
            ids = tok(p, add_special_tokens=False)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0, -1].numpy()
            out.append((ids, logits))
    return out


def next_token_agreement(gguf: Path, model_dir: Path, prompts: list[str]) -> tuple[int, float]:
    """(prompts whose top-1 next token agrees, max |logit difference|) of HF vs llama.cpp on the same ids."""
    import numpy as np

    llm = _llama(gguf, logits_all=True)
    agree, worst = 0, 0.0
    for ids, hf_logits in _hf_next_logits(model_dir, prompts):
        llm.reset()
        llm.eval(ids)
        ll = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float32)[: hf_logits.shape[0]]
        agree += int(ll.argmax() == hf_logits.argmax())
        worst = max(worst, float(np.abs(ll - hf_logits).max()))
    llm.close()
    return agree, worst


def test_imported_smollm_writes_a_complete_hf_directory(smollm_dir: Path) -> None:
    names = {p.name for p in smollm_dir.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    } <= names
    config = json.loads((smollm_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["num_hidden_layers"] == 30 and config["hidden_size"] == 576
    assert config["vocab_size"] == 49152 and config["tie_word_embeddings"] is True
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm_dir)
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    assert tok.convert_ids_to_tokens(tok.eos_token_id) == "<|im_end|>"


def test_imported_smollm_agrees_with_llama_cpp_on_next_token(smollm_gguf: Path, smollm_dir: Path) -> None:
    agree, worst = next_token_agreement(smollm_gguf, smollm_dir, BBJ_PROMPTS)
    print(f"smollm2-135m: top-1 agreement {agree}/{len(BBJ_PROMPTS)}, max |logit diff| {worst:.4f}")
    assert agree == len(BBJ_PROMPTS)
    assert worst < 2.0  # llama.cpp computes on Q4_1 weights and Q8 activations; we on their F32 values


def _assert_same_ids(gguf: Path, tok_dir: Path) -> int:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    llm = _llama(gguf, vocab_only=True)
    texts = training_texts()
    assert len(texts) > 100
    for text in texts:
        ours = tok(text, add_special_tokens=False)["input_ids"]
        theirs = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        assert ours == theirs, f"token ids differ on a training-data text starting {text[:60]!r}"
    llm.close()
    return len(texts)


def test_smollm_tokenizer_ids_match_llama_cpp_on_all_training_data(
    smollm_gguf: Path, smollm_dir: Path
) -> None:
    _assert_same_ids(smollm_gguf, smollm_dir)


@pytest.mark.slow
def test_qwen_tokenizer_ids_match_llama_cpp_on_all_training_data(
    qwen_gguf: Path, qwen_tokenizer_dir: Path
) -> None:
    _assert_same_ids(qwen_gguf, qwen_tokenizer_dir)


@pytest.mark.slow
def test_imported_qwen_agrees_with_llama_cpp_on_next_token(qwen_gguf: Path, tmp_path: Path) -> None:
    out = import_gguf(qwen_gguf, tmp_path / "qwen", dtype="f32").out_dir
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"] and config["vocab_size"] == 151936
    agree, worst = next_token_agreement(qwen_gguf, out, BBJ_PROMPTS)
    print(f"qwen2.5-coder-0.5b: top-1 agreement {agree}/{len(BBJ_PROMPTS)}, max |logit diff| {worst:.4f}")
    assert agree == len(BBJ_PROMPTS)
    assert worst < 1.5


def test_import_refuses_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 this is a zip, not a gguf")
    with pytest.raises(ModelError, match="not a readable GGUF file") as err:
        import_gguf(bad, tmp_path / "out")
    assert err.value.path == str(bad)
    assert not (tmp_path / "out").exists()


def test_import_keeps_an_existing_directory_unless_forced(smollm_gguf: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ModelError, match="exists and is not empty"):
        import_gguf(smollm_gguf, out, tokenizer_only=True)
    assert (out / "keep.txt").read_text() == "mine"
    import_gguf(smollm_gguf, out, tokenizer_only=True, force=True)
    assert not (out / "keep.txt").exists() and (out / "tokenizer.json").is_file()
