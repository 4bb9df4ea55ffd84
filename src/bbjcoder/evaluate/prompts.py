"""How a case becomes a model input: the BBj system prompt, chat messages, and raw FIM prompts.

Every backend gets the same Prompt; hf and gguf use `raw` for fill-in-the-middle cases (Qwen's FIM
tokens), chat-only servers (openai:) get the chat rendering of the same task instead.
"""

from __future__ import annotations

from dataclasses import dataclass

# One system prompt across data and eval, so a model is evaluated the way it was trained to be asked.
from bbjcoder.data.convert import system_prompt
from bbjcoder.data.fim import fim_prompt
from bbjcoder.evaluate.suite import Case

GENERAL_SYSTEM_PROMPT = "You are a careful Python programmer."

# Control tokens that end a sample in every backend (stop sequences are applied after decoding too).
CONTROL_STOPS: tuple[str, ...] = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|fim_pad|>",
    "<|file_sep|>",
    "<|im_start|>",
)


@dataclass(frozen=True)
class Prompt:
    """One model input: chat messages, plus a raw completion prompt for FIM on local backends."""

    messages: tuple[tuple[str, str], ...]  # (role, content)
    raw: str | None = None

    def chat(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]


def case_prompt(case: Case) -> Prompt:
    """The model input for a suite case."""
    if not case.is_fim:
        return Prompt((("system", system_prompt(case.generation)), ("user", case.prompt)))
    prefix, suffix = case.prefix or "", case.suffix or ""
    user = (
        f"{case.prompt}\n\nFill in the missing BBj code between the prefix and the suffix. "
        "Answer with only the missing code in one ```bbj block.\n\n"
        f"Prefix:\n```bbj\n{prefix}\n```\n\nSuffix:\n```bbj\n{suffix}\n```"
    )
    raw = fim_prompt(prefix, suffix)  # the same renderer as training and `serve`
    return Prompt((("system", system_prompt(case.generation)), ("user", user)), raw=raw)


def general_prompt(python_prompt: str) -> Prompt:
    """The model input for a forgetting-check problem (signature + docstring)."""
    user = (
        "Complete this Python function. Answer with the whole function in one ```python block.\n\n"
        f"```python\n{python_prompt}```"
    )
    return Prompt((("system", GENERAL_SYSTEM_PROMPT), ("user", user)))
