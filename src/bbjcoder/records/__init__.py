"""The typed records stages exchange through files.

Every file one stage writes for another is one of these records: `RunRecord` (runs/<id>/run.json),
`DatasetManifest` (dataset/manifest.json), `TrainResult`, `EvalReport` (eval/<suite>/report.json)
and `ExportManifest` (export/manifest.json). Each has `load(path)` / `save(path)` and a schema
version; nothing else parses another stage's JSON by key.

This package sits below the stages: it imports only `errors`, `fileio` and pydantic.
Import the records from their modules (`from bbjcoder.records.run import RunRecord`).
"""

from bbjcoder.records.base import Record, RecordError

__all__ = ["Record", "RecordError"]
