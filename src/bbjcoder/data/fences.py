"""Fenced code blocks in Markdown: the one rule every reader of model output and examples uses."""

from __future__ import annotations

import re

FENCE_RE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*$", re.MULTILINE)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string lower-cased, body) for every fenced block, in order.

    A fence opens with 3+ backticks or tildes and closes with the same character repeated at least
    as often; a block left open (output cut off by max tokens) runs to the end of the text.
    """
    blocks: list[tuple[str, str]] = []
    pos = 0
    while True:
        m = FENCE_RE.search(text, pos)
        if m is None:
            return blocks
        fence, info = m.group(1), m.group(2).lower()
        body_start = m.end() + 1
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        end = close.search(text, body_start) if body_start <= len(text) else None
        if end is None:
            blocks.append((info, text[body_start:]))
            return blocks
        blocks.append((info, text[body_start : end.start()]))
        pos = end.end()
