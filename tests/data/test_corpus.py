"""The stage-1 corpus builder: decoding, dedup, provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbjcoder.data.corpus import DecodeError, build_corpus, decode_source

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def result():
    return build_corpus([FIXTURES / "corpus"])


def test_collects_only_configured_extensions(result) -> None:
    sources = {r["source"].split("/")[-1] for r in result.records} | {
        r["source"].split("/")[-1] for r in result.rejected
    }
    assert "notes.py" not in sources
    assert result.files_seen == 7


def test_undecodable_and_binary_files_are_errors_with_byte_offsets(result) -> None:
    errors = "\n".join(result.errors)
    assert "undecodable.bbj: cannot decode: byte 0x81 at offset 21" in errors
    assert "tokenized.bbx: binary file (NUL byte at offset 0)" in errors


def test_cp1252_fallback_and_bom(result) -> None:
    by_name = {r["source"].split("/")[-1]: r for r in result.records}
    assert by_name["cp1252.src"]["encoding"] == "cp1252"
    assert "€" in by_name["cp1252.src"]["text"] and "Grüße" in by_name["cp1252.src"]["text"]
    assert by_name["bom.bbj"]["encoding"] == "utf-8-sig"
    assert by_name["bom.bbj"]["text"].startswith("REM with a BOM")


def test_identical_files_are_kept_once_and_reported(result) -> None:
    dups = [r for r in result.rejected if r["reason"] == "identical file"]
    assert len(dups) == 1
    assert dups[0]["source"].endswith("orders/post.bbj") and dups[0]["duplicate_of"].endswith(
        "orders/post-copy.src"
    )
    kept = next(r for r in result.records if r["source"].endswith("post-copy.src"))
    assert kept["text"] == 'REM Post an order\nOPEN (1)"orders.dat"\nWRITE RECORD (1)rec$\nCLOSE (1)\nEND\n'
    assert kept["lines"] == 5
    assert len(kept["id"]) == 64


def test_empty_files_are_reported(result) -> None:
    assert any(r["reason"] == "empty file" and r["source"].endswith("empty.bbj") for r in result.rejected)


def test_fallback_encodings_are_configurable() -> None:
    data = b'PRINT "\x81\x8d"'
    with pytest.raises(DecodeError):
        decode_source(data, "x.bbj")
    text, enc = decode_source(data, "x.bbj", fallbacks=("latin-1",))
    assert enc == "latin-1" and text.startswith("PRINT")


def test_extension_filter(tmp_path) -> None:
    res = build_corpus([FIXTURES / "corpus"], extensions=[".bbj"])
    assert all(r["source"].endswith(".bbj") for r in res.records + res.rejected)
