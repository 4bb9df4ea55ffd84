"""Dataset statistics: counts and the token-length histogram."""

from __future__ import annotations

import pytest

from bbjcoder.data.records import Record
from bbjcoder.data.stats import approx_tokens, compute_stats, public_stats, render_tables, write_histogram


def _rec(i: int, gen: tuple[str, ...], type_: str, difficulty: str | None) -> Record:
    return Record(
        f"t/{i}", "s", type_, gen, (("system", "s"), ("user", "one two"), ("assistant", "x = 1")), difficulty
    )


@pytest.fixture
def stats() -> dict:
    train = [
        _rec(1, ("all",), "completion", "basic"),
        _rec(2, ("bbj-gui", "dwc"), "completion", "advanced"),
        _rec(3, ("dwc",), "migration", None),
    ]
    return compute_stats({"train": train, "val": [_rec(4, ("all",), "explanation", "basic")]})


def test_counts_by_generation_type_difficulty(stats: dict) -> None:
    assert stats["records"] == 4
    assert stats["per_split"] == {"train": 3, "val": 1}
    assert stats["by_generation"]["dwc"] == {"completion": {"advanced": 1}, "migration": {"unset": 1}}
    assert stats["by_generation"]["bbj-gui"] == {"completion": {"advanced": 1}}
    assert stats["by_generation"]["all"] == {"completion": {"basic": 1}, "explanation": {"basic": 1}}
    assert stats["by_type"] == {"completion": 2, "migration": 1, "explanation": 1}


def test_token_lengths_use_the_approximation(stats: dict) -> None:
    assert approx_tokens("x = 1") == 3
    assert approx_tokens('PRINT "a,b"') == 6
    per_record = approx_tokens("s") + approx_tokens("one two") + approx_tokens("x = 1")
    assert stats["tokens"]["total"] == 4 * per_record
    assert "_lengths" not in public_stats(stats)


def test_histogram_png_is_written(stats: dict, tmp_path) -> None:
    path = write_histogram(stats, tmp_path / "hist.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tables_render(stats: dict) -> None:
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
    assert result["tokens"]["total"] == 1 + 2 + 3
