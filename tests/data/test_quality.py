"""Lint and duplicate detection: nothing is dropped without a reason."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bbjcoder.data.convert import example_to_record
from bbjcoder.data.fences import split_fences
from bbjcoder.data.quality import (
    DedupConfig,
    MinHasher,
    clean_records,
    jaccard,
    lint_record,
    lsh_params,
    token_hashes,
)
from bbjcoder.data.records import Record
from bbjcoder.data.validate import validate_paths

FIXTURES = Path(__file__).parent / "fixtures"


def _record(ident: str, answer: str, type_: str = "completion", user: str = "Write it.") -> Record:
    return Record(
        ident, f"{ident}.md", type_, ("all",), (("system", "s"), ("user", user), ("assistant", answer))
    )


def test_near_duplicate_pair_is_merged_into_the_earlier_record() -> None:
    result = validate_paths([FIXTURES / "near-dup"], check_code=False)
    records = [example_to_record(e) for e in result.valid_examples()]
    report = clean_records(records)
    assert [r.id for r in report.kept] == ["loops/count-down", "loops/count-up"]
    (entry,) = report.rejected
    assert entry["id"] == "loops/count-up-again"
    assert entry["reason"] == "near duplicate" and entry["duplicate_of"] == "loops/count-up"
    assert 0.85 <= entry["similarity"] < 1.0


def test_threshold_is_configurable() -> None:
    result = validate_paths([FIXTURES / "near-dup"], check_code=False)
    records = [example_to_record(e) for e in result.valid_examples()]
    assert len(clean_records(records, DedupConfig(threshold=0.95)).kept) == 3


def test_exact_duplicates_ignore_case_and_whitespace() -> None:
    a = _record("a", "```bbj\nPRINT  1\n```")
    b = _record("b", "```bbj\nprint 1\n```\n")
    report = clean_records([a, b], DedupConfig(near=False))
    assert [r.id for r in report.kept] == ["a"]
    assert report.rejected[0]["reason"] == "exact duplicate" and report.rejected[0]["duplicate_of"] == "a"


def test_lint_rejects_answers_without_required_code() -> None:
    prose = lint_record(_record("p", "Use a FOR loop."))
    assert prose.errors == ["no code in the assistant answer, but a completion answer needs code"]
    unfenced = lint_record(_record("u", 'Here:\nx = 1\nPRINT "x is ", x'))
    assert unfenced.errors == ["missing code fences: the answer has BBj code outside a ```bbj block"]
    unbalanced = lint_record(_record("b", "```bbj\nPRINT 1\n"))
    assert "unbalanced code fence in the assistant answer" in unbalanced.errors
    assert lint_record(_record("c", "It prints 1.", type_="comprehension")).errors == []
    # prose that names statements is not code
    prose_q = _record("q", "GOSUB jumps to a label.\nRETURN comes back to the caller.", type_="explanation")
    assert lint_record(prose_q).errors == []


def test_lint_warns_about_whitespace_problems() -> None:
    warnings = lint_record(
        _record("w", "```bbj\nFOR i = 1 TO 2 \n\tPRINT i\n    PRINT i\nNEXT i\n```\r\nok")
    ).warnings
    assert "trailing whitespace in code" in warnings
    assert "code indents with both tabs and spaces" in warnings
    assert "mixed line endings in the assistant message" in warnings


def test_every_dropped_record_is_accounted_for() -> None:
    records = [_record(f"r{i}", f"```bbj\nPRINT {i % 3}\n```") for i in range(9)] + [
        _record("r0", "```bbj\nX=1\n```")
    ]
    report = clean_records(records)
    assert len(report.kept) + len(report.rejected) == len(records)
    assert {e["reason"] for e in report.rejected} == {"exact duplicate", "duplicate id"}


def test_minhash_estimates_jaccard() -> None:
    hasher = MinHasher(num_perm=256)
    words = [f"w{i}" for i in range(400)]
    texts = [" ".join(words), " ".join(words[:300] + [f"x{i}" for i in range(100)])]
    a, b = (hasher.shingles(t) for t in texts)
    estimate = float(np.mean(hasher.signature_of([texts[0]]) == hasher.signature_of([texts[1]])))
    assert 0.5 < jaccard(a, b) < 0.7
    assert abs(estimate - jaccard(a, b)) < 0.1


def test_fence_splitting_matches_the_regex_on_odd_input() -> None:
    md = "Intro\n```bbj\nPRINT 1\n```\nmid ```inline``` text\n~~~\nX=2\n~~~\n"
    blocks, prose = split_fences(md)
    assert blocks == ["PRINT 1\n", "X=2\n"]
    assert "Intro" in prose and "PRINT" not in prose
    assert split_fences("a\r\n```bbj\r\nY=1\r\n```\r\n")[0] == ["Y=1\n"]


def test_lsh_parameters_keep_recall_at_the_threshold() -> None:
    for threshold in (0.5, 0.7, 0.85, 0.95):
        bands, rows = lsh_params(threshold, 128)
        assert bands * rows <= 128
        assert 1 - (1 - threshold**rows) ** bands >= 0.98


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_numpy_tokenizer_matches_the_regex_on_ascii(text: str) -> None:
    tokens = re.findall(r"\w+|[^\w\s]", text)
    hashes, counts = token_hashes([text, text])
    assert counts.tolist() == [len(tokens)] * 2
    # equal tokens hash equally, different tokens (almost surely) differently
    first = hashes[: len(tokens)].tolist()
    assert len(set(first)) == len(set(tokens))
