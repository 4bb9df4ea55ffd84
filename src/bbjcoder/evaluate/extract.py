"""The one rule that turns a model's raw output into the code we check (documented in evals/README.md).

The same rule serves every backend and both languages (BBj for the suite, Python for the
forgetting check), so a model is never judged on how its output happened to be parsed.
"""

from __future__ import annotations

import re

from bbjcoder.data.fences import fenced_blocks, is_fence_line

# Info strings accepted as "this block is in the language we want".
LANGUAGE_ALIASES: dict[str, tuple[str, ...]] = {
    "bbj": ("bbj", "bbx", "basic"),
    "python": ("python", "py", "python3"),
}

# A prose line: "Here is the program:"; see is_prose_line for the exact rule.
_PROSE_START = re.compile(r"^[A-Z][a-z ]")
_CODE_CHARS = set('="$#;[]{}')


def is_prose_line(line: str) -> bool:
    """A line of English, not code: starts with a capital then a lower-case letter or a space
    ("Here", "This", "I am"),
    has at least three words, and contains none of = " $ # ; [ ] { } (BBj and Python code lines that
    start like a sentence nearly always contain one of these)."""
    s = line.strip()
    return bool(_PROSE_START.match(s)) and len(s.split()) >= 3 and not (_CODE_CHARS & set(s))


def extract_code(text: str, language: str = "bbj") -> str:
    """The code in a model's output, by this rule (first match wins):

    1. every fenced block labelled with the language (```bbj; for Python ```python or ```py),
       joined by a newline, in order;
    2. otherwise every fenced block with no label (```), joined by a newline;
    3. otherwise the raw text with fence lines and prose lines (`is_prose_line`) removed.
    Leading and trailing blank lines are stripped; the result may be empty (no code).
    """
    aliases = LANGUAGE_ALIASES.get(language, (language,))
    blocks = fenced_blocks(text)
    chosen = [body for info, body in blocks if info in aliases]
    if not chosen:
        chosen = [body for info, body in blocks if info == ""]
    if chosen:
        code = "\n".join(b.rstrip("\n") for b in chosen)
    else:
        kept = [ln for ln in text.splitlines() if not is_fence_line(ln) and not is_prose_line(ln)]
        code = "\n".join(kept)
    return code.strip("\n").rstrip() + ("\n" if code.strip() else "")


# A BBj comment line: optional line number, then REM as a whole word (`remark`, `rem15` are names).
_BBJ_COMMENT_LINE = re.compile(r"^\s*(?:\d+\s+)?rem(?:\s|$)", re.IGNORECASE)


def has_statements(code: str) -> bool:
    """Whether BBj code holds at least one line that is not blank and not a REM comment.

    A sample of comments only "compiles" but answers nothing, so compile@k counts it as
    "no code" (a tiny or broken model otherwise scores by echoing `rem ...` lines).
    """
    return any(line.strip() and not _BBJ_COMMENT_LINE.match(line) for line in code.splitlines())


def truncate_at_stop(text: str, stop: list[str] | tuple[str, ...]) -> str:
    """Cut `text` at the earliest stop sequence (exclusive), the same way for every backend."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]
