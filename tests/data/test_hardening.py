"""Data-stage hardening: imports go through the checker, partial failures exit non-zero, scaffolds
are not examples until filled in, and `data new` stays inside the training-data root."""

from __future__ import annotations

import json
from pathlib import Path

from bbjcoder.data.importer import import_jsonl


def _chat(*turns: str, meta: dict | None = None) -> str:
    roles = ["user", "assistant"] * len(turns)
    obj: dict = {"messages": [{"role": r, "content": c} for r, c in zip(roles, turns, strict=False)]}
    if meta:
        obj["meta"] = meta
    return json.dumps(obj)


GOOD = _chat("Print hello in BBj.", '```bbj\nPRINT "hello"\nEND\n```')
UNTERMINATED = _chat("Print hello in BBj.", '```bbj\nPRINT "hello\nEND\n```')


def test_import_rejects_code_the_bbj_checker_rejects(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(GOOD + "\n" + UNTERMINATED + "\n")
    result = import_jsonl(src)
    assert len(result.records) == 1
    [entry] = result.rejected
    assert entry["line"] == 2
    assert "BBj checker" in entry["reason"] and "unterminated string" in entry["reason"]
    assert "assistant turn 1, ```bbj block line 1 (column 7)" in entry["reason"]


def test_import_accepts_multi_turn_conversations_keeping_every_turn(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        _chat(
            "Open a channel to orders.dat.",
            '```bbj\nOPEN (1)"orders.dat"\n```',
            "Now close it.",
            "```bbj\nCLOSE (1)\n```",
        )
        + "\n"
    )
    [record] = import_jsonl(src).records
    assert [r for r, _ in record.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert record.messages[4][1] == "```bbj\nCLOSE (1)\n```"


def test_import_refuses_turns_out_of_order(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    bad = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}
    src.write_text(json.dumps(bad) + "\n")
    [entry] = import_jsonl(src).rejected
    assert "taking turns" in entry["reason"]


def test_data_import_exits_1_when_any_line_is_rejected(run_cli, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(GOOD + "\n" + UNTERMINATED + "\n{bad json\n")
    code, out, _ = run_cli("data", "import", str(src), "-o", str(tmp_path / "out.jsonl"))
    assert code == 1
    assert "2 rejected" in out
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 1
    assert len((tmp_path / "out.rejected.jsonl").read_text().splitlines()) == 2


def test_data_import_exits_0_when_everything_was_imported(run_cli, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(GOOD + "\n")
    assert run_cli("data", "import", str(src), "-o", str(tmp_path / "out.jsonl"))[0] == 0


def test_untouched_data_new_template_fails_validate_and_is_left_out_of_build(run_cli, tmp_path: Path) -> None:
    root = tmp_path / "td"
    args = ["data", "new", "--title", "Sum a column", "--type", "explanation", "-g", "all"]
    assert run_cli(*args, "--topic", "misc", "--root", str(root))[0] == 0
    path = root / "misc" / "sum-a-column.md"
    code, _, err = run_cli("data", "validate", str(path))
    assert code == 1 and "unfilled template placeholder" in err
    (tmp_path / "no-corpus").mkdir()
    code, _, _ = run_cli(
        "data",
        "build",
        "--training-data",
        str(root),
        "--corpus",
        str(tmp_path / "no-corpus"),
        "-o",
        str(tmp_path / "ds"),
    )
    assert (tmp_path / "ds" / "train.jsonl").read_text() == ""
    rejected = [json.loads(x) for x in (tmp_path / "ds" / "rejected.jsonl").read_text().splitlines()]
    assert any("unfilled template placeholder" in r["reason"] for r in rejected)


def test_build_strict_exits_1_when_import_lines_were_rejected(
    run_cli, tmp_path: Path, fixtures: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(UNTERMINATED + "\n")
    common = ["data", "build", "--training-data", str(fixtures / "valid"), "--import", str(bad)]
    (tmp_path / "no-corpus").mkdir()
    common += ["--corpus", str(tmp_path / "no-corpus"), "-o", str(tmp_path / "ds")]
    assert run_cli(*common)[0] == 0  # not strict: listed in rejected.jsonl, the build goes on
    code, _, err = run_cli(*common, "--strict")
    assert code == 1
    assert "left out" in err


def test_data_new_refuses_topic_or_slug_leaving_the_root(run_cli, tmp_path: Path) -> None:
    root = tmp_path / "td"
    base = ["data", "new", "--title", "x", "--type", "explanation", "-g", "all", "--root", str(root)]
    for extra in (["--topic", "../x"], ["--topic", "misc", "--slug", "../../y"], ["--topic", "/etc"]):
        code, _, err = run_cli(*base, *extra)
        assert code == 2, extra
        assert "would leave the training-data root" in err
    assert not any(tmp_path.rglob("x.md")) and not any(tmp_path.rglob("y.md"))
    assert run_cli(*base, "--topic", "gui/grids")[0] == 0
    assert (root / "gui" / "grids" / "x.md").is_file()
