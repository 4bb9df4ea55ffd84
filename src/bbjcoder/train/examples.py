"""Turn dataset records into token tensors: ChatML with assistant-only labels, FIM, packing, collators.

Labels follow the Hugging Face convention: `labels[i]` is the target for position i and the model
shifts internally, `-100` marks positions without loss. Every function here is pure and small so
that the tests can check exact token and label lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import torch

from bbjcoder.data.fim import FIM_END, fim_prompt

IGNORE_INDEX = -100


class ChatMessage(TypedDict):
    """One ChatML turn of a dataset record (train.jsonl `messages`)."""

    role: str
    content: str


# A training row: input_ids and labels (and position_ids when packed), equal lengths.
Row = dict[str, list[int]]


@dataclass(frozen=True)
class TokenizedExample:
    """One training example: `input_ids` and `labels` of equal length (labels -100 = no loss)."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_target_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE_INDEX)


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def tokenize_chat(tokenizer: Any, messages: Sequence[ChatMessage]) -> TokenizedExample:
    """Tokenize a ChatML conversation through the tokenizer's chat template, loss on assistant turns.

    The rendered text is cut into segments at the start of each assistant reply (the end of the
    template's generation prompt) and after that reply's end-of-turn token (`tokenizer.eos_token`,
    `<|im_end|>` for Qwen); segments are tokenized separately, so the prompt tokens are exactly those
    the model sees at inference time. Assistant content and its `<|im_end|>` get labels; system,
    user, role headers and the newline after `<|im_end|>` get -100.
    """
    segments: list[tuple[str, bool]] = []  # (text, trained)
    done = 0  # characters of the full rendering already assigned to segments
    full = tokenizer.apply_chat_template(list(messages), tokenize=False)
    for i, msg in enumerate(messages):
        if msg.get("role") != "assistant":
            continue
        prompt = tokenizer.apply_chat_template(list(messages[:i]), tokenize=False, add_generation_prompt=True)
        through = tokenizer.apply_chat_template(list(messages[: i + 1]), tokenize=False)
        if not (full.startswith(through) and through.startswith(prompt) and len(prompt) >= done):
            raise ValueError("chat template is not prefix-stable; cannot locate assistant turns")
        reply = through[len(prompt) :]
        eos = tokenizer.eos_token or ""
        cut = reply.rfind(eos) + len(eos) if eos and eos in reply else len(reply)
        segments += [(prompt[done:], False), (reply[:cut], True), (reply[cut:], False)]
        done = len(through)
    segments.append((full[done:], False))

    ids: list[int] = []
    labels: list[int] = []
    for text, trained in segments:
        seg = _encode(tokenizer, text)
        ids += seg
        labels += seg if trained else [IGNORE_INDEX] * len(seg)
    return TokenizedExample(tuple(ids), tuple(labels))


def tokenize_fim(
    tokenizer: Any, prefix: str, middle: str, suffix: str, end_token: str = FIM_END
) -> TokenizedExample:
    """Fill-in-the-middle in Qwen2.5-Coder's PSM order, loss on the middle and its end token only.

    Layout: `<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>{middle}{end_token}`. The
    prompt is `bbjcoder.data.fim.fim_prompt` tokenized as one text, exactly as a server tokenizes
    an editor's request; the middle is tokenized on its own, as the model generates it.
    """
    head = _encode(tokenizer, fim_prompt(prefix, suffix))
    tail = [*_encode(tokenizer, middle), *_encode(tokenizer, end_token)]
    return TokenizedExample(tuple(head + tail), tuple([IGNORE_INDEX] * len(head) + tail))


def truncate(example: TokenizedExample, max_length: int) -> TokenizedExample | None:
    """Cut to `max_length` tokens; None when nothing trainable is left."""
    if len(example) > max_length:
        example = TokenizedExample(example.input_ids[:max_length], example.labels[:max_length])
    return example if example.n_target_tokens > 0 else None


def pack_examples(examples: Iterable[TokenizedExample], max_length: int) -> list[Row]:
    """Pack examples greedily, in order, into rows of at most `max_length` tokens.

    Each row is `{"input_ids", "labels", "position_ids"}` (lists of the row's length). Position ids
    restart at 0 for every example; with no attention mask, transformers derives a block-diagonal
    causal mask from them (and flash-attention its varlen boundaries), so packed examples never
    attend to each other. The first label of every example is -100: it would otherwise be the
    target of the previous example's last token across the boundary.
    """
    rows: list[dict[str, list[int]]] = []
    cur: dict[str, list[int]] = {"input_ids": [], "labels": [], "position_ids": []}
    for ex in examples:
        if len(ex) > max_length:
            raise ValueError(f"example of {len(ex)} tokens exceeds max_length {max_length}; truncate first")
        if cur["input_ids"] and len(cur["input_ids"]) + len(ex) > max_length:
            rows.append(cur)
            cur = {"input_ids": [], "labels": [], "position_ids": []}
        cur["input_ids"] += ex.input_ids
        cur["labels"] += [IGNORE_INDEX, *ex.labels[1:]]
        cur["position_ids"] += range(len(ex))
    if cur["input_ids"]:
        rows.append(cur)
    return rows


def pack_documents(docs: Iterable[Sequence[int]], max_length: int, sep_id: int) -> list[Row]:
    """Stage-1 packing: documents joined with `sep_id` after each, cut into `max_length` blocks.

    Blocks are causal over their whole length (documents may span blocks, as in pre-training);
    every token is a target. A final partial block is kept only when it is the only block, so
    all rows but that one have exactly `max_length` tokens.
    """
    stream: list[int] = []
    for d in docs:
        stream += [*d, sep_id]
    n_full = len(stream) // max_length
    blocks = [stream[i * max_length : (i + 1) * max_length] for i in range(n_full)]
    if not blocks and len(stream) > 1:
        blocks = [stream]
    return [{"input_ids": b, "labels": list(b)} for b in blocks]


def collate_padded(rows: Sequence[dict[str, Sequence[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad rows into a batch.

    Returns `input_ids` and `labels` of shape (B, T) with T the longest row, `labels` -100 on
    padding. Rows with `position_ids` (packed rows) get `position_ids` (B, T), padding continuing
    as its own sequence, and no `attention_mask` (the mask comes from the position ids); other rows
    get `attention_mask` (B, T) with 0 on padding.
    """
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    packed = "position_ids" in rows[0]
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[b, :n] = torch.tensor(r["input_ids"])
        labels[b, :n] = torch.tensor(r["labels"])
        mask[b, :n] = 1
        if packed:
            pos[b, :n] = torch.tensor(r["position_ids"])
            pos[b, n:] = torch.arange(width - n)
    batch = {"input_ids": ids, "labels": labels}
    if packed:
        batch["position_ids"] = pos
    else:
        batch["attention_mask"] = mask
    return batch


class PadCollator:
    """`collate_padded` bound to a pad id (a picklable callable for DataLoader workers)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[dict[str, Sequence[int]]]) -> dict[str, torch.Tensor]:
        return collate_padded(rows, self.pad_id)
