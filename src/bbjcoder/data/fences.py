"""Fenced code blocks in Markdown: the one rule that examples, datasets and model output are read by.

The rule is CommonMark's (spec 0.31, "Fenced code blocks"):
- a fence is a line of up to 3 spaces, then 3+ backticks or 3+ tildes, then an info string; a
  backtick fence's info string may not contain a backtick (```` ```x``` ```` is inline code);
- the block's language is the info string's first word, lower-cased ("" when there is none);
- it closes on a line of up to 3 spaces and the same character at least as many times, then only
  spaces or tabs; a block never closed (output cut off by max tokens) runs to the end of the text;
- content lines lose as many leading spaces (at most) as the opening fence was indented.
Line endings may be \\n, \\r\\n or \\r.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# A line that could open or close a fence; `Fence` parsing decides which, if either, it does.
_CANDIDATE = re.compile(r"^( {0,3})(`{3,}|~{3,})([^\n]*)$", re.MULTILINE)


class Fence(NamedTuple):  # a tuple: made for every block of every record, so cheap to build
    """One fenced block. Lines are 1-based lines of the (newline-normalised) text."""

    marker: str  # the opening run of backticks or tildes
    lang: str  # first word of the info string, lower-cased
    body: str  # the content; each line ends with "\n" when the block is closed
    line: int  # the opening fence's line
    close_line: int | None  # the closing fence's line; None when the block runs to the end
    start: int  # offset of the opening fence line in the normalised text
    end: int  # offset just after the closing fence line (its newline included), or the text's end

    @property
    def closed(self) -> bool:
        return self.close_line is not None


def normalise_newlines(text: str) -> str:
    """\\r\\n and lone \\r as \\n (Markdown's three line endings)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _candidates(text: str) -> list[re.Match[str]]:
    """The lines that could open or close a fence, in order. Found with str.find, which runs at C
    speed over the text, instead of trying the line pattern at every position."""
    found: dict[int, re.Match[str]] = {}  # by line start: a line holding both markers counts once
    for marker in ("```", "~~~"):
        pos = text.find(marker)
        while pos != -1:
            start = text.rfind("\n", 0, pos) + 1
            end = text.find("\n", pos)
            end = len(text) if end == -1 else end
            if pos - start <= 3:
                m = _CANDIDATE.match(text, start, end)
                if m is not None:
                    found[start] = m
            pos = text.find(marker, end)
    return [found[k] for k in sorted(found)]


def find_fences(text: str) -> list[Fence]:
    """Every fenced block of Markdown `text`, in order (offsets refer to `normalise_newlines(text)`)."""
    text = normalise_newlines(text)
    cands = _candidates(text)
    out: list[Fence] = []
    counted, line_no = 0, 1  # incremental line counting: offset counted up to, its line number

    def line_at(offset: int) -> int:
        nonlocal counted, line_no
        line_no += text.count("\n", counted, offset)
        counted = offset
        return line_no

    i = 0
    while i < len(cands):
        m = cands[i]
        indent, run, info = m.group(1), m.group(2), m.group(3).strip()
        i += 1
        if run[0] == "`" and "`" in info:
            continue  # not a fence: inline code
        close = next(
            (
                k
                for k in range(i, len(cands))
                if cands[k].group(2)[0] == run[0]
                and len(cands[k].group(2)) >= len(run)
                and not cands[k].group(3).strip(" \t")
            ),
            None,
        )
        body_start = min(m.end() + 1, len(text))
        opened = line_at(m.start())
        if close is None:
            body, close_line, end, i = text[body_start:], None, len(text), len(cands)
        else:
            c = cands[close]
            body, end, i = text[body_start : c.start()], min(c.end() + 1, len(text)), close + 1
            close_line = line_at(c.start())
        if indent and body:
            strip = re.compile(rf"^ {{1,{len(indent)}}}", re.MULTILINE)
            body = strip.sub("", body)
        lang = info.split()[0].lower() if info else ""
        out.append(Fence(run, lang, body, opened, close_line, m.start(), end))
    return out


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return [(f.lang, f.body) for f in find_fences(text)]


def code_blocks(text: str) -> list[str]:
    """The bodies of the fenced blocks of `text`."""
    return [f.body for f in find_fences(text)]


def split_fences(text: str) -> tuple[list[str], str]:
    """(bodies of the fenced blocks, the text outside them, fence lines removed) of `text`."""
    text = normalise_newlines(text)
    fences = find_fences(text)
    return [f.body for f in fences], "".join(_outside(text, fences))


def strip_fenced(text: str, sep: str = " ") -> str:
    """`text` with every fenced block (fences included) replaced by `sep`: the prose around code."""
    text = normalise_newlines(text)
    return sep.join(_outside(text, find_fences(text)))


def _outside(text: str, fences: list[Fence]) -> list[str]:
    """The pieces of normalised `text` before, between and after `fences`."""
    parts, pos = [], 0
    for f in fences:
        parts.append(text[pos : f.start])
        pos = f.end
    parts.append(text[pos:])
    return parts


def is_fence_line(line: str) -> bool:
    """Whether `line` is a fence line on its own (opening or closing) by the rule above."""
    m = _CANDIDATE.match(line.rstrip("\r\n"))
    return m is not None and not (m.group(2)[0] == "`" and "`" in m.group(3))


def has_unclosed_fence(text: str) -> bool:
    """Whether a fenced block of `text` is never closed."""
    return any(not f.closed for f in find_fences(text))
