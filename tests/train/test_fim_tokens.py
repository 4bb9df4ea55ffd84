"""FIM training records as token sequences: the shared renderer, a suffix, the model's own tokens.

The real-tokenizer tests load Qwen2.5-Coder's tokenizer from the GGUF named by BBJCODER_REAL_GGUF, else the
project's own fetch of it (tests/models/conftest.py).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from bbjcoder.data.fim import FIM_END, fim_splits
from bbjcoder.train.data import build_sft_examples
from bbjcoder.train.examples import IGNORE_INDEX, tokenize_fim

PREFIX = "rem best month\nsales = new BBjVector()\nhigh = sales.getItem(0)"
MIDDLE = "for m = 1 to sales.size() - 1\n    if sales.getItem(m) > high then high = sales.getItem(m)\nnext m"


def _record(i: int, suffix: str = "") -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You write BBj."},
            {"role": "user", "content": "Complete the code."},
            {"role": "assistant", "content": f"```bbj\n{MIDDLE}\n```"},
        ],
        "meta": {
            "id": f"r{i}",
            "type": "completion",
            "fim": {"prefix": PREFIX, "middle": MIDDLE, "suffix": suffix},
        },
    }


def _parts(tok: Any, ids: list[int]) -> tuple[str, str, str]:
    """(prefix, suffix, middle+end) of a FIM token sequence, split at the special tokens' ids."""
    pre, suf, mid = (
        tok.convert_tokens_to_ids(t) for t in ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
    )
    assert ids.count(pre) == ids.count(suf) == ids.count(mid) == 1 and ids[0] == pre
    i, j = ids.index(suf), ids.index(mid)
    return tok.decode(ids[1:i]), tok.decode(ids[i + 1 : j]), tok.decode(ids[j + 1 :])


def _check_fim_records(tok: Any) -> None:
    built = build_sft_examples(tok, [_record(i) for i in range(4)], max_length=512, fim_share=1.0, seed=0)
    fims = [e for e in built.examples if tok.convert_tokens_to_ids("<|fim_prefix|>") in e.input_ids]
    assert built.counts["fim"] == len(fims) == 8  # two splits (lines, inline) per record
    program = f"{PREFIX}\n{MIDDLE}\n"
    inline = 0
    for ex in fims:
        prefix, suffix, tail = _parts(tok, list(ex.input_ids))
        assert suffix.strip(), "every FIM record has a suffix"
        assert tail.endswith(FIM_END)
        middle = tail[: -len(FIM_END)]
        assert prefix + middle + suffix == program  # nothing glued, nothing lost
        trained = tok.decode([t for t in ex.labels if t != IGNORE_INDEX])
        assert trained == tail  # loss on the middle and its end token only
        inline += not prefix.endswith("\n")
    assert 0 < inline < len(fims)  # cuts inside lines and at line boundaries


def test_fim_records_with_the_tiny_tokenizer(tokenizer) -> None:  # type: ignore[no-untyped-def]
    _check_fim_records(tokenizer)


@pytest.fixture(scope="module")
def qwen_tokenizer():  # type: ignore[no-untyped-def]
    from tests.models.conftest import qwen_real_gguf

    gguf = qwen_real_gguf()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


@pytest.mark.slow  # loading the tokenizer from the GGUF takes ~20 s on a shared 2-core machine
def test_fim_records_with_the_real_qwen_tokenizer(qwen_tokenizer) -> None:  # type: ignore[no-untyped-def]
    _check_fim_records(qwen_tokenizer)


@pytest.mark.slow
def test_fim_prompt_tokens_match_what_a_server_tokenizes(qwen_tokenizer) -> None:  # type: ignore[no-untyped-def]
    tok = qwen_tokenizer
    for split in fim_splits(PREFIX, MIDDLE, "print high\nend", random.Random(1)):
        ex = tokenize_fim(tok, split.prefix, split.middle, split.suffix)
        served = list(tok(split.prompt, add_special_tokens=False).input_ids)  # the whole prompt at once
        assert list(ex.input_ids[: len(served)]) == served
        # the model's own special tokens, one id each, and the FIM end token last
        names = tok.convert_ids_to_tokens(list(ex.input_ids))
        assert names[0] == "<|fim_prefix|>" and names[-1] == FIM_END
        assert names[len(served) - 1] == "<|fim_middle|>"
        assert tok.convert_tokens_to_ids(FIM_END) != tok.unk_token_id
