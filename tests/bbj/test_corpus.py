"""The checker against our corpus: pass cases must be clean, fail cases flag exactly the listed lines.

Corpus format (tests/bbj/corpus/{pass,fail}/*.txt): `### case: <id> [lines: 3,7]` starts a case,
which runs to the next case header or EOF; trailing blank lines are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from bbjcoder.bbj import check_source

CORPUS = Path(__file__).parent / "corpus"
_HEADER = re.compile(r"^### case:\s*(?P<id>\S+)(?:\s+lines:\s*(?P<lines>[\d,\s]+))?\s*$")


@dataclass(frozen=True)
class Case:
    kind: str
    id: str
    source: str
    lines: frozenset[int]
    where: str


def parse_corpus_file(path: Path, kind: str) -> list[Case]:
    """The cases of one corpus file, in order."""
    cases: list[Case] = []
    header: tuple[str, frozenset[int], int] | None = None
    body: list[str] = []
    lines_of_file = path.read_text(encoding="utf-8").splitlines()
    for number, raw in enumerate([*lines_of_file, "### case: <eof>"], start=1):
        match = _HEADER.match(raw)
        if match is None:
            if raw.startswith("### case:"):
                raise AssertionError(f"{path.name}:{number}: malformed case header {raw!r}")
            if header is not None:
                body.append(raw)
            continue
        if header is not None:
            while body and not body[-1].strip():
                body.pop()
            cid, lines, at = header
            cases.append(Case(kind, cid, "\n".join(body) + "\n", lines, f"{path.name}:{at}"))
        spec = match.group("lines") or ""
        header = (match.group("id"), frozenset(int(x) for x in re.split(r"[,\s]+", spec) if x), number)
        body = []
    return cases


def load_cases(kind: str) -> list[Case]:
    return [case for path in sorted((CORPUS / kind).glob("*.txt")) for case in parse_corpus_file(path, kind)]


PASS = load_cases("pass")
FAIL = load_cases("fail")


def test_corpus_case_ids_are_unique() -> None:
    ids = [c.id for c in PASS + FAIL]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate case ids: {dupes}"


def test_fail_cases_name_the_lines_bbjcpl_flags() -> None:
    missing = [c.where for c in FAIL if not c.lines]
    assert not missing, f"fail cases without `lines:`: {missing}"


@pytest.mark.parametrize("case", PASS, ids=[c.id for c in PASS])
def test_pass_case_has_no_diagnostics(case: Case) -> None:
    diags = check_source(case.source)
    assert diags == [], f"{case.where}: expected clean, got " + "; ".join(
        f"{d.line}:{d.column}: {d.message}" for d in diags
    )


@pytest.mark.parametrize("case", FAIL, ids=[c.id for c in FAIL])
def test_fail_case_flags_exactly_the_expected_lines(case: Case) -> None:
    diags = check_source(case.source)
    flagged = {d.line for d in diags}
    assert flagged == set(case.lines), f"{case.where}: expected lines {sorted(case.lines)}, got " + "; ".join(
        f"{d.line}:{d.column}: {d.message}" for d in diags
    )
