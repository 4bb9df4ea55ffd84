"""Where a demo runs and with which settings: the demo directory (a new one, the latest of its
profile, or --out) and the run config resolved into it: the tiny model (quick or full) or, with
`--profile real`, the real Qwen2.5-Coder-0.5B-Instruct fetched from PyPI (configs/qwen2.5-coder-0.5b-cpu.toml)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from bbjcoder.config import RunConfig, load_config
from bbjcoder.errors import UserError
from bbjcoder.evaluate.forgetting import is_humaneval
from bbjcoder.records.demo import DemoStages
from bbjcoder.runs import new_run_id

STAGES_JSON = "stages.json"
DEFAULT_CONFIG = Path("configs/demo.toml")
REAL_CONFIG = Path("configs/qwen2.5-coder-0.5b-cpu.toml")
REAL_MODEL: Final = "qwen2.5-coder-0.5b-instruct"  # bbjcoder.models.fetch's name for it
REAL_QUANT: Final = "q8_0"  # what export's "auto" picks for a GGUF-imported 0.5B base (docs/results.md)
DEMO_QUANT: Final = "q4_k_m"  # the demo exports F16 + Q4_K_M whatever the config's [export] says
# (what, command) for each stage run alone on the demo's files: report.html lists them.
COMMANDS: Final = (
    ("the whole data stage", "bbjcoder data build --config {c}"),
    ("train (continue this run)", "bbjcoder train --config {c} --resume --run {d}"),
    ("train (a new run on the same data)", "bbjcoder train --config {c}"),
    ("export GGUF + Modelfile", "bbjcoder export {id} --runs-dir {runs} --quant {q} --name {name}"),
    ("evaluate against the base model", "bbjcoder eval --config {c} --model run:{id} --baseline base"),
    ("serve it", "bbjcoder serve --model gguf:{gguf} --port 8000"),
    ("compare with another run", "bbjcoder runs compare {id} OTHER_RUN --runs-dir {runs}"),
    ("draft examples for the weak areas", "bbjcoder data suggest --from-eval {d}"),
)
# --quick: the same pipeline with fewer steps, cases and tokens (≤ 5 minutes on 2 cores). 30 + 20
# steps still show validation loss falling (measured -27% in stage 1, -10% in stage 2).
QUICK: Final[dict[str, object]] = {
    **{f"{stage}.{k}": v for stage in ("cpt", "sft") for k, v in (("eval_steps", 10), ("save_steps", 10))},
    **{"cpt.max_steps": 30, "cpt.logging_steps": 2, "sft.max_steps": 20, "sft.logging_steps": 2},
    **{"sft.gradient_accumulation": 1, "eval.max_cases": 4, "eval.n_samples": 2, "eval.k": [1, 2]},
    **{"eval.max_new_tokens": 48, "eval.forgetting_max_problems": 4, "eval.forgetting_max_new_tokens": 48},
}
# The full profile of the shipped config evaluates the whole suite (demo.toml's max_cases keeps a
# plain `bbjcoder eval --config configs/demo.toml` short; the demo has the time for all cases).
FULL: Final[dict[str, object]] = {"eval.max_cases": None}
# --profile real --quick: the real model through every stage in a bounded time (SFT only, a few
# steps, a stratified 16-case subset and 20 HumanEval problems); plain --profile real is the recipe.
REAL_QUICK: Final[dict[str, object]] = {
    **{"cpt.enabled": False, "sft.max_steps": 5, "sft.eval_steps": 5, "sft.save_steps": 5},
    **{"eval.max_cases": 16, "eval.max_new_tokens": 256, "eval.forgetting_max_problems": 20},
}


@dataclass(frozen=True)
class DemoOptions:
    quick: bool = False
    profile: Literal["tiny", "real"] = "tiny"  # real: Qwen2.5-Coder-0.5B-Instruct from PyPI
    fresh: bool = False
    out: Path | None = None  # the demo directory itself; default: the latest runs/demo-* or a new one
    config: Path | None = None  # default configs/demo.toml
    forgetting: bool = True  # include the general-code forgetting check in the eval stage
    overrides: tuple[tuple[str, object], ...] = ()  # `--set SECTION.FIELD=VALUE`, after the profile

    @property
    def name(self) -> str:
        """The profile as stages.json records it: quick, full, real or real-quick."""
        if self.profile == "real":
            return "real-quick" if self.quick else "real"
        return "quick" if self.quick else "full"


def demo_config(
    source: Path,
    demo_dir: Path,
    *,
    quick: bool,
    shipped: bool = True,
    extra: tuple = (),
    real: bool = False,
) -> RunConfig:
    """The config file with the profile's overrides, data and runs inside `demo_dir`, absolute paths."""
    cfg, d = load_config(source), demo_dir.resolve()
    data, ev, mix = cfg.data, cfg.eval, cfg.data.general_mix
    if real:  # the recipe's own settings; the model directory the model stage fills
        quant = REAL_QUANT if cfg.export.quant == "auto" else cfg.export.quant
        over = {
            **(REAL_QUICK if quick else {}),
            "export.quant": quant,
            "model.path": str(Path(cfg.model.path).resolve()),
        }
    else:
        over = {**(QUICK if quick else FULL if shipped else {}), "export.quant": DEMO_QUANT}
    over |= {"run.runs_dir": d.parent, "data.dataset_dir": d / "dataset", "eval.suite": ev.suite.resolve()}
    over |= {"data.training_data": [p.resolve() for p in data.training_data]}
    over |= {
        "data.corpus_dirs": [p.resolve() for p in data.corpus_dirs],
        "data.general_mix": mix and mix.resolve(),
    }
    if ev.forgetting_suite is not None and not is_humaneval(ev.forgetting_suite):  # a name, not a path
        over["eval.forgetting_suite"] = ev.forgetting_suite.resolve()
    return cfg.with_overrides({**over, **dict(extra)})


def choose_demo_dir(opts: DemoOptions, runs_dir: Path, name: str) -> Path:
    """--out DIR, else the latest demo of this profile under runs_dir (unless --fresh), else a new one."""
    profile = opts.name
    if (out := opts.out) is not None:
        if out.exists() and any(out.iterdir()) and not (out / STAGES_JSON).is_file():
            msg = "not a demo directory (no stages.json) and not empty; refusing to write into it"
            raise UserError(msg, path=out, hint="pass a new or empty --out directory")
        if opts.fresh and out.exists():
            shutil.rmtree(out)
        return out
    if not opts.fresh and (latest := DemoStages.latest(runs_dir, STAGES_JSON, profile)) is not None:
        return latest
    path = base = runs_dir / new_run_id(f"{name}-quick" if opts.quick else name)
    for n in range(2, 1000):  # two demos started in the same second
        if not path.exists():
            break
        path = base.with_name(f"{base.name}-{n}")
    return path


def prepare(opts: DemoOptions) -> tuple[Path, RunConfig]:
    """The demo directory and the config resolved into it; refuses where the shipped inputs are not."""
    real = opts.profile == "real"
    source = opts.config or (REAL_CONFIG if real else DEFAULT_CONFIG)
    base = load_config(source)
    for needed in (*base.data.training_data, *base.data.corpus_dirs, base.eval.suite):
        if not needed.exists():
            raise UserError("not found: the demo runs where training-data/, corpus/, evals/ are", path=needed)
    d = choose_demo_dir(opts, Path(base.run.runs_dir), base.run.name).resolve()
    cfg = demo_config(
        source, d, quick=opts.quick, shipped=opts.config is None, extra=opts.overrides, real=real
    )
    return d, cfg
