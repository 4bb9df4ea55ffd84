"""End-of-turn tokens are named explicitly: a Base-style config (EOS = <|endoftext|> only) still
stops chat samples at <|im_end|>, in the eval backend and in merged exports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bbjcoder.data.tokens import end_token_ids


@pytest.fixture(scope="module")
def base_style_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a Qwen *Base* checkpoint's end-token config: <|endoftext|> only."""
    out = tmp_path_factory.mktemp("base-style") / "model"
    shutil.copytree(tiny_model, out)
    tok_cfg = json.loads((out / "tokenizer_config.json").read_text())
    tok_cfg["eos_token"] = "<|endoftext|>"
    (out / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    gen = json.loads((out / "generation_config.json").read_text())
    vocab = json.loads((out / "tokenizer.json").read_text())["added_tokens"]
    ids = {t["content"]: t["id"] for t in vocab}
    gen["eos_token_id"] = ids["<|endoftext|>"]
    (out / "generation_config.json").write_text(json.dumps(gen))
    return out


def _ids(model_dir: Path) -> dict[str, int]:
    return {
        t["content"]: t["id"] for t in json.loads((model_dir / "tokenizer.json").read_text())["added_tokens"]
    }


def test_end_token_ids_name_both_ends_for_a_base_style_tokenizer(base_style_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base_style_model)
    assert tok.eos_token == "<|endoftext|>"
    ids = _ids(base_style_model)
    assert end_token_ids(tok) == [ids["<|im_end|>"], ids["<|endoftext|>"]]


def test_hf_backend_stops_on_im_end_despite_the_base_config(base_style_model: Path) -> None:
    from bbjcoder.evaluate.generate import HFBackend, SamplingParams
    from bbjcoder.evaluate.prompts import Prompt

    backend = HFBackend(base_style_model, label="base-style", device="cpu")
    ids = _ids(base_style_model)
    assert ids["<|im_end|>"] in backend.end_ids and ids["<|endoftext|>"] in backend.end_ids
    out = backend.generate([Prompt((("user", "hi"),))], SamplingParams(n=1, max_new_tokens=4), [0])
    assert len(out) == 1 and "<|im_end|>" not in out[0]


def test_merged_export_generation_config_names_both_end_tokens(
    base_style_model: Path, tmp_path: Path
) -> None:
    from bbjcoder.export.merge import merge_adapter

    merged = merge_adapter(base_style_model, None, tmp_path / "merged")
    gen = json.loads((merged / "generation_config.json").read_text())
    ids = _ids(base_style_model)
    assert gen["eos_token_id"] == [ids["<|im_end|>"], ids["<|endoftext|>"]]
