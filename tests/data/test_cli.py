"""The `bbjcoder data ...` commands end to end: files written and exit codes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_validate_exit_codes(run_cli) -> None:
    assert run_cli("data", "validate", str(FIXTURES / "valid"))[0] == 0
    code, _, err = run_cli("data", "validate", "--no-check", str(FIXTURES / "invalid"))
    assert code == 1
    assert "unknown-field.md:5: error: unknown field 'author'" in err
    # warnings pass, unless --strict
    assert run_cli("data", "validate", "--no-check", str(FIXTURES / "warnings"))[0] == 0
    assert run_cli("data", "validate", "--no-check", "--strict", str(FIXTURES / "warnings"))[0] == 1
    assert run_cli("data", "validate", "no-such-dir")[0] == 2


def test_validate_fails_on_checker_errors(run_cli) -> None:
    code, _, err = run_cli("data", "validate", str(FIXTURES / "invalid" / "checker-fails.md"))
    assert code == 1 and "checker-fails.md:12: error: BBj checker:" in err


def test_validate_json_lists_problems(run_cli) -> None:
    code, out, _ = run_cli(
        "data", "validate", "--json", "--no-check", str(FIXTURES / "invalid" / "all-in-list.md")
    )
    assert code == 1
    report = json.loads(out)
    assert report["errors"] == 1 and report["problems"][0]["line"] == 4


def test_convert_split_stats_pipeline(run_cli, tmp_path: Path) -> None:
    code, _, _ = run_cli("data", "convert", str(FIXTURES / "valid"), str(FIXTURES / "near-dup"))
    assert code == 0
    assert len((tmp_path / "dataset/converted.jsonl").read_text().splitlines()) == 8
    assert run_cli("data", "split", "--test-share", "0.2", "--val-share", "0.2")[0] == 0
    manifest = json.loads((tmp_path / "dataset/manifest.json").read_text())
    kept = sum(manifest["files"][s]["records"] for s in ("train", "val", "test"))
    assert kept == 7 and manifest["files"]["rejected"]["records"] == 1
    rejected = [json.loads(x) for x in (tmp_path / "dataset/rejected.jsonl").read_text().splitlines()]
    assert rejected[0]["duplicate_of"] == "loops/count-up"
    assert run_cli("data", "stats")[0] == 0
    stats = json.loads((tmp_path / "dataset/stats.json").read_text())
    assert stats["records"] == 7
    assert (tmp_path / "dataset/token_lengths.png").stat().st_size > 1000


def test_convert_lists_invalid_examples_as_rejected(run_cli, tmp_path: Path) -> None:
    code, _, _ = run_cli("data", "convert", "--no-check", str(FIXTURES / "valid"), str(FIXTURES / "invalid"))
    assert code == 1
    rejected = (tmp_path / "dataset/converted.rejected.jsonl").read_text().splitlines()
    assert len(rejected) == 13  # every invalid fixture but checker-fails (not checked here)
    assert all(json.loads(line)["reason"].startswith("invalid example: line ") for line in rejected)
    assert len((tmp_path / "dataset/converted.jsonl").read_text().splitlines()) == 6


def test_import_keeps_good_lines(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("data", "import", str(FIXTURES / "import" / "chatml.jsonl"))
    assert code == 1  # some lines were rejected: the command did not import everything asked
    assert len((tmp_path / "dataset/imported.jsonl").read_text().splitlines()) == 5
    assert len((tmp_path / "dataset/imported.rejected.jsonl").read_text().splitlines()) == 5
    assert "chatml.jsonl:4: rejected: malformed: invalid JSON" in err
    # split picks up imported records and the import's rejects
    assert run_cli("data", "split")[0] == 0
    assert len((tmp_path / "dataset/rejected.jsonl").read_text().splitlines()) == 5  # all kept by lint


def test_corpus_command(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("data", "corpus", str(FIXTURES / "corpus"))
    assert code == 1  # the undecodable and binary fixtures
    assert "cannot decode: byte 0x81 at offset 21" in err
    records = [json.loads(x) for x in (tmp_path / "dataset/corpus.jsonl").read_text().splitlines()]
    assert len(records) == 3
    assert set(records[0]) == {"id", "text", "source", "lines", "encoding"}
    code, _, _ = run_cli(
        "data", "corpus", "--ext", ".src", "-o", "c.jsonl", str(FIXTURES / "corpus" / "orders")
    )
    assert code == 0 and len((tmp_path / "c.jsonl").read_text().splitlines()) == 1


def test_new_scaffolds_a_valid_example(run_cli, tmp_path: Path) -> None:
    args = ["data", "new", "--title", "Read a keyed record", "--type", "migration", "-g", "dwc"]
    args += ["--from", "character", "--to", "dwc", "--topic", "files", "--root", "td"]
    assert run_cli(*args)[0] == 0
    path = tmp_path / "td/files/read-a-keyed-record.md"
    assert path.is_file()
    code, _, err = run_cli("data", "validate", "--no-check", str(path))
    # An untouched scaffold is not an example yet: its placeholders are errors (and only they are).
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert code == 1 and errors and all("unfilled template placeholder" in ln for ln in errors)
    assert run_cli(*args)[0] == 2  # exists already
    assert (
        run_cli(
            "data",
            "new",
            "--title",
            "x",
            "--type",
            "completion",
            "-g",
            "all",
            "--topic",
            "t",
            "--root",
            "td",
            "--difficulty",
            "easy",
        )[0]
        == 2
    )


def test_schema_command_checks_the_shipped_schema(run_cli) -> None:
    path = str(REPO / "training-data/schema/example.schema.json")
    assert run_cli("data", "schema", "--check", "--path", path)[0] == 0


def test_build_lists_corpus_rejects_in_rejected_jsonl(run_cli, tmp_path: Path) -> None:
    code, _, _ = run_cli(
        "data", "build", "--training-data", str(FIXTURES / "valid"), "--corpus", str(FIXTURES / "corpus")
    )
    assert code == 0  # left-out inputs fail only with --strict
    entries = [json.loads(x) for x in (tmp_path / "dataset/rejected.jsonl").read_text().splitlines()]
    assert {e["reason"].split(":")[0] for e in entries if e["stage"] == "corpus"} == {
        "undecodable",
        "identical file",
        "empty file",
    }
    strict = run_cli(
        "data",
        "build",
        "--strict",
        "--training-data",
        str(FIXTURES / "valid"),
        "--corpus",
        str(FIXTURES / "corpus"),
    )
    assert strict[0] == 1


def test_build_on_shipped_data(run_cli, tmp_path: Path) -> None:
    """The demo's data stage on the shipped training-data and corpus (content counts are not checked)."""
    start = time.monotonic()
    code, out, err = run_cli(
        "data",
        "build",
        "--training-data",
        str(REPO / "training-data"),
        "--corpus",
        str(REPO / "corpus"),
        "--import",
        str(FIXTURES / "import" / "chatml.jsonl"),
    )
    assert code in (0, 1), err  # 1 only when a shipped example or corpus file is invalid
    for name in ("train", "val", "test", "rejected"):
        assert (tmp_path / "dataset" / f"{name}.jsonl").is_file()
    manifest = json.loads((tmp_path / "dataset/manifest.json").read_text())
    assert sum(manifest["files"][s]["records"] for s in ("train", "val", "test")) > 0
    assert (tmp_path / "dataset/corpus.jsonl").stat().st_size > 0
    assert (tmp_path / "dataset/stats.json").is_file()
    # the final rejected.jsonl lists everything left out: import rejects (5) at least
    reasons = [json.loads(x)["stage"] for x in (tmp_path / "dataset/rejected.jsonl").read_text().splitlines()]
    assert reasons.count("import") == 5
    assert time.monotonic() - start < 30
    if os.environ.get("BBJCODER_SHOW_BUILD"):
        print(out, err)
