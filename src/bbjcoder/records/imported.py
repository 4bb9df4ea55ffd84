"""`IMPORTED_FROM.json`: what `bbjcoder models import` says about a base directory it wrote.

Export reads it to choose a quantization that keeps a fine-tune (a base dequantized from a
quantized GGUF), and CPU eval reads it to sample the base through the GGUF it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import Field

from bbjcoder.records.base import Record, RecordError

IMPORTED_FROM: Final = "IMPORTED_FROM.json"
FLOAT_TYPES: Final = frozenset({"F32", "F16", "BF16"})


class ImportedFrom(Record):
    KIND = "imported-from"
    VERSION = 1

    gguf: str = ""  # the source file, absolute
    architecture: str = ""
    tensor_types: dict[str, int] = Field(
        default_factory=dict
    )  # GGUF tensor type name -> how many tensors had it
    note: str = ""

    @classmethod
    def of(cls, base_dir: Path) -> ImportedFrom | None:
        """The note of `base_dir`, or None when the directory was not written by `models import`
        (or its note is unreadable: then the base is treated as an ordinary HF checkpoint)."""
        try:
            return cls.load(Path(base_dir) / IMPORTED_FROM)
        except RecordError:
            return None

    @property
    def quantized(self) -> bool:
        """The source GGUF held quantized tensors (its quantization error is in these weights)."""
        return any(t not in FLOAT_TYPES for t in self.tensor_types)

    @property
    def source(self) -> Path | None:
        """The source GGUF when it is still there."""
        path = Path(self.gguf)
        return path if path.is_file() and path.suffix == ".gguf" else None
