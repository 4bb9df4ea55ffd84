"""The checker against real BASIS-written BBj (../shared/bbj-real, test data only).

Published code is assumed to compile: every program file must pass except the four doubtful
language-server inputs its README names, and the three cpl-fixtures must reproduce the real
compiler's verdicts and lines. Skipped, with the reason, where the development set is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bbjcoder.bbj import check_source, parse_bbjcpl_output
from bbjcoder.bbj.runner import DEFAULT_EXTENSIONS, collect_sources, decode_source

# README of the development set: doubtful inputs that may be true rejects (file, line)
DOUBTFUL = {
    "dim-examples.bbj": 68,
    "if-statements.bbj": 9,
    "issue246.bbj": 6,
    "issue44-return.bbj": 12,
}
FIXTURES = "bbj-language-server/bbj-vscode/test/test-data/cpl-fixtures"


def program_files(root: Path) -> list[Path]:
    found = collect_sources(
        [str(root / "BBjGridExWidget"), str(root / "bbj-language-server")], DEFAULT_EXTENSIONS
    )
    return [Path(p) for p in found]


def test_every_published_program_file_passes(bbj_real: Path) -> None:
    files = program_files(bbj_real)
    assert len(files) >= 230, f"expected the 233 program files of the development set, found {len(files)}"
    rejected = []
    for path in files:
        if FIXTURES in path.as_posix() and path.stem != "no-errors":
            continue
        diags = check_source(decode_source(path.read_bytes()))
        if not diags:
            continue
        if path.name in DOUBTFUL:
            assert diags[0].line == DOUBTFUL[path.name], f"{path}: {diags[0]}"
            continue
        rejected.append(f"{path.relative_to(bbj_real)}:{diags[0].line}: {diags[0].message}")
    assert rejected == []


@pytest.mark.parametrize("name", ["no-errors", "single-error", "multiple-errors"])
def test_cpl_fixtures_reproduce_the_real_compilers_lines(bbj_real: Path, name: str) -> None:
    folder = bbj_real / FIXTURES
    real = parse_bbjcpl_output((folder / f"{name}-stderr.txt").read_text(encoding="utf-8"))
    ours = check_source((folder / f"{name}.bbj").read_text(encoding="utf-8"))
    assert sorted({d.line for d in ours}) == [d.line for d in real]
    assert (name == "no-errors") == (real == [])


def test_a_language_server_library_file_is_named_as_not_a_program(bbj_real: Path) -> None:
    library = (bbj_real / "reference" / "functions.bbl").read_text(encoding="utf-8")
    diags = check_source(library)
    assert len(diags) == 1 and diags[0].message.startswith("not a BBj program")
