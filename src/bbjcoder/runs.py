"""The run registry: `runs/<id>/run.json` files found, created, updated, listed and compared; model cards.

A run directory is self-describing; run.json is a `RunRecord` (bbjcoder.records.run) and this module
is the only code that writes it or MODEL_CARD.md, so train, eval and export share one definition of
both. No torch imports here.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import platform
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from bbjcoder.fileio import atomic_write_text, sha256_file
from bbjcoder.records.run import RUN_JSON, DatasetHashes, GitState, Hardware, RunError, RunRecord, TrainData
from bbjcoder.records.train_result import StageResult

__all__ = [
    "RUN_JSON",
    "RunError",
    "RunRecord",
    "check_adapter",
    "create_run",
    "list_runs",
    "resolve_run",
    "update_run",
    "update_run_metrics",
]

MODEL_CARD = "MODEL_CARD.md"
EVAL_START = "<!-- bbjcoder:eval-results:start -->"
EVAL_END = "<!-- bbjcoder:eval-results:end -->"
EVAL_PLACEHOLDER = "_Not evaluated yet: run `bbjcoder eval --model run:<id>` to fill this section._"
_ID_TIME = "%Y%m%d-%H%M%S"
_PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "tokenizers",
    "bitsandbytes",
    "liger-kernel",
)


def new_run_id(name: str, now: _dt.datetime | None = None) -> str:
    """`<name>-<YYYYmmdd-HHMMSS>` in local time."""
    return f"{name}-{(now or _dt.datetime.now()).strftime(_ID_TIME)}"


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["bbjcoder"] = metadata.version("bbjcoder")
    return out


def git_commit(cwd: Path | None = None) -> GitState | None:
    """HEAD commit and whether the work tree had changes; None outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return GitState(commit=head, dirty=bool(dirty))


def hardware() -> Hardware:
    cuda: str | None = None
    gpus: list[str] = []
    try:
        import torch

        if torch.cuda.is_available():
            cuda = torch.version.cuda
            gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return Hardware(
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        cuda=cuda,
        gpus=gpus,
    )


def dataset_hashes(files: list[Path], manifest: Path | None) -> DatasetHashes:
    """sha256 of each data file used, plus `dataset/manifest.json` when present."""
    hashes = {str(f): sha256_file(f) for f in files if f.is_file()}
    if manifest is None or not manifest.is_file():
        return DatasetHashes(files=hashes)
    from bbjcoder.records.base import RecordError
    from bbjcoder.records.dataset import DatasetManifest

    try:
        return DatasetHashes(files=hashes, manifest=DatasetManifest.load(manifest).to_json())
    except RecordError:
        return DatasetHashes(files=hashes, manifest_sha256=sha256_file(manifest))


def create_run(
    runs_dir: Path, name: str, config: Mapping[str, Any], *, run_id: str | None = None, **extra: JsonValue
) -> RunRecord:
    """Make `runs_dir/<name>-<time>/` with an initial run.json (status "running").

    `run_id` names the directory instead (the demo makes its own directory the run); it may exist
    already, but must not hold a run.json yet. `extra` keys are stored as given.
    """
    runs_dir = Path(runs_dir)
    now = _dt.datetime.now()
    if run_id is not None:
        path = runs_dir / run_id
        if (path / RUN_JSON).exists():
            raise RunError(f"run {run_id!r} exists already", path=path / RUN_JSON)
        path.mkdir(parents=True, exist_ok=True)
    else:
        run_id = new_run_id(name, now)
        path = runs_dir / run_id
        n = 1
        while path.exists():  # two runs in the same second: keep ids unique
            n += 1
            run_id = f"{new_run_id(name, now)}-{n}"
            path = runs_dir / run_id
        path.mkdir(parents=True)
    fields = {
        "id": run_id,
        "created": now.isoformat(timespec="seconds"),
        "status": "running",
        "config": dict(config),
        "versions": package_versions(),
        "git": git_commit(),
        "hardware": hardware(),
        "path": path,
    }
    run = RunRecord.model_validate({**fields, **extra})  # extra keys are kept as given
    run.write()
    return run


def resolve_run(id_or_path: str | Path, runs_dir: Path = Path("runs")) -> RunRecord:
    """The one rule for finding a run: a bare id (or `run:ID`) is `RUNS_DIR/ID` first and `./ID`
    only when there is no such run; anything with a path separator is a directory path."""
    text = str(id_or_path)
    if text.startswith("run:"):
        text = text[4:]
    as_path = Path(text)
    is_path = isinstance(id_or_path, Path) or "/" in text or as_path.is_absolute()
    candidates = [as_path] if is_path else [Path(runs_dir) / text, as_path]
    for cand in candidates:
        if (cand / RUN_JSON).is_file():
            return RunRecord.read(cand)
    looked = " or ".join(str(c / RUN_JSON) for c in candidates)
    raise RunError(
        f"no run {text!r} (looked for {looked})", path=Path(runs_dir), hint="see `bbjcoder runs list`"
    )


def check_adapter(adapter: Path) -> None:
    """A truncated or corrupt adapter_model.safetensors: one line naming it, not PEFT's traceback."""
    from bbjcoder.integrity import check_safetensors

    weights = adapter / "adapter_model.safetensors"
    if weights.exists():
        check_safetensors(
            weights,
            hint="copy the adapter from the run's last checkpoint (checkpoints/<stage>/checkpoint-N/) "
            "or train again with --resume",
        )


def broken_run(path: Path, reason: str) -> RunRecord:
    """A run whose run.json cannot be read: listed with status `broken` (the reason in `problem`),
    never dropped."""
    return RunRecord(id=path.name, path=path, status="broken", problem=f"{path / RUN_JSON}: {reason}")


def live_status(run: RunRecord) -> RunRecord:
    """A run recorded as `running` whose trainer no longer holds the run directory's lock has died
    (killed, crashed machine): shown as `interrupted`, so it is not mistaken for a live run."""
    from bbjcoder.fileio import lock_holder

    if run.status == "running" and lock_holder(run.path) is None:
        problem = "recorded as running, but no process holds it: killed? `train --resume` continues it"
        return run.model_copy(update={"status": "interrupted", "problem": problem})
    return run


def list_runs(runs_dir: Path = Path("runs")) -> list[RunRecord]:
    """Every run under `runs_dir`, oldest first; unreadable ones as `broken` runs, dead ones as
    `interrupted`."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    out = []
    for d in runs_dir.iterdir():
        if (d / RUN_JSON).is_file():
            try:
                out.append(live_status(RunRecord.read(d)))
            except RunError as exc:
                out.append(broken_run(d, exc.message))
    return sorted(out, key=lambda r: (r.created, r.id))


@contextlib.contextmanager
def _locked(run_path: Path) -> Iterator[None]:
    # train, eval and export may touch one run.json from different processes.
    with (run_path / ".run.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def update_run(run: RunRecord | Path, change: Callable[[RunRecord], RunRecord]) -> RunRecord:
    """Re-read run.json, apply `change` (record in, new record out), write it back atomically, all
    under a file lock; returns the record written."""
    path = run.path if isinstance(run, RunRecord) else Path(run)
    with _locked(path):
        new = change(RunRecord.read(path)).model_copy(update={"path": path})
        new.write()
    return new


def update_run_metrics(run: RunRecord | Path, section: str, data: Mapping[str, JsonValue]) -> RunRecord:
    """Merge `data` into `metrics[section]` of run.json (atomic)."""

    def change(rec: RunRecord) -> RunRecord:
        merged = {**rec.metrics, section: {**rec.metrics.get(section, {}), **data}}
        return rec.model_copy(update={"metrics": merged})

    return update_run(run, change)


# --- model card -------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "—" if v is None else str(v)


def _precision_tags(stages: Mapping[str, StageResult]) -> list[str]:
    """`qlora` for an NF4 run, else `lora-<precision>` as recorded by training (none if unrecorded)."""
    precisions = sorted({s.precision for s in stages.values() if s.precision})
    return ["qlora" if p == "nf4" else f"lora-{p}" for p in precisions]


def _provenance(data: TrainData) -> str:
    """Curated vs synthetic-reviewed records of stage 2, and what the config did with the latter."""
    if data.sft_curated_records is None:
        return "not recorded (run trained before provenance was tracked)"
    text = (
        f"{_fmt(data.sft_curated_records)} curated, {_fmt(data.sft_synthetic_records)} "
        "synthetic (teacher drafts accepted in human review)"
    )
    mode = data.synthetic or "include"
    weight = data.synthetic_weight if data.synthetic_weight is not None else 1.0
    if mode == "exclude":
        return text + '; synthetic records excluded by `[data] synthetic = "exclude"`'
    if data.sft_synthetic_records and weight != 1.0:
        return text + f"; synthetic records weighted x{weight:g} (`[data] synthetic_weight`)"
    return text


def render_model_card(run: RunRecord, eval_markdown: str | None = None) -> str:
    """MODEL_CARD.md text: HF YAML metadata and sections; eval results between fixed markers."""
    cfg = run.config
    model = cfg.get("model", {})
    base = run.base_model_name or model.get("path", "unknown")
    lora = cfg.get("lora", {})
    license_ = cfg.get("run", {}).get("license", "apache-2.0")
    meta = {
        "base_model": base,
        "library_name": "peft",
        "license": license_,
        "language": ["en"],
        "pipeline_tag": "text-generation",
        "tags": [
            "bbj",
            "business-basic",
            "code",
            "lora",
            *_precision_tags(run.stages),
            "bbjcoder",
        ],
    }
    yaml_lines = ["---"]
    for k, v in meta.items():
        yaml_lines.append(f"{k}: {json.dumps(v, ensure_ascii=False)}")
    yaml_lines.append("---")

    stages = run.stages
    stage_rows = [
        "| stage | status | steps | tokens seen | train loss | best val loss | wall time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("cpt", "sft"):
        st = stages.get(name)
        if st:
            stage_rows.append(
                f"| {name} | {_fmt(st.status)} | {_fmt(st.global_step)} | {_fmt(st.tokens_seen)} | "
                f"{_fmt(st.final_train_loss)} | {_fmt(st.best_val_loss)} | {_fmt(st.wall_time_s)} |"
            )
    data = run.data
    hp = []
    for stage in ("cpt", "sft"):
        s = cfg.get(stage, {})
        done = stages.get(stage)
        if s.get("enabled", True):
            # Epochs as trained (run record), not as configured: max_steps or early stopping may cut.
            hp.append(
                f"| {stage} | {_fmt(s.get('learning_rate'))} | {_fmt(done.epochs if done else None)} | "
                f"{_fmt(s.get('micro_batch_size', 1) * s.get('gradient_accumulation', 1))} | {_fmt(s.get('max_length'))} | "
                f"{_fmt(s.get('lr_scheduler'))} | {_fmt(s.get('packing'))} |"
            )
    eval_block = eval_markdown.strip() if eval_markdown else EVAL_PLACEHOLDER
    body = f"""
# {run.id}

A LoRA adapter for **{base}** that writes BBj (BASIS Business BASIC) across its four generations
(character UI, Visual PRO/5, BBj GUI, DWC), trained with `bbjcoder` in two stages: continued
pre-training on BBj source (stage 1, CPT) and supervised fine-tuning on ChatML examples with loss on
assistant tokens only (stage 2, SFT). Stage 2 continues stage 1's adapter.

## Data

- Stage 1 corpus: {_fmt(data.cpt_documents)} documents, {_fmt(data.cpt_blocks)} packed blocks.
- Stage 2: {_fmt(data.sft_train_examples)} training and {_fmt(data.sft_val_examples)} validation examples
  ({_fmt(data.sft_fim_examples)} in fill-in-the-middle form, {_fmt(data.sft_general_examples)} general-code examples against forgetting).
- Provenance of the stage-2 training records: {_provenance(data)}.
- Dataset hashes are in `run.json` (`dataset`).

## Hyperparameters

- Precision (as trained): {", ".join(_precision_tags(stages)) or "—"}; quantization: {_fmt(model.get("quantization"))}; LoRA r={_fmt(lora.get("r"))}, alpha={_fmt(lora.get("alpha") or 2 * int(lora.get("r", 0)))}, dropout={_fmt(lora.get("dropout"))}, targets={_fmt(lora.get("target_modules"))}.

| stage | learning rate | epochs | effective batch | max length | schedule | packing |
|---|---|---|---|---|---|---|
{chr(10).join(hp)}

## Training curves

{chr(10).join(stage_rows)}

![loss](loss.png)

## Evaluation results

{EVAL_START}
{eval_block}
{EVAL_END}

## Intended use

Writing, completing (including fill-in-the-middle in an IDE), explaining and migrating BBj code,
served locally (GGUF via llama.cpp/Ollama) or through the `bbjcoder serve`/`mcp` endpoints.

## Limits

- Generated BBj can be syntactically valid and still wrong: check it with `bbjcoder check` and test it.
- The training data is small and curated; APIs outside it (rare verbs, newer DWC features) may be invented.
- The base model's license and limitations apply as well; general-code ability may have dropped
  somewhat (see the forgetting suite in the evaluation results).
"""
    return "\n".join(yaml_lines) + "\n" + body


def _existing_eval_block(card_path: Path) -> str | None:
    if not card_path.is_file():
        return None
    text = card_path.read_text(encoding="utf-8")
    m = re.search(re.escape(EVAL_START) + r"\n(.*?)\n?" + re.escape(EVAL_END), text, re.S)
    if not m or m.group(1).strip() == EVAL_PLACEHOLDER:
        return None
    return m.group(1)


def write_model_card(run: RunRecord | Path) -> Path:
    """(Re)write MODEL_CARD.md from run.json, keeping any evaluation results already filled in."""
    run = run if isinstance(run, RunRecord) else resolve_run(run)
    card = run.path / MODEL_CARD
    atomic_write_text(card, render_model_card(run, _existing_eval_block(card)))
    return card


def write_eval_results(run: RunRecord | Path, markdown: str) -> Path:
    """Replace the "Evaluation results" section's content of MODEL_CARD.md with `markdown`."""
    run = run if isinstance(run, RunRecord) else resolve_run(run)
    card = run.path / MODEL_CARD
    atomic_write_text(card, render_model_card(run, markdown))
    return card


# --- compare ----------------------------------------------------------------------------------


def flatten(obj: object, prefix: str = "") -> dict[str, object]:
    """Nested dicts to dotted keys; lists stay values."""
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj} if prefix else {"": obj}


def _config_values(run: RunRecord) -> dict[str, object]:
    return {f"config.{k}": v for k, v in flatten(run.config).items()}


def _metric_values(run: RunRecord) -> dict[str, object]:
    out = {f"metrics.{k}": v for k, v in flatten(run.metrics).items()}
    for stage, s in run.stages.items():
        recorded = s.model_dump(exclude_unset=True)
        for key in (
            "global_step",
            "tokens_seen",
            "final_train_loss",
            "best_val_loss",
            "wall_time_s",
            "status",
        ):
            if key in recorded:
                out[f"stages.{stage}.{key}"] = recorded[key]
    return out


def _provenance_values(run: RunRecord) -> dict[str, object]:
    """Curated vs synthetic stage-2 records, so a run with and one without synthetic data compare."""
    data = run.data.model_dump(exclude_unset=True)
    return {f"data.{k}": data[k] for k in ("sft_curated_records", "sft_synthetic_records") if k in data}


# Each extractor maps a run to flat {"section.key": value} (eval metrics are in run.json's metrics).
_EXTRACTORS: tuple[tuple[str, Callable[[RunRecord], Mapping[str, object]]], ...] = (
    ("config", _config_values),
    ("data", _provenance_values),
    ("metrics", _metric_values),
)


@dataclass(frozen=True)
class CompareRow:
    key: str
    a: Any
    b: Any

    @property
    def differs(self) -> bool:
        return self.a != self.b


def compare_runs(a: RunRecord, b: RunRecord, *, only_differences: bool = True) -> list[CompareRow]:
    """Values from every extractor for both runs, differences only by default.

    Config rows list differences; metric rows are always kept (they are what one compares).
    """
    rows: list[CompareRow] = []
    for name, fn in _EXTRACTORS:
        va, vb = fn(a), fn(b)
        for key in sorted(set(va) | set(vb)):
            row = CompareRow(key, va.get(key), vb.get(key))
            if name == "config" and only_differences and not row.differs:
                continue
            rows.append(row)
    return rows


def compare_table(a: RunRecord, b: RunRecord, *, only_differences: bool = True) -> Any:
    """A Rich table of `compare_runs`, with the difference (b - a) for numbers."""
    from rich.table import Table

    table = Table(title=f"{a.id}  vs  {b.id}")
    table.add_column("key")
    table.add_column(a.id, overflow="fold")
    table.add_column(b.id, overflow="fold")
    table.add_column("b - a", justify="right")
    for row in compare_runs(a, b, only_differences=only_differences):
        delta = ""
        if isinstance(row.a, int | float) and isinstance(row.b, int | float) and not isinstance(row.a, bool):
            delta = _fmt(row.b - row.a)
        style = "bold" if row.differs else None
        table.add_row(row.key, _fmt(row.a), _fmt(row.b), delta, style=style)
    return table
