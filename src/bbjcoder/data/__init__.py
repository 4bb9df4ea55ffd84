"""The data stage: example schema, Markdown reader, ChatML conversion and import, quality, split,
stats and the stage-1 corpus builder. Imports no torch; formats are in docs/formats.md.

`build(cfg) -> DatasetManifest` is the stage's entry point (`bbjcoder data build` and the demo).
"""

from bbjcoder.data.stage import build

__all__ = ["build"]
