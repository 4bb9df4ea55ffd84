"""Conversion of examples into ChatML records (docs/formats.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbjcoder.data.convert import TEMPLATES, example_to_record, mid_sentence, pick_template, system_prompt
from bbjcoder.data.fences import code_blocks
from bbjcoder.data.markdown import Example
from bbjcoder.data.records import Record
from bbjcoder.data.validate import validate_paths

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def records() -> dict[str, Record]:
    result = validate_paths([FIXTURES / "valid"], check_code=False)
    return {e.id: example_to_record(e) for e in result.valid_examples()}


def test_record_json_has_the_documented_shape(records: dict[str, Record]) -> None:
    obj = records["gui/hello-window"].to_json()
    assert [m["role"] for m in obj["messages"]] == ["system", "user", "assistant"]
    assert obj["meta"] == {
        "id": "gui/hello-window",
        "source": "tests/data/fixtures/valid/gui/hello-window.md",
        "type": "completion",
        "generation": ["bbj-gui", "dwc"],
        "difficulty": "basic",
        "tags": ["gui", "window"],
    }
    assert Record.from_json(obj) == records["gui/hello-window"]


def test_universal_generation_is_a_list_with_all(records: dict[str, Record]) -> None:
    assert records["basics/string-functions"].to_json()["meta"]["generation"] == ["all"]


def test_system_prompt_names_the_target_generations(records: dict[str, Record]) -> None:
    assert "Target generation: BBj GUI (Swing) and DWC (browser)." in records["gui/hello-window"].content(
        "system"
    )
    assert "portable BBj" in records["basics/string-functions"].content("system")
    assert system_prompt(["character"]).endswith("Target generation: character UI (terminal).")


def test_fim_completion_carries_prefix_middle_suffix(records: dict[str, Record]) -> None:
    rec = records["gui/button-callback"]
    assert rec.fim is not None
    assert rec.fim.prefix.startswith("REM Button with a click handler")
    assert rec.fim.middle.splitlines()[0] == 'button!.setCallback(button!.ON_BUTTON_PUSH, "onClick")'
    assert rec.fim.suffix.startswith("process_events")
    # the prompt shows prefix and suffix, the answer only the middle
    assert rec.fim.prefix in rec.content("user") and rec.fim.suffix in rec.content("user")
    assert code_blocks(rec.content("assistant")) == [rec.fim.middle + "\n"]
    assert "fim" in rec.to_json()["meta"]


def test_code_producing_types_answer_with_bbj_fences(records: dict[str, Record]) -> None:
    for ident in ("gui/hello-window", "migration/print-at-to-window", "classes/class-basics"):
        answer = records[ident].content("assistant")
        assert "```bbj\n" in answer and code_blocks(answer), ident
    migration = records["migration/print-at-to-window"]
    assert "INPUT @(11,3)" in migration.content("user") and "INPUT @(" not in migration.content("assistant")
    assert "`Counter.bbj`:" in records["classes/class-basics"].content("assistant")


def test_comprehension_shows_code_and_answers_in_prose(records: dict[str, Record]) -> None:
    rec = records["basics/string-functions"]
    assert "CVS(name$, 3)" in rec.content("user")
    assert rec.content("assistant").startswith("Expected output:")


def test_each_type_has_at_least_four_prompt_templates() -> None:
    for kind in (
        "comprehension",
        "completion",
        "completion_fim",
        "completion_continue",
        "migration",
        "refactoring",
        "rework",
        "explanation",
    ):
        assert len(TEMPLATES[kind]) >= 4, kind


def test_template_choice_is_deterministic_and_varied() -> None:
    ids = [f"topic/example-{i}" for i in range(200)]
    first = [pick_template("completion", i) for i in ids]
    assert first == [pick_template("completion", i) for i in ids]
    assert set(first) == set(TEMPLATES["completion"])


def test_converting_twice_gives_identical_records(records: dict[str, Record]) -> None:
    again = validate_paths([FIXTURES / "valid"], check_code=False)
    assert {e.id: example_to_record(e) for e in again.valid_examples()} == records


def test_invalid_examples_are_not_converted() -> None:
    result = validate_paths([FIXTURES / "invalid"], check_code=False)
    assert result.valid_examples() == [] or all(isinstance(e, Example) for e in result.valid_examples())
    assert all(not f.ok for f in result.files if f.example.id != "checker-fails")


def test_titles_read_naturally_inside_prompts() -> None:
    assert mid_sentence("Describing a screen layout") == "describing a screen layout"
    assert mid_sentence("BBjVector basics") == "BBjVector basics"
    assert mid_sentence("SQL queries") == "SQL queries"
    assert mid_sentence("A") == "A"


_REFACTORING = """---
title: "GOTO loop to WHILE"
type: migration
generation: all
from_generation: all
to_generation: all
---

## Code

### Before (legacy)

```bbj
i = 1
again:
print i
i = i + 1
if i <= 3 then goto again
end
```

### After (modern)

```bbj
i = 1
while i <= 3
    print i
    i = i + 1
wend
end
```

## Explanation

The label and GOTO become a WHILE loop.
"""


def test_all_to_all_refactoring_converts_with_a_refactoring_prompt(tmp_path) -> None:
    (tmp_path / "refactoring").mkdir()
    (tmp_path / "refactoring" / "goto-to-while.md").write_text(_REFACTORING, encoding="utf-8")
    result = validate_paths([tmp_path], check_code=False)
    (example,) = result.valid_examples()
    record = example_to_record(example)
    assert record.type == "migration"
    assert record.generation == ("all",)
    user = record.content("user")
    assert "portable BBj code to portable" not in user and " to portable" not in user
    assert not any(word in user for word in ("Migrate", "Port this", "This is portable"))
    assert "if i <= 3 then goto again" in user
    assert "portable BBj" in record.content("system")


_REWORK = """---
title: "Fields by position to a record template"
type: migration
generation: character
from_generation: character
to_generation: character
description: "Replace the variable list of this READ with a DIM'd string template and READ RECORD."
---

## Code

### Before (character UI)

```bbj
ch = unt
open (ch)"PARTS"
read (ch, key="A1")part$, descr$
print @(2, 4), descr$
```

### After (character UI)

```bbj
ch = unt
open (ch)"PARTS"
dim p$:"part:c(10*),descr:c(30*)"
read record (ch, key="A1")p$
print @(2, 4), p.descr$
```

## Explanation

The template names the fields once.
"""


def _converted(tmp_path: Path, text: str, name: str = "rework") -> Record:
    (tmp_path / "migration").mkdir(exist_ok=True)
    (tmp_path / "migration" / f"{name}.md").write_text(text, encoding="utf-8")
    (example,) = validate_paths([tmp_path], check_code=False).valid_examples()
    return example_to_record(example)


def test_a_migration_inside_one_generation_asks_for_the_change_not_a_port(tmp_path: Path) -> None:
    record = _converted(tmp_path, _REWORK)
    user = record.content("user")
    assert record.type == "migration" and record.generation == ("character",)
    # the task is the prompt; "migrate character-mode code to character mode" would say nothing
    assert "Replace the variable list of this READ with a DIM'd string template and READ RECORD." in user
    assert not any(word in user for word in ("Migrate", "Port this", "How would it look in"))
    assert 'read (ch, key="A1")part$, descr$' in user
    assert "character" in user and "character" in record.content("system")
    assert record.content("assistant").startswith("```bbj\nch = unt")
    assert all("{task}" in t and "{code}" in t for t in TEMPLATES["rework"])


def test_migration_prompts_mostly_carry_the_task(tmp_path: Path) -> None:
    with_task = [t for t in TEMPLATES["migration"] if "{task}" in t]
    assert len(with_task) >= 3 and all("{code}" in t for t in TEMPLATES["migration"])
    port = _REWORK.replace("to_generation: character", "to_generation: vpro5").replace(
        "generation: character\nfrom", "generation: vpro5\nfrom"
    )
    record = _converted(tmp_path, port, "port")
    user = record.content("user")
    assert "{task}" in pick_template("migration", "migration/port")  # this id draws a template with it
    assert "Replace the variable list of this READ" in user and "Visual PRO/5" in user


def test_a_change_inside_one_generation_needs_a_description(tmp_path: Path) -> None:
    text = _REWORK.replace(
        'description: "Replace the variable list of this READ with a DIM\'d string template and READ RECORD."\n',
        "",
    )
    (tmp_path / "migration").mkdir()
    (tmp_path / "migration" / "rework.md").write_text(text, encoding="utf-8")
    result = validate_paths([tmp_path], check_code=False)
    assert result.valid_examples() == []
    messages = [p.message for f in result.files for p in f.problems]
    assert any("needs a `description`" in m for m in messages), messages
