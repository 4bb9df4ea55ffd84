"""The base of every record: a frozen pydantic model with a schema name, a version and atomic files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from bbjcoder.errors import UserError
from bbjcoder.fileio import atomic_write_text


class RecordError(UserError):
    """A record file that is missing, unreadable, of another kind or of a newer schema version."""


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class Record(BaseModel):
    """A file one stage writes and another reads.

    Subclasses set `KIND` (what the file is, e.g. "eval-report") and `VERSION` (bumped when a field
    changes meaning or disappears; new optional fields do not need a bump). A file without
    `schema` / `schema_version` keys is read as version 1 of the expected kind, so files written
    before the records existed still load.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    KIND: ClassVar[str] = "record"
    VERSION: ClassVar[int] = 1

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-able data, with its kind and version first."""
        body = self.model_dump(mode="json")
        return {"schema": self.KIND, "schema_version": self.VERSION, **body}

    @classmethod
    def from_json(cls, data: Any, *, path: str | Path | None = None) -> Self:
        if not isinstance(data, dict):
            raise RecordError(f"a {cls.KIND} file must hold a JSON object", path=path)
        data = dict(data)
        kind = data.pop("schema", cls.KIND)
        version = data.pop("schema_version", 1)
        if kind != cls.KIND:
            raise RecordError(f"this is a {kind} file, not a {cls.KIND} file", path=path)
        if not isinstance(version, int) or version > cls.VERSION:
            raise RecordError(
                f"{cls.KIND} schema version {version} is newer than this bbjcoder reads ({cls.VERSION})",
                path=path,
                hint="upgrade bbjcoder, or re-run the stage that wrote this file",
            )
        try:
            return cls.model_validate(cls.upgrade(data, version))
        except ValidationError as exc:
            raise RecordError(f"malformed {cls.KIND}: {_explain(exc)}", path=path) from exc

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Turn an older version's fields into the current ones (override when VERSION grows)."""
        return data

    @classmethod
    def load(cls, path: str | Path) -> Self:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise RecordError(f"no {cls.KIND} file here", path=path) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise RecordError(f"cannot read {cls.KIND}: {exc}", path=path) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from exc
        return cls.from_json(data, path=path)

    def save(self, path: str | Path) -> Path:
        """Write the record atomically (a reader never sees half a file); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")
        return path
