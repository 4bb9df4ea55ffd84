"""Line-oriented lexing of BBj source: physical lines -> logical lines -> tokens.

A line whose first character is ':' continues the previous line (the ':' is dropped); a logical line
keeps a map back to physical (line, column) so diagnostics point at the text the user wrote.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

# One alternation, tried left to right at each position; group 1 is the token text. The last
# alternative takes any single non-blank character, so tokenizing never fails: the parser reports it.
# Tokens are plain strings (the parser classifies them by their first character), which keeps the
# hot path free of per-token objects. Multi-character JS/C operators are single tokens so the
# parser can name them in its message ("`==` is not BBj").
TOKEN_RE = re.compile(
    r"""[ \t\r\f\v]*(
        "[^"]*(?:""[^"]*)*"           # string literal, "" is an escaped quote
      | "[^"]*                        # unterminated string literal (runs to end of line)
      | [A-Za-z_]\w*[$%!@]?           # identifier or keyword, with its type suffix
      | \d+\.?\d*|\.\d+               # number
      | ::.*?::                       # ::file.bbj:: program path (may hold C:\ drive colons)
      | \$[0-9A-Fa-f]*\$              # hex string $0A0D$
      | '\w*'                         # mnemonic 'CS'
      | <>|<=|>=|@\(|//|/\*|\*/|==|!=|&&|\|\||\+=|-=|\+\+|=>|->
      | [^ \t\r\f\v]                  # anything else, one character
    )""",
    re.VERBOSE | re.ASCII,
)

_CONT_PREFIX = ":"


@dataclass(frozen=True)
class LogicalLine:
    """A statement line after joining ':' continuation lines.

    `starts[k]` is the offset in `text` where physical line `first_line + k` begins and
    `col_shift[k]` how many characters of that physical line were dropped (the ':').
    """

    text: str
    first_line: int
    starts: tuple[int, ...] = (0,)
    col_shift: tuple[int, ...] = (0,)

    def position(self, offset: int) -> tuple[int, int]:
        """Physical (line, column), both 1-based, of a character offset in `text`."""
        k = bisect_right(self.starts, offset) - 1 if len(self.starts) > 1 else 0
        return self.first_line + k, offset - self.starts[k] + self.col_shift[k] + 1


def logical_lines(text: str) -> Iterator[LogicalLine]:
    """Split source text into logical lines (1-based physical line numbers, '\\r\\n' aware)."""
    if text[:1] == "\ufeff":  # a UTF-8 byte-order mark is not part of the first line
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    n = len(lines)
    i = 0
    while i < n:
        line = lines[i]
        j = i + 1
        if j < n and lines[j][:1] == _CONT_PREFIX:
            parts = [line]
            starts = [0]
            shifts = [0]
            offset = len(line)
            while j < n and lines[j][:1] == _CONT_PREFIX:
                piece = lines[j][1:]
                starts.append(offset)
                shifts.append(1)
                parts.append(piece)
                offset += len(piece)
                j += 1
            yield LogicalLine("".join(parts), i + 1, tuple(starts), tuple(shifts))
        else:
            yield LogicalLine(line, i + 1)
        i = j


def tokenize(text: str) -> list[str]:
    """Token strings of one logical line (no positions: see `token_offsets`)."""
    return TOKEN_RE.findall(text)


def token_offsets(text: str) -> list[int]:
    """Start offset of every token of `tokenize(text)`, computed only when a diagnostic needs it."""
    return [m.start(1) for m in TOKEN_RE.finditer(text)]
