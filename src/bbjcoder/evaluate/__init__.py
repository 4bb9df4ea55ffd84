"""Evaluation: the held-out suite, generation backends, compile@k metrics, reports and human review.

Entry point: `run(cfg, model, *, baselines, progress) -> EvalReport`; also `load_suite`
(evaluate.suite) and `create_app` (evaluate.review). Heavy imports (torch, transformers,
llama_cpp, openai) stay inside the backends that need them, and this module imports nothing
at load time, so `bbjcoder --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bbjcoder.config import RunConfig
    from bbjcoder.records.eval_report import EvalReport


def run(
    cfg: RunConfig,
    model: str,
    *,
    baselines: Sequence[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    out: Path | None = None,
    fresh: bool = False,
    log: Callable[[str], None] | None = None,
) -> EvalReport:
    """Evaluate `model` (a SPEC: hf:PATH, gguf:PATH, openai:MODEL@URL, run:ID) on `cfg.eval.suite`
    with `cfg.eval`'s settings, beside `baselines` (default: `cfg.eval.baselines`; `base` is a
    run's base model). Writes report.json/.md/.png into `out` (default for run:ID:
    runs/ID/eval/<suite>/) and, for a run, its model card and run.json metrics. Resumes the
    samples already drawn there. `progress(label, done, total)` follows each model's sampling."""
    from bbjcoder.evaluate.runner import EvalSettings, run_eval

    result = run_eval(
        model,
        cfg.eval.suite,
        baselines=list(cfg.eval.baselines if baselines is None else baselines),
        out_dir=out,
        settings=EvalSettings.from_config(cfg),
        fresh=fresh,
        progress=progress,
        log=log or (lambda _msg: None),
    )
    return result.report
