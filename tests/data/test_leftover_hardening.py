"""Issue 15 items whose behaviour was fixed without a test of its own: `data corpus` collects
exactly the program extensions, and `data build --strict` fails when one curated example of many
is left out."""

from __future__ import annotations

import shutil
from pathlib import Path

from bbjcoder.data.corpus import build_corpus

PROGRAM_EXTENSIONS = (".bbj", ".src", ".bbl", ".bbx", ".bbjt", ".aon", ".prc")


def test_corpus_collects_every_program_extension_and_nothing_else(tmp_path: Path) -> None:
    for n, ext in enumerate(PROGRAM_EXTENSIONS):
        (tmp_path / f"prog{n}{ext}").write_text(f'PRINT "{ext}"\n')
    for other in ("README.txt", "form.arc", "notes.md", "layout.cdf"):
        (tmp_path / other).write_text('PRINT "not a program"\n')
    result = build_corpus([tmp_path])
    collected = sorted(Path(r["source"]).suffix for r in result.records)
    assert collected == sorted(PROGRAM_EXTENSIONS)
    assert result.files_seen == len(PROGRAM_EXTENSIONS)


def test_build_strict_exits_1_when_one_curated_example_of_many_is_left_out(
    run_cli, tmp_path: Path, fixtures: Path
) -> None:
    td = tmp_path / "td"
    shutil.copytree(fixtures / "valid", td)
    shutil.copy(fixtures / "invalid" / "checker-fails.md", td / "checker-fails.md")
    (tmp_path / "no-corpus").mkdir()
    common = ["data", "build", "--training-data", str(td), "--corpus", str(tmp_path / "no-corpus")]
    common += ["-o", str(tmp_path / "ds")]
    assert run_cli(*common)[0] == 0  # not strict: listed in rejected.jsonl, the build goes on
    code, _, err = run_cli(*common, "--strict")
    assert code == 1
    assert "left out" in err
    assert "checker-fails" in (tmp_path / "ds" / "rejected.jsonl").read_text(encoding="utf-8")
