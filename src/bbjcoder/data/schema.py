"""The front matter of a training example as a pydantic model, and its published JSON Schema.

`python -m bbjcoder.data.schema` (or `bbjcoder data schema`) rewrites
`training-data/schema/example.schema.json` from the model; a test fails when the two drift.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bbjcoder.bbj import GENERATIONS

# Types whose assistant answer must contain BBj code. Comprehension answers in prose; explanation
# answers usually show code (converted examples always do) but a concept Q&A may not.
CODE_ANSWER_TYPES: frozenset[str] = frozenset({"completion", "migration"})

GenerationLabel = Literal["character", "vpro5", "bbj-gui", "dwc"]
ExampleType = Literal["comprehension", "completion", "migration", "explanation"]
Difficulty = Literal["basic", "intermediate", "advanced"]
# The tuples every stage checks against; the Literals above exist for pydantic and the JSON Schema
# (GenerationLabel spells out bbj.GENERATIONS; a test keeps the two equal).
TYPES: tuple[str, ...] = get_args(ExampleType)
DIFFICULTIES: tuple[str, ...] = get_args(Difficulty)
GenerationList = Annotated[
    list[GenerationLabel], Field(min_length=1, json_schema_extra={"uniqueItems": True})
]

SCHEMA_PATH = Path("training-data/schema/example.schema.json")
SCHEMA_ID = "urn:bbjcoder:training-data:example-front-matter:1"


def _check_generation_value(value: Any, field: str, *, allow_all: bool) -> Any:
    """Give the messages authors need (pydantic's union errors are unreadable for these)."""
    allowed = ", ".join(GENERATIONS)
    if isinstance(value, str):
        if value == "all" and allow_all:
            return value
        if value not in GENERATIONS:
            extra = "all, " if allow_all else ""
            raise ValueError(f"wrong label {value!r} for {field}; expected one of: {extra}{allowed}")
        return value
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{field} is an empty list; name at least one generation")
        for item in value:
            if item == "all":
                raise ValueError(
                    f"`all` cannot appear in a list in {field}; write `{field}: all` alone or list "
                    "specific generations"
                )
            if not isinstance(item, str) or item not in GENERATIONS:
                raise ValueError(f"wrong label {item!r} in {field}; expected one of: {allowed}")
        if len(set(value)) != len(value):
            raise ValueError(f"{field} lists a generation twice")
        return value
    raise ValueError(f"{field} must be a label or a list of labels, not {type(value).__name__}")


class FrontMatter(BaseModel):
    """The YAML front matter of one training example (`training-data/<topic>/<slug>.md`)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        title="bbjcoder training example front matter",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_ID,
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": "migration"}}, "required": ["type"]},
                    "then": {"required": ["from_generation", "to_generation"]},
                    "else": {
                        "not": {"anyOf": [{"required": ["from_generation"]}, {"required": ["to_generation"]}]}
                    },
                },
                {  # a generation-neutral refactoring is `all -> all` on both ends, target `all`
                    "if": {
                        "properties": {"from_generation": {"const": "all"}},
                        "required": ["from_generation"],
                    },
                    "then": {
                        "properties": {"to_generation": {"const": "all"}, "generation": {"const": "all"}}
                    },
                },
                {  # a synthetic example names its teacher and its reviewer
                    "if": {"properties": {"source": {"const": "synthetic"}}, "required": ["source"]},
                    "then": {"required": ["teacher", "reviewed_by"]},
                },
                {
                    "if": {"properties": {"to_generation": {"const": "all"}}, "required": ["to_generation"]},
                    "then": {
                        "properties": {"from_generation": {"const": "all"}},
                        "required": ["from_generation"],
                    },
                },
            ],
        },
    )

    title: str = Field(min_length=1, description="Human-readable title; also the task in prompts.")
    type: ExampleType = Field(description="What the example teaches the model to do.")
    generation: Literal["all"] | GenerationLabel | GenerationList = Field(
        description="Target BBj generation(s): `all` for portable code, one label, or a list of labels "
        "(a list never contains `all`)."
    )
    difficulty: Difficulty | None = Field(default=None, description="basic, intermediate or advanced.")
    tags: list[str] = Field(default_factory=list, description="Topic keywords.")
    description: str | None = Field(default=None, min_length=1, description="One sentence.")
    requires_version: str | None = Field(
        default=None, pattern=r"^\d+(\.\d+)*$", description='Minimum BBj version, quoted: "23.04".'
    )
    from_generation: Literal["all"] | GenerationLabel | None = Field(
        default=None,
        description="Migration only (required there): the source generation; `all` only for a "
        "generation-neutral refactoring (`all` -> `all`).",
    )
    to_generation: Literal["all"] | GenerationLabel | GenerationList | None = Field(
        default=None,
        description="Migration only (required there): the target generation(s); `all` only together "
        "with `from_generation: all`.",
    )
    source: Literal["curated", "synthetic"] | None = Field(
        default=None,
        description="Where the example came from: written by a person (`curated`, the default when "
        "absent) or drafted by a teacher model and accepted in `bbjcoder data review` (`synthetic`).",
    )
    teacher: str | None = Field(
        default=None,
        min_length=1,
        description="Synthetic only (required there): the teacher model that drafted it, `MODEL@BASE_URL`.",
    )
    reviewed_by: str | None = Field(
        default=None,
        min_length=1,
        description="Synthetic only (required there): who accepted the draft in `bbjcoder data review`.",
    )

    @field_validator("generation", mode="before")
    @classmethod
    def _generation(cls, value: Any) -> Any:
        return _check_generation_value(value, "generation", allow_all=True)

    @field_validator("to_generation", mode="before")
    @classmethod
    def _to_generation(cls, value: Any) -> Any:
        return None if value is None else _check_generation_value(value, "to_generation", allow_all=True)

    @field_validator("from_generation", mode="before")
    @classmethod
    def _from_generation(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            raise ValueError("from_generation is a single label, not a list")
        return _check_generation_value(value, "from_generation", allow_all=True)

    @field_validator("requires_version", mode="before")
    @classmethod
    def _version_is_quoted(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            # YAML reads 23.10 as the float 23.1: the version is already lost, so ask for quotes.
            raise ValueError(
                f'requires_version must be a quoted string such as "23.04", not the number {value}'
            )
        return value

    @model_validator(mode="after")
    def _synthetic_fields(self) -> FrontMatter:
        if self.source == "synthetic":
            missing = [f for f in ("teacher", "reviewed_by") if getattr(self, f) is None]
            if missing:
                raise ValueError(
                    f"a synthetic example needs {' and '.join(missing)} (set by `bbjcoder data review`)"
                )
        return self

    @property
    def is_synthetic(self) -> bool:
        return self.source == "synthetic"

    @model_validator(mode="after")
    def _migration_fields(self) -> FrontMatter:
        if self.type == "migration":
            missing = [f for f in ("from_generation", "to_generation") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"a migration example needs {' and '.join(missing)}")
            # A refactoring that changes no generation-specific code is `all -> all`; `all` on one
            # side only would claim that portable code turns into (or out of) UI code.
            ends = (self.from_generation == "all", self.to_generation == "all")
            if any(ends) and not all(ends):
                raise ValueError(
                    "`all` in from_generation/to_generation is only for a generation-neutral refactoring: "
                    f"write both as `all` (got {self.from_generation} -> {self.to_generation})"
                )
            if all(ends) and self.generation != "all":
                raise ValueError("an `all -> all` refactoring has `generation: all` (its target)")
            if (
                not any(ends)
                and self.target_generations() == (self.from_generation,)
                and not self.description
            ):
                raise ValueError(
                    f"a change inside one generation ({self.from_generation} -> {self.to_generation}) needs a "
                    "`description`: its prompt is that request (training-data/FORMAT.md)"
                )
        else:
            present = [f for f in ("from_generation", "to_generation") if getattr(self, f) is not None]
            if present:
                raise ValueError(
                    f"{' and '.join(present)} only belong to migration examples (type is {self.type})"
                )
        return self

    def generations(self) -> tuple[str, ...]:
        """`generation` as a tuple, always (`("all",)` for universal examples)."""
        return as_generation_tuple(self.generation)

    def target_generations(self) -> tuple[str, ...]:
        """The generation(s) the answer is written for: `to_generation` for migrations."""
        if self.type == "migration" and self.to_generation is not None:
            return as_generation_tuple(self.to_generation)
        return self.generations()


def as_generation_tuple(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


class LabelsJson(TypedDict):
    type: str
    generation: list[str]
    difficulty: str | None


def label_fields(type_: str, generation: Sequence[str], difficulty: str | None) -> LabelsJson:
    """The labels a dataset record and an eval case share, as JSON, in the order both files use."""
    return {"type": type_, "generation": list(generation), "difficulty": difficulty}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the front matter, as published in training-data/schema/."""
    schema = FrontMatter.model_json_schema()
    # `$schema` first reads better; pydantic puts json_schema_extra keys at the end.
    return {"$schema": schema.pop("$schema"), "$id": schema.pop("$id"), **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: str | Path = SCHEMA_PATH) -> Path:
    from bbjcoder.fileio import atomic_write_text

    atomic_write_text(path, schema_text())
    return Path(path)


def main(argv: list[str] | None = None) -> int:
    """`python -m bbjcoder.data.schema [PATH] [--check]`: regenerate or check the schema file."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    path = Path(paths[0]) if paths else SCHEMA_PATH
    from rich.console import Console

    out, err = Console(highlight=False), Console(stderr=True, highlight=False)
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != schema_text():
            err.print(f"{path}: out of date; run `bbjcoder data schema`", markup=False)
            return 1
        out.print(f"{path}: up to date", markup=False)
        return 0
    write_schema(path)
    out.print(f"wrote {path}", markup=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
