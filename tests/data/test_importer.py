"""Import of existing ChatML JSONL: good lines normalised, bad lines rejected with line numbers."""

from __future__ import annotations

from pathlib import Path

from bbjcoder.data.importer import import_jsonl, infer_type

FIXTURES = Path(__file__).parent / "fixtures"

PATH = FIXTURES / "import" / "chatml.jsonl"


def test_malformed_lines_are_rejected_with_their_line_numbers() -> None:
    result = import_jsonl(PATH)
    rejected = {r["line"]: r["reason"] for r in result.rejected}
    assert set(rejected) == {4, 5, 6, 7, 9}
    assert "invalid JSON" in rejected[4]
    assert "user and assistant messages taking turns" in rejected[5]
    assert "'robot'" in rejected[6]
    assert "JSON object" in rejected[7]
    assert "`all` must stand alone" in rejected[9]
    assert all(r["source"].endswith(f"chatml.jsonl:{r['line']}") for r in result.rejected)


def test_good_lines_become_normalised_records() -> None:
    result = import_jsonl(PATH, detect=lambda text: {"bbj-gui", "dwc"} if "getSysGui" in text else {"all"})
    assert len(result.records) == 5
    by_id = {r.id: r for r in result.records}
    window = by_id["legacy/window-1"]
    assert (
        window.generation == ("bbj-gui", "dwc") and window.difficulty == "basic" and window.tags == ("gui",)
    )
    first = result.records[0]
    assert first.id.startswith("import/chatml/")
    assert first.type == "completion" and first.generation == ("all",)
    # our system prompt replaces theirs, naming the generation
    assert [r for r, _ in first.messages] == ["system", "user", "assistant"]
    assert "Target generation:" in first.content("system")
    assert result.records[2].type == "comprehension"
    assert result.records[4].type == "explanation"


def test_generation_is_inferred_with_the_detector_when_absent() -> None:
    result = import_jsonl(PATH, detect=lambda text: {"dwc"})
    inferred = [r for r in result.records if r.id != "legacy/window-1" and r.type != "explanation"]
    assert inferred and all(r.generation == ("dwc",) for r in inferred)
    assert result.inferred_generation == 4


def test_keep_system_keeps_the_original_prompt() -> None:
    result = import_jsonl(PATH, keep_system=True)
    assert result.records[0].content("system") == "You are a helpful assistant."


def test_ids_do_not_depend_on_line_order(tmp_path) -> None:
    lines = PATH.read_text().splitlines()
    reordered = tmp_path / "chatml.jsonl"
    reordered.write_text("\n".join(reversed(lines)) + "\n")
    ids = {r.id for r in import_jsonl(PATH).records}
    assert ids == {r.id for r in import_jsonl(reordered).records}


def test_infer_type_from_who_shows_code() -> None:
    code = "```bbj\nPRINT 1\n```"
    assert infer_type("write it", code) == "completion"
    assert infer_type(f"what is this?\n\n{code}", "It prints 1.") == "comprehension"
    assert infer_type(f"convert this to DWC:\n{code}", code) == "migration"
    assert infer_type("explain GOSUB", "GOSUB jumps.") == "explanation"
