"""A llama.cpp model driven token by token: the one generation loop of `serve` and the gguf: eval backend.

The chat prompt is the GGUF's own template (as transformers renders it in training), generation
ends on explicit end-token ids, and stop strings are applied to the decoded text; so what is
served is what was measured.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Engine:
    """What the app needs from a model: render, tokenize, generate. `LlamaEngine` is the real one."""

    n_ctx: int
    max_token_bytes: int  # the longest token's text, to reject hopeless prompts without tokenizing

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        raise NotImplementedError

    def tokenize(self, text: str) -> list[int]:
        raise NotImplementedError

    def end_ids(self, texts: Sequence[str]) -> list[int]:
        raise NotImplementedError

    def generate(
        self, prompt: list[int], *, max_tokens: int, temperature: float, top_p: float,
        stop: list[str], end_ids: list[int], seed: int | None,
    ) -> Iterator[tuple[str, str | None]]:  # fmt: skip
        """(text, None) per generated token as it arrives, then ("", finish reason): "stop" at an
        id of `end_ids` or a `stop` string (neither is part of the text), "length" at max_tokens."""
        raise NotImplementedError


class LlamaEngine(Engine):
    """llama-cpp-python's Llama, driven token by token so that the end ids and stops are ours."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.n_ctx = int(llm.n_ctx())
        self.max_token_bytes = max(
            (len(llm.detokenize([i], special=True)) for i in range(llm.n_vocab())), default=1
        )
        template = llm.metadata.get("tokenizer.chat_template")
        self._template = _compile_template(template) if template else None
        self._par: _ParallelContext | None = None

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if self._template is None:  # no template in the GGUF: ChatML, as the Modelfile writes it
            turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            return turns + "<|im_start|>assistant\n"
        return str(self._template.render(messages=messages, add_generation_prompt=True, tools=None))

    def tokenize(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def end_ids(self, texts: Sequence[str]) -> list[int]:
        """The ids of those of `texts` that are single tokens of this model, plus its EOS id."""
        ids = {int(self.llm.token_eos())}
        for t in texts:
            toks = self.tokenize(t)
            if len(toks) == 1:
                ids.add(toks[0])
        return sorted(ids)

    def generate(
        self, prompt: list[int], *, max_tokens: int, temperature: float, top_p: float,
        stop: list[str], end_ids: list[int], seed: int | None,
    ) -> Iterator[tuple[str, str | None]]:  # fmt: skip
        if seed is not None:
            self.llm.set_seed(seed)
        seq = _Sequence(0, Request(prompt, max_tokens, seed), None)
        hold = max((len(s) for s in stop), default=1) - 1  # text that may still become a stop
        ends, sent = set(end_ids), 0
        sampled = self.llm.generate(prompt, temp=temperature, top_p=top_p, top_k=0, min_p=0.0, reset=True)
        for tok in sampled:
            seq.next, taken = tok, seq.n
            finish = self._advance(seq, stop, ends)
            if finish is not None and seq.n == taken:  # an end id: no token of text
                yield seq.text[sent:], finish
                return
            if finish is not None:  # one piece per token of text: serve counts them as usage
                yield seq.text[sent:], None
                yield "", finish
                return
            emit = max(sent, len(seq.text) - hold)
            yield seq.text[sent:emit], None
            sent = emit
        yield seq.text[sent:] + seq.decoder.decode(b"", final=True), None  # the model's context ended
        yield "", "length"

    def generate_parallel(
        self, requests: Sequence[Request], *, slots: int, temperature: float, top_p: float,
        stop: list[str], end_ids: list[int],
    ) -> Iterator[tuple[int, str, str]]:  # fmt: skip
        """Decode `slots` sequences at once in one llama.cpp context; (request index, text, finish
        reason) per request, in the order they finish. The same rules as `generate`: end ids and
        stop strings are cut, not kept.

        One decode step of `slots` tokens reads the weights once, where `generate` reads them once
        per token: on a CPU, whose token rate is bound by memory bandwidth, that is the gain
        (benchmarks/eval_backends.py). A finished sequence's slot takes the next request at once.
        Greedy decoding picks the argmax of the same logits; llama.cpp computes a batch of tokens
        with other kernels than one token, so a near-tie may break the other way than in `generate`.
        Sampling (temperature > 0) follows llama-cpp-python's chain (top-p on the raw distribution,
        then temperature) with a NumPy generator per request's seed.
        """
        if not requests:
            return
        # Each sequence's cache holds its prompt and its tokens, rounded up: not n_ctx per slot
        need = max(len(r.prompt) + r.max_tokens for r in requests)
        par = self._parallel_context(
            max(1, min(slots, len(requests))), min(self.n_ctx, -(-need // 256) * 256)
        )
        queue, ends = list(range(len(requests))), set(end_ids)
        live: dict[int, _Sequence] = {}
        while queue or live:
            for slot in range(par.slots):
                if slot not in live and queue:
                    i = queue.pop(0)
                    req = requests[i]
                    logits = par.prefill(slot, req.prompt)
                    seq = _Sequence(i, req, np.random.default_rng(req.seed))
                    seq.next = _pick(logits, temperature, top_p, seq.rng)
                    live[slot] = seq
            step: list[tuple[int, int]] = []
            # Slots in ascending order: llama.cpp keeps a step in one ubatch only while the
            # sequence ids rise (a refilled slot must not go last)
            for slot, seq in sorted(live.items()):
                finish = self._advance(seq, stop, ends)
                if finish is not None:
                    yield seq.index, seq.text, finish
                    del live[slot]  # its cache stays: the next prompt in this slot reuses the prefix
                else:
                    step.append((seq.next, slot))
            if step:
                for row, logits in enumerate(par.decode(step)):
                    seq = live[step[row][1]]
                    seq.next = _pick(logits, temperature, top_p, seq.rng)

    def _advance(self, seq: _Sequence, stop: list[str], ends: set[int]) -> str | None:
        """Take `seq.next` into the sequence's text; the finish reason when that ends it. The one
        set of finish rules of `generate` and `generate_parallel`."""
        tok = seq.next
        if tok in ends:
            seq.text += seq.decoder.decode(b"", final=True)
            return "stop"
        before = len(seq.text)
        seq.text += seq.decoder.decode(self.llm.detokenize([tok]))
        seq.n += 1
        longest = max((len(s) for s in stop), default=0)
        cut = min((j for s in stop if (j := seq.text.find(s, max(0, before - longest))) != -1), default=-1)
        if cut != -1:
            seq.text = seq.text[:cut]
            return "stop"
        if seq.n >= seq.request.max_tokens:
            seq.text += seq.decoder.decode(b"", final=True)
            return "length"
        return None

    def _parallel_context(self, slots: int, cells: int) -> _ParallelContext:
        """The parallel context, made again when it has other slots or too small a cache."""
        if self._par is None or self._par.slots != slots or self._par.cells < cells:
            if self._par is not None:
                self._par.close()
                self._par = None  # never a closed context again, should the new one fail
            self._par = _ParallelContext(self.llm, slots, cells)
        return self._par

    def close(self) -> None:
        if self._par is not None:
            self._par.close()
            self._par = None


@dataclass(frozen=True)
class Request:
    """One prompt for `generate_parallel`: its tokens, how many to generate, the sampling seed."""

    prompt: list[int]
    max_tokens: int
    seed: int | None = None


@dataclass
class _Sequence:
    index: int
    request: Request
    rng: Any
    next: int = -1  # sampled, not yet taken into the text
    n: int = 0  # tokens taken
    text: str = ""
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))


class _ParallelContext:
    """A second llama.cpp context on the loaded model for `slots` sequences, each with a KV cache of
    its own of `cells` tokens (llama.cpp's non-unified cache)."""

    def __init__(self, llm: Any, slots: int, cells: int) -> None:
        import llama_cpp as lc

        self.lc, self.slots, self.cells, self.n_vocab = lc, slots, cells, int(llm.n_vocab())
        # The loaded context's settings (threads, attention kernel, KV types), so that one sequence
        # here computes what `generate` computes; only the number of sequences differs.
        params = lc.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_ctx, params.n_seq_max, params.kv_unified = slots * cells, slots, False
        self.n_batch = int(params.n_batch)  # tokens per llama_decode call: a long prompt goes in chunks
        self.ctx = lc.llama_init_from_model(llm.model, params)
        if not self.ctx:
            raise RuntimeError(
                f"llama.cpp could not create a context for {slots} sequences of {cells} tokens"
            )
        self.memory = lc.llama_get_memory(self.ctx)
        self.batch = lc.llama_batch_init(max(self.n_batch, slots), 0, 1)  # a step has `slots` tokens
        self.held: dict[int, list[int]] = {}  # the tokens in each slot's KV cache, in order

    def _run(self, items: Sequence[tuple[int, int, int, bool]]) -> None:
        b = self.batch
        b.n_tokens = len(items)
        for k, (tok, pos, seq, want) in enumerate(items):
            b.token[k], b.pos[k], b.n_seq_id[k], b.logits[k] = tok, pos, 1, want
            b.seq_id[k][0] = seq
        rc = self.lc.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(
                f"llama_decode failed ({rc}) with {len(items)} tokens in {self.slots} sequences"
            )

    def _logits(self, k: int) -> np.ndarray:
        return np.ctypeslib.as_array(self.lc.llama_get_logits_ith(self.ctx, k), shape=(self.n_vocab,)).copy()

    def prefill(self, slot: int, prompt: Sequence[int]) -> np.ndarray:
        """Feed a prompt into `slot`'s sequence; the next-token logits after its last token.

        What the slot already holds is kept as far as it agrees with the prompt (every chat prompt
        starts with the same system turn), as llama-cpp-python's own generate does with its one
        sequence; at least the prompt's last token is computed again, for its logits."""
        if not prompt:
            raise ValueError("an empty prompt has no next token")
        held = self.held.get(slot, [])
        keep = 0
        for a, b in zip(held, prompt[: len(prompt) - 1], strict=False):
            if a != b:
                break
            keep += 1
        if not self.lc.llama_memory_seq_rm(self.memory, slot, keep, -1):
            # a model whose cache cannot drop a tail (recurrent): start the slot afresh
            self.lc.llama_memory_seq_rm(self.memory, slot, -1, -1)
            keep = 0
        self.held[slot] = list(prompt[:keep])
        rest = list(prompt[keep:])
        for start in range(0, len(rest), self.n_batch):
            chunk = rest[start : start + self.n_batch]
            last = start + len(chunk) == len(rest)
            self._run(
                [(t, keep + start + k, slot, last and k == len(chunk) - 1) for k, t in enumerate(chunk)]
            )
        self.held[slot] += rest
        return self._logits(len(chunk) - 1)

    def decode(self, step: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """One token for each (token, slot), placed after what the slot holds; the next-token
        logits of each, in order."""
        self._run([(tok, len(self.held[slot]), slot, True) for tok, slot in step])
        for tok, slot in step:
            self.held[slot].append(tok)
        return [self._logits(k) for k in range(len(step))]

    def close(self) -> None:
        if self.ctx:
            self.lc.llama_batch_free(self.batch)
            self.lc.llama_free(self.ctx)
            self.ctx = None


def _pick(logits: np.ndarray, temperature: float, top_p: float, rng: Any, *, head: int = 1024) -> int:
    """The next token: the argmax when greedy, else top-p on the raw distribution, then temperature
    (llama-cpp-python's chain with top_k 0 and min_p 0). The `head` most likely tokens are sorted
    first; the whole vocabulary only when they hold less than top_p of the probability."""
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64)
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    order = None
    if top_p < 1.0 and head < len(z):
        top = np.argpartition(-z, head)[:head]
        top = top[np.lexsort((top, -z[top]))]  # as the full stable sort orders them, ties by id
        if probs[top].sum() >= top_p:
            order = top
    if order is None:
        order = np.argsort(-z, kind="stable")
    keep = len(order)
    if top_p < 1.0:
        keep = min(keep, int(np.searchsorted(np.cumsum(probs[order]), top_p)) + 1)
    kept = z[order[:keep]] / temperature
    weights = np.exp(kept - kept.max())
    return int(order[rng.choice(keep, p=weights / weights.sum())])


def _compile_template(source: str) -> Any:
    """The GGUF's chat template, compiled as transformers' apply_chat_template does (sandboxed)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)
