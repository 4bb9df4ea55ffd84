"""Fill-in-the-middle (FIM): the one renderer of the model's FIM prompt, and FIM training splits.

Training records, the eval's FIM cases, `bbjcoder serve`'s /v1/completions and the Modelfile's
`.Suffix` branch all take the prompt from here, so the model is asked the way it was trained.
Qwen2.5-Coder's order is PSM: `<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>` then the middle M
and `<|endoftext|>`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE = "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"
# The token that ends a middle (Qwen2.5-Coder's end of text; not the chat's <|im_end|>).
FIM_END = "<|endoftext|>"
# Tokens that end a middle when generating: the end token, and those the model writes when it
# runs on into another file or the padding of its repository-level FIM format.
FIM_STOPS: tuple[str, ...] = (FIM_END, "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>")

# A middle of at most this many lines, as an editor completion would insert.
MAX_MIDDLE_LINES = 6


def fim_prompt(prefix: str, suffix: str) -> str:
    """The model input for filling in between `prefix` and `suffix` (the middle follows it)."""
    return f"{FIM_PREFIX}{prefix}{FIM_SUFFIX}{suffix}{FIM_MIDDLE}"


@dataclass(frozen=True)
class FimSplit:
    """One FIM example: `prefix + middle + suffix` is the whole program."""

    prefix: str
    middle: str
    suffix: str
    kind: str  # "lines" (cut at line boundaries) or "inline" (cut inside a line)

    @property
    def prompt(self) -> str:
        return fim_prompt(self.prefix, self.suffix)

    @property
    def target(self) -> str:
        """What the model is trained to write after the prompt: the middle and the end token."""
        return self.middle + FIM_END


def join_program(parts: Sequence[str]) -> str:
    """Code blocks (a FIM example's prefix, completion, suffix) as one program, one line break
    between blocks and one at the end, as the blocks read in the Markdown example."""
    kept = [p.strip("\n") for p in parts if p.strip()]
    return "\n".join(kept) + "\n" if kept else ""


def _line_split(lines: list[str], rng: random.Random) -> FimSplit | None:
    """Whole lines as the middle; at least one line stays after it (a non-empty suffix)."""
    n = len(lines)
    if n < 2:
        return None
    start = rng.randrange(1 if n > 2 else 0, n - 1)
    end = rng.randrange(start + 1, min(n - 1, start + MAX_MIDDLE_LINES) + 1)
    return FimSplit("".join(lines[:start]), "".join(lines[start:end]), "".join(lines[end:]), "lines")


def _inline_split(lines: list[str], rng: random.Random) -> FimSplit | None:
    """The cursor inside a line: the middle is the rest of that line (and maybe whole lines after
    it), the suffix the lines after that; the prefix ends with the line's start."""
    n = len(lines)
    candidates = [
        i
        for i in range(n - 1)
        if len(lines[i].strip()) >= 4  # room to cut inside, a line after it
    ]
    if not candidates:
        return None
    k = rng.choice(candidates)
    line = lines[k]
    indent = len(line) - len(line.lstrip())
    body_end = len(line.rstrip("\n"))
    cut = rng.randrange(indent + 1, body_end)  # at least one character on each side of the cursor
    end = rng.randrange(k + 1, min(n - 1, k + MAX_MIDDLE_LINES - 1) + 1)
    prefix = "".join(lines[:k]) + line[:cut]
    middle = line[cut:] + "".join(lines[k + 1 : end])
    return FimSplit(prefix, middle, "".join(lines[end:]), "inline")


def fim_splits(prefix: str, middle: str, suffix: str, rng: random.Random) -> list[FimSplit]:
    """FIM training examples from one example's program, shaped like editor requests.

    The program is the example's blocks joined (`join_program`). Returned: the author's middle
    when a suffix follows it (cut at line boundaries), else a seeded cut at line boundaries; and a
    seeded cut inside a line. Every split has a non-empty suffix and a non-empty middle; a program
    of one line gives none.
    """
    program = join_program([prefix, middle, suffix])
    lines = program.splitlines(keepends=True)
    out: list[FimSplit] = []
    if suffix.strip() and middle.strip():
        head = join_program([prefix])
        mid = join_program([middle])
        out.append(FimSplit(head, mid, program[len(head) + len(mid) :], "lines"))
    else:
        split = _line_split(lines, rng)
        if split is not None:
            out.append(split)
    inline = _inline_split(lines, rng)
    if inline is not None:
        out.append(inline)
    return out
