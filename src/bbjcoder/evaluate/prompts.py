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


# How a forgetting-check problem is put to a model, as the published HumanEval numbers were made:
# instruct/chat models get a chat turn with the signature and docstring; base models continue the
# prompt as plain text and are cut at the first of these top-level stops (Chen et al. 2021).
PROMPT_STYLES = ("chat", "completion")
COMPLETION_STOPS: tuple[str, ...] = ("\ndef", "\nclass", "\nif __name__", "\nprint", "\n#")
# A chat answer is done when its code block closes ("```python" opens, so this never cuts the start).
CHAT_STOPS: tuple[str, ...] = ("\n```\n",)


def general_prompt(python_prompt: str, style: str = "chat") -> Prompt:
    """The model input for a forgetting-check problem (signature + docstring).

    `chat`: the chat messages (every backend); `completion`: the prompt itself as `raw` text for the
    local backends (a chat-only openai: server still gets the chat rendering).
    """
    user = (
        "Complete this Python function. Answer with the whole function in one ```python block.\n\n"
        f"```python\n{python_prompt}```"
    )
    messages = (("system", GENERAL_SYSTEM_PROMPT), ("user", user))
    if style == "completion":
        return Prompt(messages, raw=python_prompt)
    if style != "chat":
        raise ValueError(f"unknown prompt style {style!r}; expected one of {PROMPT_STYLES}")
    return Prompt(messages)


def general_stops(style: str) -> tuple[str, ...]:
    """Stop sequences for a forgetting-check sample in this prompt style."""
    return COMPLETION_STOPS if style == "completion" else CHAT_STOPS
