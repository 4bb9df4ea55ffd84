"""`runs/<id>/run.json` as a record: what a run is (config, versions, data, stages, metrics) and where
its parts lie (base model, stage adapters, final adapter, export). Train writes it; eval, export,
serve and `runs` read it through `RunRecord`, never by key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from bbjcoder.errors import ModelError
from bbjcoder.records.base import Record, RecordError
from bbjcoder.records.train_result import LEGACY_STAGE_DIRS, LogEntry, StageResult

RUN_JSON = "run.json"


class RunError(RecordError):
    """A run id or directory that does not exist or whose run.json cannot be read."""


class GitState(BaseModel):
    model_config = ConfigDict(frozen=True)

    commit: str
    dirty: bool


class Hardware(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    platform: str = ""
    cpu_count: int | None = None
    python: str = ""
    cuda: str | None = None
    gpus: list[str] = Field(default_factory=list)


class DatasetHashes(BaseModel):
    """sha256 of each data file a run trained on, and the dataset manifest as it was then."""

    model_config = ConfigDict(frozen=True)

    files: dict[str, str] = Field(default_factory=dict)
    manifest: dict[str, JsonValue] | None = None
    manifest_sha256: str | None = None  # when the manifest was not valid JSON


class TrainData(BaseModel):
    """What training made of the dataset (run.json `data`): documents, blocks, examples, provenance."""

    model_config = ConfigDict(frozen=True, extra="allow")

    cpt_documents: int | None = None
    cpt_val_documents: int | None = None
    cpt_blocks: int | None = None
    sft_train_examples: int | None = None
    sft_val_examples: int | None = None
    sft_fim_examples: int | None = None
    sft_general_examples: int | None = None
    sft_truncated: int | None = None
    sft_dropped: int | None = None
    sft_train_rows: int | None = None
    sft_curated_records: int | None = None
    sft_synthetic_records: int | None = None
    synthetic: str | None = None
    synthetic_weight: float | None = None


class RunRecord(Record):
    """One run directory as its run.json records it.

    `path` (the directory) and `problem` (why a listed run is broken or interrupted) are not stored
    in the file. Keys this version does not know (e.g. the demo's `demo`) are kept on rewrite.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    KIND: ClassVar[str] = "run"
    VERSION: ClassVar[int] = 1

    id: str
    created: str = ""
    status: str = "unknown"
    # The run config as trained (`RunConfig.to_dict()`): a snapshot that older or partial configs
    # must still load from, so it stays JSON rather than a RunConfig.
    config: dict[str, Any] = Field(default_factory=dict)
    previous_configs: list[dict[str, Any]] = Field(default_factory=list)
    versions: dict[str, str | None] = Field(default_factory=dict)
    git: GitState | None = None
    hardware: Hardware | None = None
    base_model_path: str | None = None
    base_model_name: str | None = None
    adapter_path: str | None = None
    dataset: DatasetHashes | None = None
    data: TrainData = TrainData()
    stages: dict[str, StageResult] = Field(default_factory=dict)
    history: dict[str, list[LogEntry]] = Field(default_factory=dict)
    # Figures each stage records for `runs compare` (train, eval.<suite>, export): flat JSON.
    metrics: dict[str, dict[str, JsonValue]] = Field(default_factory=dict)
    wall_time_s: float | None = None

    path: Path = Field(default=Path("."), exclude=True)
    problem: str | None = Field(default=None, exclude=True)

    @classmethod
    def read(cls, run_dir: Path) -> RunRecord:
        """run.json of the run directory `run_dir`; RunError says what is wrong with it."""
        file = Path(run_dir) / RUN_JSON
        hint = "restore it from a backup, or delete the run directory"
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RunError(f"cannot read run.json: {exc.strerror}", path=file) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(
                f"run.json is not valid JSON ({exc}); the file is truncated or corrupt", path=file, hint=hint
            ) from exc
        if not isinstance(data, dict):
            raise RunError(
                f"run.json holds a JSON {type(data).__name__}, not an object", path=file, hint=hint
            )
        data.setdefault("id", Path(run_dir).name)
        try:
            rec = cls.from_json(data, path=file)
        except RecordError as exc:
            raise RunError(exc.message, path=file, hint=exc.hint or hint) from exc
        return rec.model_copy(update={"path": Path(run_dir)})

    def write(self) -> Path:
        """Save to `<path>/run.json` atomically."""
        return self.save(self.path / RUN_JSON)

    # --- where the run's parts lie ----------------------------------------------------------------

    @property
    def base_model_dir(self) -> Path | None:
        """The base model directory: `base_model_path` relative to the run when it exists there
        (tiny runs keep their base in `base/`), else as written (a hub cache or an absolute path);
        the one fallback: a run without a usable one that holds `model/` uses that."""
        recorded: Path | None = None
        if self.base_model_path:
            base = Path(self.base_model_path)
            recorded = self.path / base if not base.is_absolute() and (self.path / base).exists() else base
        if (recorded is None or not (recorded / "config.json").exists()) and (
            self.path / "model" / "config.json"
        ).exists():
            return self.path / "model"
        return recorded

    def base_model(self) -> Path:
        """`base_model_dir`, which must be a Hugging Face model directory; ModelError names what
        was looked for otherwise."""
        base = self.base_model_dir
        if base is None or not (base / "config.json").exists():
            looked = f"{base}/config.json and " if base is not None else ""
            raise ModelError(
                f"cannot find the base model of run {self.id} (base_model_path={self.base_model_path!r}; "
                f"looked for {looked}{self.path / 'model' / 'config.json'})",
                path=self.path / RUN_JSON,
            )
        return base

    @property
    def adapter_dir(self) -> Path:
        """The final adapter directory (`adapter_path`, by default `adapter/`); may not exist yet."""
        return self.path / (self.adapter_path or "adapter")

    def final_adapter(self) -> Path:
        """`adapter_dir`, which must hold a PEFT adapter; ModelError otherwise."""
        adapter = self.adapter_dir
        if not (adapter / "adapter_config.json").exists():
            raise ModelError(
                "the run has no final adapter (adapter_config.json); has training finished?", path=adapter
            )
        return adapter

    def stage_adapter(self, stage: str) -> Path:
        """Where stage `stage` (cpt, sft) keeps its adapter: `<run>/<stage>/adapter`, or the legacy
        `stage1/`/`stage2/` directory of a run trained before stages took their names on disk."""
        current = self.path / stage / "adapter"
        legacy = self.path / LEGACY_STAGE_DIRS.get(stage, stage) / "adapter"
        return legacy if not current.exists() and legacy.exists() else current

    @property
    def export_dir(self) -> Path:
        return self.path / "export"

    def stage_done(self, stage: str) -> bool:
        s = self.stages.get(stage)
        return s is not None and s.status == "done"

    @property
    def info(self) -> dict[str, Any]:
        """The whole record as JSON data (what `runs show` prints), with `problem` when there is one."""
        out = self.to_json()
        if self.problem:
            out["problem"] = self.problem
        return out
