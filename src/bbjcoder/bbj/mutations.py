"""One-error mutations of valid BBj, for measuring what the checker catches and where it says so.

Each kind injects one error that `bbjcpl -N` certainly rejects into one line of a program the
checker accepts. `mutants(text, kind, rng, limit)` yields `Mutant`s: the mutated text, and the line
the first diagnostic should name (the changed line; for a deleted METHODEND/CLASSEND the opener,
where a missing closer is reported, or for CLASSEND the next CLASS, which then opens inside it). `measure(...)` runs a checker over them per kind.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from bbjcoder.bbj import Diagnostic
from bbjcoder.bbj.lexer import token_offsets, tokenize

# Verbs whose misspelling is a certain error (not block closers: a misspelled METHODEND is
# reported at its METHOD, which the deleted-closer kinds cover).
_VERBS = frozenset(
    {
        "PRINT", "READ", "WRITE", "INPUT", "EXTRACT", "OPEN", "CLOSE", "GOSUB", "GOTO", "RETURN",
        "METHODRET", "WHILE", "SWITCH", "CALL", "DECLARE", "THROW", "REMOVE", "ERASE", "PROCESS_EVENTS",
        "RELEASE", "ESCAPE", "SETERR", "SETESC", "ENTER", "EXITTO", "BREAK", "CONTINUE", "REDIM",
    }
)  # fmt: skip
_KEYWORDS = _VERBS | {"REPEAT", "UNTIL", "NEXT", "WEND", "SWEND", "FIELD", "CLASS", "METHOD", "CASE"}
_SIMPLE_ASSIGN = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*[$%!]?)\s*=\s*(\S.*)$")
_IF_COMPARE = re.compile(r"^(\s*if\b.*?[\w$!%)\]\"])\s*=\s*(?=[\w\"(#$-])", re.IGNORECASE)


@dataclass(frozen=True)
class Mutant:
    kind: str
    text: str
    line: int  # 1-based line the first diagnostic should name
    changed: int  # 1-based line that was changed


@dataclass(frozen=True)
class KindResult:
    kind: str
    total: int
    caught: int
    on_line: int

    @property
    def caught_rate(self) -> float:
        return self.caught / self.total if self.total else 0.0

    @property
    def on_line_rate(self) -> float:
        return self.on_line / self.total if self.total else 0.0


def _code_lines(lines: Sequence[str]) -> list[int]:
    """0-based indices of single-line statements with code and no REM (safe to mutate)."""
    out = []
    n = len(lines)
    for k, line in enumerate(lines):
        if line[:1] == ":" or (k + 1 < n and lines[k + 1][:1] == ":"):
            continue  # part of a ':' continuation group
        toks = tokenize(line)
        if not toks or any(t.upper() in ("REM", "TABLE", "DATA") for t in toks):
            continue
        out.append(k)
    return out


def _drop_token(lines: list[str], k: int, token: str, rng: random.Random) -> list[str] | None:
    toks = tokenize(lines[k])
    picks = [j for j, t in enumerate(toks) if t == token]
    if not picks:
        return None
    j = rng.choice(picks)
    at = token_offsets(lines[k])[j]
    return [*lines[:k], lines[k][:at] + lines[k][at + 1 :], *lines[k + 1 :]]


def _unbalanced_quote(lines: list[str], k: int, rng: random.Random) -> list[str] | None:
    toks = tokenize(lines[k])
    picks = [j for j, t in enumerate(toks) if t[:1] == '"' and len(t) >= 2 and t[-1] == '"']
    if not picks:
        return None
    j = rng.choice(picks)
    end = token_offsets(lines[k])[j] + len(toks[j]) - 1
    return [*lines[:k], lines[k][:end] + lines[k][end + 1 :], *lines[k + 1 :]]


def _stray_operator(lines: list[str], k: int, rng: random.Random) -> list[str] | None:
    match = _SIMPLE_ASSIGN.match(lines[k])
    if not match or ";" in lines[k] or lines[k].rstrip().endswith(","):
        return None
    return [*lines[:k], lines[k].rstrip() + " " + rng.choice("*/^"), *lines[k + 1 :]]


def _misspelled_verb(lines: list[str], k: int, rng: random.Random) -> list[str] | None:
    toks = tokenize(lines[k])
    if len(toks) < 1 or toks[0].upper() not in _VERBS or (len(toks) > 1 and toks[1] in ("=", ".", "[", ":")):
        return None
    word = toks[0]
    j = rng.randrange(1, len(word) - 2) if len(word) > 3 else 1
    typo = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    if typo.upper() in _KEYWORDS or typo == word:
        return None
    at = token_offsets(lines[k])[0]
    return [*lines[:k], lines[k][:at] + typo + lines[k][at + len(word) :], *lines[k + 1 :]]


def _function_assign(lines: list[str], k: int, rng: random.Random) -> list[str] | None:
    match = _SIMPLE_ASSIGN.match(lines[k])
    if not match or match.group(2).upper() in ("LET", "FOR", "IF", "WHILE", "UNTIL", "CASE"):
        return None
    fn = rng.choice(["str({})", "len({})", "ctrl(sysgui,105,{})", "num({})"])
    return [*lines[:k], f"{match.group(1)}{fn.format(match.group(2))} = {match.group(3)}", *lines[k + 1 :]]


def _c_operator(lines: list[str], k: int, rng: random.Random) -> list[str] | None:
    match = _IF_COMPARE.match(lines[k])
    if not match:
        return None
    end = match.end()
    head = lines[k][: match.end(1)]
    return [*lines[:k], head + " == " + lines[k][end:], *lines[k + 1 :]]


def _extra_close_paren(lines: list[str], k: int, rng: random.Random) -> list[str] | None:
    line = lines[k].rstrip()
    if not line.endswith(")") or ";" in line:
        return None
    return [*lines[:k], line + ")", *lines[k + 1 :]]


def _dropped_operator(lines: list[str], k: int, rng: random.Random) -> list[str] | None:
    toks = tokenize(lines[k])
    operand_end = ('"', ")", "]")
    picks = [
        j
        for j in range(1, len(toks) - 1)
        if toks[j] in ("+", "*", "/")
        and (toks[j - 1][:1].isalnum() or toks[j - 1][-1:] in operand_end or toks[j - 1][-1:] in "$!%")
        and (toks[j + 1][:1].isalnum() or toks[j + 1][:1] in ('"', "#"))
        and toks[j - 1].upper() not in ("THEN", "ELSE", "PRINT", "TO", "STEP", "AND", "OR")
    ]
    if not picks:
        return None
    at = token_offsets(lines[k])[rng.choice(picks)]
    return [*lines[:k], lines[k][:at] + " " + lines[k][at + 1 :], *lines[k + 1 :]]


_LINE_KINDS: dict[str, Callable[[list[str], int, random.Random], list[str] | None]] = {
    "drop ')'": lambda ls, k, r: _drop_token(ls, k, ")", r),
    "drop ']'": lambda ls, k, r: _drop_token(ls, k, "]", r),
    "drop '('": lambda ls, k, r: _drop_token(ls, k, "(", r),
    "extra ')'": _extra_close_paren,
    "unbalanced quote": _unbalanced_quote,
    "dropped binary operator": _dropped_operator,
    "stray operator": _stray_operator,
    "misspelled verb": _misspelled_verb,
    "function as assignment target": _function_assign,
    "== for =": _c_operator,
}
_CLOSERS = {"deleted methodend": ("METHODEND", "METHOD"), "deleted classend": ("CLASSEND", "CLASS")}
KINDS: tuple[str, ...] = (*_LINE_KINDS, *_CLOSERS)


def _deleted_closer(lines: list[str], kind: str, rng: random.Random, limit: int) -> Iterator[Mutant]:
    closer, opener = _CLOSERS[kind]
    opened: list[int] = []
    pairs: list[tuple[int, int]] = []
    for k, line in enumerate(lines):
        toks = tokenize(line)
        if not toks:
            continue
        word = toks[0].upper()
        if word == opener and (opener != "METHOD" or not any(t.upper() == "INTERFACE" for t in toks)):
            opened.append(k)
        elif word == closer and opened:
            pairs.append((opened.pop(), k))
        elif opener == "METHOD" and word in ("INTERFACE", "INTERFACEEND"):
            opened.clear()  # interface methods have no METHODEND
    openers = [
        k for k, line in enumerate(lines) if tokenize(line)[:1] and tokenize(line)[0].upper() == opener
    ]
    for start, end in rng.sample(pairs, min(limit, len(pairs))):
        mutated = [*lines[:end], "", *lines[end + 1 :]]
        # A missing CLASSEND shows where the next CLASS opens inside the unclosed one; with no
        # next CLASS (and for METHOD, whose next METHOD closes it) the opener is reported.
        later = [k for k in openers if k > end]
        expected = later[0] if opener == "CLASS" and later else start
        yield Mutant(kind, "\n".join(mutated) + "\n", expected + 1, end + 1)


def mutants(text: str, kind: str, rng: random.Random, limit: int) -> Iterator[Mutant]:
    """Up to `limit` one-error copies of `text` of this kind, at lines picked by `rng`."""
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if kind in _CLOSERS:
        yield from _deleted_closer(lines, kind, rng, limit)
        return
    make = _LINE_KINDS[kind]
    candidates = _code_lines(lines)
    rng.shuffle(candidates)
    made = 0
    for k in candidates:
        if made >= limit:
            return
        mutated = make(lines, k, rng)
        if mutated is None:
            continue
        made += 1
        yield Mutant(kind, "\n".join(mutated) + "\n", k + 1, k + 1)


def measure(
    texts: Iterable[str],
    check: Callable[[str], list[Diagnostic]],
    *,
    per_file: int = 3,
    seed: int = 10,
    kinds: Sequence[str] = KINDS,
) -> list[KindResult]:
    """Per kind: mutants made, caught (any diagnostic), and first diagnostic on the expected line."""
    rng = random.Random(seed)
    counts = {k: [0, 0, 0] for k in kinds}
    for text in texts:
        for kind in kinds:
            for m in mutants(text, kind, rng, per_file):
                diags = check(m.text)
                c = counts[kind]
                c[0] += 1
                if diags:
                    c[1] += 1
                    if diags[0].line == m.line:
                        c[2] += 1
    return [KindResult(k, *counts[k]) for k in kinds]


def render_table(results: Sequence[KindResult]) -> str:
    """A plain-text table: kind, mutants, caught %, first diagnostic on the injected line %."""
    rows = [f"{'kind':32} {'mutants':>8} {'caught':>8} {'on line':>8}"]
    for r in results:
        rows.append(f"{r.kind:32} {r.total:8d} {r.caught_rate:8.1%} {r.on_line_rate:8.1%}")
    total = sum(r.total for r in results)
    caught = sum(r.caught for r in results)
    on_line = sum(r.on_line for r in results)
    if total:
        rows.append(f"{'all':32} {total:8d} {caught / total:8.1%} {on_line / total:8.1%}")
    return "\n".join(rows)
