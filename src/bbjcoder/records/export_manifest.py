"""What `bbjcoder export` wrote into `runs/<id>/export/`: the GGUF files per quantization, their
sizes, the Modelfile and the template, stop tokens and system prompt it carries, the model's shape
and tokenizer, and how long each step took. Eval and serve find a run's GGUF through this record."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from bbjcoder.records.base import Record, RecordError

MANIFEST = "manifest.json"
LEGACY_MANIFEST = "export.json"  # exports written before the records existed


class ExportManifest(Record):
    """`export/manifest.json`. `quant` is the quantization the Modelfile uses; `gguf` maps every
    quantization written to its file name in the export directory; `files` maps file names to bytes."""

    KIND: ClassVar[str] = "export-manifest"
    VERSION: ClassVar[int] = 1

    quant: str
    name: str = "bbj-coder"
    gguf: dict[str, str] = Field(default_factory=dict)
    files: dict[str, int] = Field(default_factory=dict)
    modelfile: str | None = None
    readme: str | None = None
    merged: str | None = None  # the merged Hugging Face directory
    timings: dict[str, float] = Field(default_factory=dict)
    base_model: str | None = None
    adapter: str | None = None
    # What the Modelfile carries, as trained: template family, stop tokens, system prompt.
    template: str | None = None
    stop_tokens: list[str] = Field(default_factory=list)
    system_prompt: str | None = None
    # From the F16 GGUF: tokenizer model (e.g. gpt2 BPE), vocabulary and parameter counts.
    tokenizer_model: str | None = None
    vocab_size: int | None = None
    n_params: int | None = None

    path: Path = Field(default=Path("."), exclude=True)  # the export directory (not stored)

    @classmethod
    def find(cls, export_dir: Path) -> ExportManifest:
        """The manifest of `export_dir` (`manifest.json`, or an older export's `export.json`)."""
        current = Path(export_dir) / MANIFEST
        legacy = Path(export_dir) / LEGACY_MANIFEST
        if not current.is_file() and legacy.is_file():
            current = legacy
        if not current.is_file():
            raise RecordError("no export here (no manifest.json): run `bbjcoder export RUN`", path=export_dir)
        return cls.load(current).model_copy(update={"path": Path(export_dir)})

    @property
    def export_dir(self) -> Path:
        return self.path

    @property
    def gguf_files(self) -> dict[str, Path]:
        """Quantization -> its GGUF file. An older manifest (export.json) did not list them: its
        Modelfile's quantization is the `*-<quant>.gguf` file of the export directory."""
        if self.gguf:
            return {q: self.path / n for q, n in self.gguf.items()}
        found = sorted(self.path.glob(f"*-{self.quant}.gguf"))
        return {self.quant: found[0] if found else self.path / f"{self.name}-{self.quant}.gguf"}

    @property
    def merged_dir(self) -> Path:
        return self.path / (self.merged or "merged")

    @property
    def modelfile_path(self) -> Path:
        return self.path / (self.modelfile or "Modelfile")

    @property
    def readme_path(self) -> Path:
        return self.path / (self.readme or "README.md")
