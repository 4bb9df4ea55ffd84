"""`data corpus` decoding, one explicit rule per file: strict UTF-8, else the legacy code page for
files with no UTF-8 in them, else rejected with the byte offset; binaries and UTF-16 recognised."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bbjcoder.bbj.runner import DEFAULT_EXTENSIONS
from bbjcoder.data.corpus import DecodeError, build_corpus, decode_source

UTF8 = 'REM Grüße\nPRINT "Größe"\n'.encode()


def test_utf8_file_with_one_stray_cp1252_byte_is_rejected_not_garbled() -> None:
    data = UTF8 + b'PRINT "caf\xe9"\n'  # one cp1252 é in an otherwise UTF-8 file
    with pytest.raises(DecodeError, match=r"mixed encodings: .*byte 0xe9 at offset 38") as exc:
        decode_source(data, "mixed.bbj")
    assert exc.value.path == "mixed.bbj"


def test_pure_cp1252_file_is_decoded_as_cp1252() -> None:
    text, enc = decode_source("REM Grüße €\n".encode("cp1252"), "old.src")
    assert (text, enc) == ("REM Grüße €\n", "cp1252")


def test_utf8_file_stays_utf8() -> None:
    assert decode_source(UTF8, "new.bbj") == (UTF8.decode(), "utf-8")


def test_random_binary_without_nul_bytes_is_rejected() -> None:
    rng = random.Random(0)
    data = bytes(
        b for b in (rng.randrange(256) for _ in range(4000)) if b not in (0, 0x81, 0x8D, 0x8F, 0x90, 0x9D)
    )
    with pytest.raises(DecodeError, match="binary file"):
        decode_source(data, "blob.bbj")
    with pytest.raises(DecodeError, match="binary file"):
        decode_source(data, "blob.bbj", fallbacks=("latin-1",))


@pytest.mark.parametrize("enc", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_decoded(enc: str) -> None:
    text = 'PRINT "Grüße"\n'
    data = (b"\xff\xfe" if enc == "utf-16-le" else b"\xfe\xff" if enc == "utf-16-be" else b"") + text.encode(
        enc
    )
    assert decode_source(data, "wide.bbj") == (text, "utf-16")


def test_utf16_without_bom_gets_conversion_advice_not_the_tokenized_program_one() -> None:
    with pytest.raises(DecodeError, match="UTF-16 without a byte-order mark") as exc:
        decode_source('PRINT "hi"\n'.encode("utf-16-le"), "wide.bbj")
    assert "iconv" in (exc.value.hint or "")
    assert "tokenized" not in exc.value.message


def test_corpus_reports_each_file_with_its_rule(tmp_path: Path) -> None:
    (tmp_path / "a.bbj").write_bytes(UTF8)
    (tmp_path / "b.src").write_bytes("REM Grüße\n".encode("cp1252"))
    (tmp_path / "c.bbj").write_bytes(UTF8 + b"REM \xe9\n")
    result = build_corpus([tmp_path])
    assert {r["source"].split("/")[-1]: r["encoding"] for r in result.records} == {
        "a.bbj": "utf-8",
        "b.src": "cp1252",
    }
    [rej] = result.rejected
    assert rej["source"].endswith("c.bbj") and "mixed encodings" in rej["reason"]


@pytest.mark.skipif(
    ".txt" in DEFAULT_EXTENSIONS, reason="bbj.runner's program extensions (issue 10) not merged yet"
)
def test_readme_txt_is_not_collected_by_default(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("How to install.\n")
    (tmp_path / "prog.bbj").write_text('PRINT "x"\n')
    result = build_corpus([tmp_path])
    assert [r["source"].split("/")[-1] for r in result.records] == ["prog.bbj"]
    assert result.files_seen == 1
