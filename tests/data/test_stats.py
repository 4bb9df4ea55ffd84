"""Dataset statistics: counts and the token-length histogram."""

from __future__ import annotations

import json

import pytest

from bbjcoder.data.records import Record
from bbjcoder.data.stats import (
    StatsWithLengths,
    approx_tokens,
    compute_stats,
    read_stats,
    render_tables,
    write_histogram,
    write_stats_json,
)


def _rec(i: int, gen: tuple[str, ...], type_: str, difficulty: str | None) -> Record:
    return Record(
        f"t/{i}", "s", type_, gen, (("system", "s"), ("user", "one two"), ("assistant", "x = 1")), difficulty
    )


@pytest.fixture
def stats() -> StatsWithLengths:
    train = [
        _rec(1, ("all",), "completion", "basic"),
        _rec(2, ("bbj-gui", "dwc"), "completion", "advanced"),
        _rec(3, ("dwc",), "migration", None),
    ]
    return compute_stats({"train": train, "val": [_rec(4, ("all",), "explanation", "basic")]})


def test_counts_by_generation_type_difficulty(stats: StatsWithLengths) -> None:
    s = stats.stats
    assert s.records == 4
    assert s.per_split == {"train": 3, "val": 1}
    assert s.by_generation["dwc"] == {"completion": {"advanced": 1}, "migration": {"unset": 1}}
    assert s.by_generation["bbj-gui"] == {"completion": {"advanced": 1}}
    assert s.by_generation["all"] == {"completion": {"basic": 1}, "explanation": {"basic": 1}}
    assert s.by_type == {"completion": 2, "migration": 1, "explanation": 1}


def test_token_lengths_use_the_approximation(stats: StatsWithLengths, tmp_path) -> None:
    assert approx_tokens("x = 1") == 3
    assert approx_tokens('PRINT "a,b"') == 6
    per_record = approx_tokens("s") + approx_tokens("one two") + approx_tokens("x = 1")
    assert stats.stats.tokens.total == 4 * per_record
    assert stats.lengths == {"train": [per_record] * 3, "val": [per_record]}
    # stats.json holds the counts, not the per-record lengths, and reads back as the same record
    path = write_stats_json(stats.stats, tmp_path / "stats.json")
    written = json.loads(path.read_text(encoding="utf-8"))
    assert list(written) == [
        "records",
        "per_split",
        "by_type",
        "by_difficulty",
        "by_generation",
        "by_origin",
        "tokens",
    ]
    assert list(written["tokens"]) == ["tokenizer", "total", "min", "median", "p95", "max"]
    assert read_stats(path) == stats.stats


def test_read_stats_is_none_for_a_missing_or_malformed_file(tmp_path) -> None:
    assert read_stats(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
    assert read_stats(tmp_path / "bad.json") is None
    (tmp_path / "half.json").write_text('{"records": 3}', encoding="utf-8")
    assert read_stats(tmp_path / "half.json") is None


def test_histogram_png_is_written(stats: StatsWithLengths, tmp_path) -> None:
    path = write_histogram(stats, tmp_path / "hist.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tables_render(stats: StatsWithLengths) -> None:
    from rich.console import Console

    console = Console(record=True, width=140)
    for table in render_tables(stats):
        console.print(table)
    text = console.export_text()
    assert "bbj-gui" in text and "1 (0/0/1)" in text


def test_token_lengths_with_a_given_tokenizer(tmp_path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    from bbjcoder.data.stats import tokenizer_counter

    tok = tokenizers.Tokenizer(WordLevel({"[UNK]": 0, "x": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    count = tokenizer_counter(tmp_path)
    assert count("x = 1") == 3
    result = compute_stats(
        {"train": [_rec(1, ("all",), "completion", None)]}, count_tokens=count, tokenizer="word"
    )
    assert result.stats.tokens.total == 1 + 2 + 3
