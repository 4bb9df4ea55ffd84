"""The front-matter model and its published JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
import yaml
from pydantic import ValidationError

from bbjcoder import bbj
from bbjcoder.data.schema import FrontMatter, GenerationLabel, json_schema, main, schema_text

REPO = Path(__file__).resolve().parents[2]


def test_checked_in_schema_matches_the_model() -> None:
    path = REPO / "training-data" / "schema" / "example.schema.json"
    assert path.read_text(encoding="utf-8") == schema_text(), "run `python -m bbjcoder.data.schema`"


def test_generation_literal_spells_the_checkers_generations() -> None:
    assert get_args(GenerationLabel) == bbj.GENERATIONS


def test_schema_check_mode_detects_drift(tmp_path) -> None:
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n")
    assert main([str(stale), "--check"]) == 1
    assert main([str(stale)]) == 0
    assert main([str(stale), "--check"]) == 0
    assert json.loads(stale.read_text())["additionalProperties"] is False


def test_schema_requires_from_and_to_for_migrations() -> None:
    rule = json_schema()["allOf"][0]
    assert rule["if"]["properties"]["type"]["const"] == "migration"
    assert set(rule["then"]["required"]) == {"from_generation", "to_generation"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"generation": ["all", "dwc"]}, "`all` cannot appear in a list"),
        ({"generation": "gui"}, "wrong label 'gui'"),
        ({"generation": []}, "empty list"),
        ({"generation": ["dwc", "dwc"]}, "twice"),
        ({"requires_version": 23.1}, "quoted string"),
        ({"type": "migration"}, "needs from_generation and to_generation"),
        ({"from_generation": "character"}, "only belong to migration"),
        ({"colour": "blue"}, "Extra inputs"),
        (
            {"type": "migration", "from_generation": "all", "to_generation": "dwc"},
            "only for a generation-neutral refactoring",
        ),
        (
            {"type": "migration", "from_generation": "character", "to_generation": "all"},
            "only for a generation-neutral refactoring",
        ),
        (
            {"type": "migration", "generation": "dwc", "from_generation": "all", "to_generation": "all"},
            "has `generation: all`",
        ),
        (
            {"type": "migration", "from_generation": "all", "to_generation": ["all"]},
            "cannot appear in a list",
        ),
    ],
)
def test_front_matter_rejects(fields: dict, message: str) -> None:
    data = {"title": "t", "type": "completion", "generation": "all", **fields}
    with pytest.raises(ValidationError) as info:
        FrontMatter.model_validate(data)
    assert message in str(info.value)


def test_generation_is_always_a_tuple() -> None:
    assert FrontMatter(title="t", type="completion", generation="all").generations() == ("all",)
    fm = FrontMatter.model_validate(
        {
            "title": "t",
            "type": "migration",
            "generation": ["bbj-gui", "dwc"],
            "from_generation": "character",
            "to_generation": "dwc",
        }
    )
    assert fm.generations() == ("bbj-gui", "dwc")
    assert fm.target_generations() == ("dwc",)


def _front(path: Path) -> dict:
    lines = path.read_text().split("\n")
    return yaml.safe_load("\n".join(lines[1 : lines.index("---", 1)]))


def test_published_schema_agrees_with_the_model_on_fixtures() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    fixtures = Path(__file__).parent / "fixtures"
    for path in (fixtures / "valid").rglob("*.md"):
        assert not list(validator.iter_errors(_front(path))), path
    for name in ("unknown-field.md", "wrong-label.md", "all-in-list.md", "migration-missing-from-to.md"):
        assert list(validator.iter_errors(_front(fixtures / "invalid" / name))), name


_REFACTORING = {
    "title": "t",
    "type": "migration",
    "generation": "all",
    "from_generation": "all",
    "to_generation": "all",
}


def test_generation_neutral_refactoring_is_all_to_all() -> None:
    fm = FrontMatter.model_validate(_REFACTORING)
    assert fm.target_generations() == ("all",)


def test_published_schema_allows_all_to_all_only_on_both_ends() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    assert not list(validator.iter_errors(_REFACTORING))
    for bad in (
        {**_REFACTORING, "to_generation": "dwc"},
        {**_REFACTORING, "from_generation": "character"},
        {**_REFACTORING, "generation": "dwc"},
    ):
        assert list(validator.iter_errors(bad)), bad
