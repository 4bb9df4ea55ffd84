"""The model's end tokens, by name: every generation path stops on their ids, explicitly.

A Qwen *Base* checkpoint's generation config ends only on `<|endoftext|>`; a chat reply ends on
ChatML's `<|im_end|>`. Eval backends, `serve`, MCP and merged exports all use both.
"""

from __future__ import annotations

from typing import Any

# ChatML's end of turn, then the end of text (which also ends a FIM middle).
CHAT_END_TOKENS: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>")


def end_token_ids(tokenizer: Any) -> list[int]:
    """Ids of CHAT_END_TOKENS known to a Hugging Face `tokenizer`, then its EOS id; no repeats.

    A token the vocabulary lacks is skipped (a tokenizer without ChatML); the list is never empty
    when the tokenizer has an EOS token.
    """
    ids: list[int] = []
    vocab = tokenizer.get_vocab()
    for text in CHAT_END_TOKENS:
        if text in vocab:
            ids.append(int(vocab[text]))
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        ids.append(eos)
    return list(dict.fromkeys(ids))
