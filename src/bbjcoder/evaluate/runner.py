"""`bbjcoder eval` as a story: load the suite, sample every model (resumably), score, report.

The model under test comes first, then the baselines; all share one samples.jsonl keyed by model,
so re-running after a kill (or adding a baseline) only generates what is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bbjcoder.config import EvalSection, RunConfig, RunSection
from bbjcoder.errors import ModelError, UserError
from bbjcoder.evaluate.forgetting import (
    HUMANEVAL,
    Problem,
    SandboxLimits,
    default_workers,
    is_humaneval,
    load_problems,
    solution_code,
)
from bbjcoder.evaluate.gate import general_gate
from bbjcoder.evaluate.generate import (
    ModelSpec,
    SamplingParams,
    Task,
    generate_samples,
    make_backend,
    parse_spec,
    resolve_run,
)
from bbjcoder.evaluate.prompts import PROMPT_STYLES, case_prompt, general_prompt, general_stops
from bbjcoder.evaluate.report import build_report, model_card_section, write_report
from bbjcoder.evaluate.samples import SampleStore
from bbjcoder.evaluate.scoring import CheckFn, default_checker, sample_code, score_general, score_model
from bbjcoder.evaluate.suite import Case, Suite, load_suite
from bbjcoder.fileio import DirLock, atomic_write_json, sha256_file
from bbjcoder.records.eval_report import EvalReport, EvalSettingsInfo, ModelInfo, SuiteInfo

SAMPLES, GENERAL_SAMPLES = "samples.jsonl", "general-samples.jsonl"
SAMPLING_JSON = "sampling.json"  # the settings the stored samples were drawn with
# What a sample depends on besides its model, case and index (each index has its own seed, so -n
# may grow or shrink: sample i is the same draw either way; batch size changes nothing either).
SAMPLE_KEYS = ("temperature", "top_p", "max_new_tokens", "stop", "seed")


_EVAL = EvalSection()  # the one home of the eval defaults


@dataclass(frozen=True)
class EvalSettings:
    """What one eval does: the `[eval]` section resolved against the run's seed and runs_dir
    (`from_config`); the defaults are `config.EvalSection`'s."""

    params: SamplingParams = field(default_factory=SamplingParams)
    ks: tuple[int, ...] = tuple(_EVAL.k)
    max_cases: int | None = _EVAL.max_cases
    cases_seed: int = _EVAL.cases_seed  # which stratified subset max_cases takes
    # `humaneval` (the default for real runs) or a directory like evals/general-code (the demo's).
    forgetting_suite: Path | None = _EVAL.forgetting_suite
    forgetting_samples: int = _EVAL.forgetting_samples  # pass@1 from one (greedy) sample per problem
    forgetting_max: int | None = _EVAL.forgetting_max_problems
    forgetting_prompt: str = _EVAL.forgetting_prompt  # auto | chat | completion (see forgetting_style)
    forgetting_max_new_tokens: int | None = None  # None: params.max_new_tokens
    max_general_drop: float = _EVAL.forgetting_max_drop  # the gate: points of general pass@1
    sandbox_workers: int | None = None  # None: one sandbox per core
    runs_dir: Path = RunSection().runs_dir
    timeout_s: float = _EVAL.request_timeout_s
    bootstrap_seed: int = 0
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)

    @classmethod
    def from_config(cls, cfg: RunConfig) -> EvalSettings:
        """The settings of `cfg.eval`; its seed defaults to the run's seed."""
        ev = cfg.eval
        params = SamplingParams(
            n=ev.n_samples,
            temperature=ev.temperature,
            top_p=ev.top_p,
            max_new_tokens=ev.max_new_tokens,
            stop=tuple(ev.stop),
            seed=ev.seed if ev.seed is not None else cfg.run.seed,
            batch_size=ev.batch_size,
        )
        return cls(
            params=params,
            ks=tuple(ev.k),
            max_cases=ev.max_cases,
            cases_seed=ev.cases_seed,
            forgetting_suite=ev.forgetting_suite,
            forgetting_samples=ev.forgetting_samples,
            forgetting_max=ev.forgetting_max_problems,
            forgetting_prompt=ev.forgetting_prompt,
            forgetting_max_new_tokens=ev.forgetting_max_new_tokens,
            max_general_drop=ev.forgetting_max_drop,
            runs_dir=cfg.run.runs_dir,
            timeout_s=ev.request_timeout_s,
        )

    def info(self, forgetting_prompts: dict[str, str]) -> EvalSettingsInfo:
        """The settings as the report records them."""
        general = self.general_params()
        return EvalSettingsInfo(
            n=self.params.n,
            temperature=self.params.temperature,
            top_p=self.params.top_p,
            max_new_tokens=self.params.max_new_tokens,
            stop=list(self.params.stop),
            seed=self.params.seed,
            batch_size=self.params.batch_size,
            ks=list(self.ks),
            max_cases=self.max_cases,
            cases_seed=self.cases_seed,
            forgetting_suite=str(self.forgetting_suite) if self.forgetting_suite else None,
            forgetting_samples=self.forgetting_samples,
            forgetting_max=self.forgetting_max,
            forgetting_prompt=self.forgetting_prompt,
            forgetting_max_new_tokens=general.max_new_tokens,
            forgetting_temperature=general.temperature,
            max_general_drop=self.max_general_drop,
            forgetting_prompts=forgetting_prompts,
        )

    def general_params(self, style: str = "chat") -> SamplingParams:
        """Sampling for the forgetting check: greedy when one sample per problem (as published
        pass@1 figures are made), short max tokens, and the prompt style's stop sequences."""
        n = self.forgetting_samples
        return replace(
            self.params,
            n=n,
            temperature=0.0 if n == 1 else self.params.temperature,
            max_new_tokens=self.forgetting_max_new_tokens or self.params.max_new_tokens,
            stop=(*self.params.stop, *general_stops(style)),
        )


@dataclass(frozen=True)
class EvalResult:
    out_dir: Path
    report: EvalReport
    paths: dict[str, Path]
    generated: int  # samples generated by this call (0 when everything was resumed)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _file_fingerprint(path: Path) -> list[Any]:
    """(name, size, sha256 of the first and last MiB): cheap enough for 30 GB weights, and any
    retrained or re-quantized file changes it."""
    size = path.stat().st_size
    h = hashlib.sha256()
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), 2)
            h.update(fh.read(1 << 20))
    return [path.name, size, h.hexdigest()]


def model_hash(description: dict[str, Any]) -> str:
    """A fingerprint of the weights a backend uses (config/tokenizer files, weight files)."""
    parts: list[Any] = [description.get("backend")]
    for key in ("path", "adapter"):
        p = description.get(key)
        if not p:
            continue
        path = Path(p)
        files = (
            [path]
            if path.is_file()
            else sorted(
                f
                for f in path.iterdir()
                if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".gguf", ".model")
            )
            if path.is_dir()
            else []
        )
        parts += [_file_fingerprint(f) for f in files]
    if description.get("backend") == "openai":
        parts += [description.get("model"), description.get("base_url")]
    return _sha(parts)


def suite_tasks(cases: Sequence[Case]) -> list[Task]:
    return [Task(c.id, case_prompt(c), {"case": c}) for c in cases]


def general_tasks(problems: Sequence[Problem], style: str = "chat") -> list[Task]:
    return [Task(p.id, general_prompt(p.prompt, style), {"problem": p}) for p in problems]


_INSTRUCT_NAME = re.compile(r"instruct|chat|(^|[-_.])it($|[-_.])", re.IGNORECASE)


def forgetting_style(setting: str, spec: ModelSpec, runs_dir: Path = Path("runs")) -> str:
    """How the forgetting check prompts this model: `chat` or `completion` (plain continuation of the
    signature and docstring, cut at top-level stop sequences), as published HumanEval numbers are made.

    `auto`: chat for a run (trained on chat turns) and for openai: servers (chat-only); otherwise
    chat when the model's file or directory name says instruct/chat/-it (Qwen2.5-Coder-7B-Instruct),
    completion when it does not (Qwen2.5-Coder-7B, a base model).
    """
    if setting not in ("auto", *PROMPT_STYLES):
        raise UserError(f"unknown forgetting prompt style {setting!r}", hint="use auto, chat or completion")
    if setting == "completion" and spec.kind == "openai":
        raise UserError(
            f"{spec.label}: an openai: server is asked through chat only, not plain completion",
            hint='set [eval] forgetting_prompt = "auto" or "chat"',
        )
    if setting != "auto":
        return setting
    if spec.kind in ("run", "openai"):
        return "chat"
    path = resolve_run(spec.target, runs_dir).base_model() if spec.kind == "base" else Path(spec.target)
    name = path.name
    return "chat" if _INSTRUCT_NAME.search(name) else "completion"


def _missing(store: SampleStore, label: str, tasks: Sequence[Task], n: int) -> bool:
    return any((label, t.id, i) not in store for t in tasks for i in range(n))


def default_out_dir(spec: ModelSpec, suite: Suite, runs_dir: Path) -> Path:
    if spec.kind != "run":
        raise ModelError("--out is required unless the model under test is a run:ID")
    return resolve_run(spec.target, runs_dir).path / "eval" / suite.name


def check_sample_settings(
    out: Path, params: SamplingParams, *, fresh: bool = False, extra: dict[str, Any] | None = None
) -> None:
    """Resume only samples drawn with the same settings: refuse (with a `--fresh` hint) when
    `out` holds samples from other sampling settings; `fresh` deletes the old samples instead.
    `extra` settings (the forgetting check's) are compared where the stored file records them."""
    current: dict[str, Any] = {k: v for k, v in params.to_dict().items() if k in SAMPLE_KEYS}
    current["stop"] = list(current["stop"])
    extra = extra or {}
    current.update(extra)
    stored_path = out / SAMPLING_JSON
    sample_files = [out / SAMPLES, out / GENERAL_SAMPLES, out / "models.json"]
    if fresh:
        for f in [*sample_files, stored_path]:
            f.unlink(missing_ok=True)
    elif stored_path.exists():
        from bbjcoder.integrity import check_json_object

        stored = check_json_object(stored_path, hint="delete it and the samples with `--fresh`")
        keys = [*SAMPLE_KEYS, *(k for k in extra if k in stored)]
        changed = [f"{k} {stored.get(k)!r} -> {current[k]!r}" for k in keys if stored.get(k) != current[k]]
        if changed:
            raise UserError(
                f"the samples here were drawn with other settings ({'; '.join(changed)}); "
                "resuming would mix them into a report that claims the new ones",
                path=out,
                hint="pass --fresh to delete them and sample again, or choose another --out",
            )
    elif any(f.exists() and f.stat().st_size for f in sample_files[:2]):
        raise UserError(
            f"samples here do not record the settings they were drawn with (no {SAMPLING_JSON})",
            path=out,
            hint="pass --fresh to delete them and sample again, or choose another --out",
        )
    atomic_write_json(stored_path, current)


def run_eval(
    model: str,
    suite_path: str | Path,
    *,
    baselines: Sequence[str] = (),
    out_dir: str | Path | None = None,
    settings: EvalSettings = EvalSettings(),
    check: CheckFn | None = None,
    log: Callable[[str], None] = lambda _msg: None,
    fresh: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalResult:
    """Evaluate `model` and `baselines` (SPEC strings) on a suite; write the report to out_dir.

    With model `run:ID` the default out_dir is `runs/ID/eval/<suite>/` and the results are
    written into the run's MODEL_CARD.md and run.json metrics. The output directory is locked
    while the eval runs (a second eval into it exits naming this one's pid); samples drawn with
    other sampling settings are refused, or deleted first with `fresh`.
    `progress(label, done, total)` is called after every stored sample of each model.
    """
    with contextlib.ExitStack() as held:
        return _run_eval(
            model,
            suite_path,
            baselines=baselines,
            out_dir=out_dir,
            settings=settings,
            check=check,
            log=log,
            fresh=fresh,
            held=held,
            progress=progress,
        )


def _run_eval(
    model: str,
    suite_path: str | Path,
    *,
    baselines: Sequence[str],
    out_dir: str | Path | None,
    settings: EvalSettings,
    check: CheckFn | None,
    log: Callable[[str], None],
    fresh: bool,
    held: contextlib.ExitStack,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalResult:
    suite = load_suite(suite_path).subset(settings.max_cases, settings.cases_seed)
    check = check or default_checker()
    spec = parse_spec(model)
    run_id = spec.target if spec.kind == "run" else None
    specs = [spec, *(parse_spec(b, run=run_id) for b in baselines)]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ModelError(f"the same model is named twice: {labels}")
    out = Path(out_dir) if out_dir is not None else default_out_dir(spec, suite, settings.runs_dir)
    out.mkdir(parents=True, exist_ok=True)
    held.enter_context(DirLock(out, "eval output directory"))
    params = settings.params
    problems: list[Problem] | None = None
    if settings.forgetting_suite is not None:
        problems = load_problems(settings.forgetting_suite)[: settings.forgetting_max]
    styles = {s.label: forgetting_style(settings.forgetting_prompt, s, settings.runs_dir) for s in specs}
    forgetting_keys: dict[str, Any] = {
        "forgetting_suite": HUMANEVAL
        if is_humaneval(settings.forgetting_suite)
        else str(settings.forgetting_suite),
        "forgetting_prompt": settings.forgetting_prompt,
        "forgetting_max_new_tokens": settings.general_params().max_new_tokens,
        "forgetting_temperature": settings.general_params().temperature,
    }
    check_sample_settings(out, params, fresh=fresh, extra=forgetting_keys if problems else None)
    store = SampleStore(out / SAMPLES)
    gstore = SampleStore(out / GENERAL_SAMPLES)
    tasks = suite_tasks(suite.cases)

    def bbj_post(task: Task, text: str) -> str:
        return sample_code(task.extra["case"], text)

    def py_post(task: Task, text: str) -> str:
        return solution_code(task.extra["problem"], text)

    models_meta: list[ModelInfo] = []
    generated = 0
    meta_path = out / "models.json"
    known: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    for i, s in enumerate(specs):
        gparams = settings.general_params(styles[s.label])
        gtasks = general_tasks(problems, styles[s.label]) if problems else []
        need = _missing(store, s.label, tasks, params.n) or _missing(gstore, s.label, gtasks, gparams.n)
        if need:  # load a model only when it still has samples to produce
            t0 = time.perf_counter()
            backend = make_backend(s, runs_dir=settings.runs_dir, timeout_s=settings.timeout_s, log=log)
            try:
                log(f"sampling {s.label}")
                generated += generate_samples(
                    backend, tasks, params, store, postprocess=bbj_post, progress=_labelled(progress, s.label)
                )
                if gtasks:
                    g0, before = time.perf_counter(), generated
                    generated += generate_samples(
                        backend,
                        gtasks,
                        gparams,
                        gstore,
                        postprocess=py_post,
                        progress=_labelled(progress, f"{s.label} (general)"),
                    )
                    made, secs = generated - before, time.perf_counter() - g0
                    if made:
                        log(
                            f"forgetting check ({len(gtasks)} problems, {styles[s.label]} prompt): "
                            f"{made} samples in {secs:.0f} s, {made / secs * 60:.1f} samples/min"
                        )
            finally:
                backend.close()
            desc = backend.description
            known[s.label] = {
                "description": desc,
                "model_hash": model_hash(desc),
                "seconds": time.perf_counter() - t0,
            }
            atomic_write_json(meta_path, known)
        desc = known.get(s.label, {}).get("description", {"backend": s.kind})
        models_meta.append(
            ModelInfo(
                label=s.label,
                role="model" if i == 0 else "baseline",
                spec=s.label,
                description=desc,
                model_hash=known.get(s.label, {}).get("model_hash", _sha([s.label])),
                backend_hash=_sha([desc, params.to_dict()]),
            )
        )

    log("scoring")
    all_records = list(store.records())
    results = {s.label: score_model(s.label, suite.cases, all_records, check, params.n) for s in specs}
    general = None
    gate = None
    if problems:
        grecs = list(gstore.records())
        workers = settings.sandbox_workers or default_workers()
        general = {}
        for s in specs:
            t0 = time.perf_counter()
            general[s.label] = score_general(s.label, problems, grecs, settings.sandbox, workers=workers)
            ran = sum(len(g.outcomes) for g in general[s.label])
            secs = time.perf_counter() - t0
            if ran:
                log(
                    f"sandbox: {ran} {s.label} samples in {secs:.1f} s ({ran / secs:.1f}/s, {workers} at once)"
                )
        if len(specs) > 1:
            ref, mut = specs[1].label, specs[0].label
            gate = general_gate(
                ref,
                {g.problem_id: g.pass_rate for g in general[ref]},
                mut,
                {g.problem_id: g.pass_rate for g in general[mut]},
                max_drop=settings.max_general_drop,
                suite=str(forgetting_keys["forgetting_suite"]),
                seed=settings.bootstrap_seed,
            )
    cases_file = suite.path / "cases.jsonl" if suite.path.is_dir() else suite.path
    suite_meta = SuiteInfo(
        name=suite.name, path=str(suite.path), cases=len(suite.cases), sha256=sha256_file(cases_file)
    )
    config = settings.info({label: styles[label] for label in labels} if problems else {})
    report = build_report(
        suite=suite_meta,
        models=models_meta,
        results=results,
        general=general,
        ks=[k for k in settings.ks if k <= params.n],
        config=config,
        config_hash=_sha([config.model_dump(mode="json"), suite_meta.sha256]),
        seed=settings.bootstrap_seed,
        gate=gate.record() if gate else None,
    )
    review_db = out / "review.sqlite"
    if review_db.exists():
        from bbjcoder.evaluate.review import review_summary

        report = report.model_copy(update={"review": review_summary(review_db)})
    paths = write_report(out, report)
    if spec.kind == "run":
        _record_in_run(spec.target, settings.runs_dir, report)
    log(f"report: {paths['md']}")
    return EvalResult(out, report, paths, generated)


def _labelled(
    progress: Callable[[str, int, int], None] | None, label: str
) -> Callable[[int, int], None] | None:
    """`generate_samples`' (done, total) callback that reports under a model's label."""
    if progress is None:
        return None
    return lambda done, total: progress(label, done, total)


def _record_in_run(run_id: str, runs_dir: Path, report: EvalReport) -> None:
    """MODEL_CARD.md evaluation section + run.json metrics.eval.<suite> (for `runs compare`)."""
    from bbjcoder.runs import resolve_run, update_run_metrics, write_eval_results

    run = resolve_run(run_id, runs_dir)
    update_run_metrics(run, "eval", {report.suite.name: report.run_metrics()})
    write_eval_results(resolve_run(run_id, runs_dir), model_card_section(report))
