"""A llama.cpp model driven token by token: the one generation loop of `serve` and the gguf: eval backend.

The chat prompt is the GGUF's own template (as transformers renders it in training), generation
ends on explicit end-token ids, and stop strings are applied to the decoded text; so what is
served is what was measured.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


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
        import codecs

        if seed is not None:
            self.llm.set_seed(seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        hold = max((len(s) for s in stop), default=1) - 1  # text that may still become a stop
        pending = ""
        ends = set(end_ids)
        sampled = self.llm.generate(prompt, temp=temperature, top_p=top_p, top_k=0, min_p=0.0, reset=True)
        for n, tok in enumerate(sampled, start=1):
            if tok in ends:
                yield pending + decoder.decode(b"", final=True), "stop"
                return
            pending += decoder.decode(self.llm.detokenize([tok]))
            cut = min((i for s in stop if (i := pending.find(s)) != -1), default=-1)
            if cut != -1:
                yield pending[:cut], None
                yield "", "stop"
                return
            if n >= max_tokens:
                break
            emit = len(pending) - hold
            yield pending[:emit] if emit > 0 else "", None
            pending = pending[emit:] if emit > 0 else pending
        yield pending + decoder.decode(b"", final=True), None
        yield "", "length"


def _compile_template(source: str) -> Any:
    """The GGUF's chat template, compiled as transformers' apply_chat_template does (sandboxed)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)
