"""Export a trained run: merge the adapter, convert to GGUF, quantize, write Modelfile and README.

Everything is written into `runs/<id>/export.tmp-*` and renamed to `runs/<id>/export/` only when
complete, so a half-written export never looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bbjcoder.errors import ModelError
from bbjcoder.export.quantize import BITS_PER_WEIGHT, QUANTS, Quant
from bbjcoder.fileio import LOCK_NAME

__all__ = [
    "QUANTS",
    "ExportResult",
    "Quant",
    "RunPaths",
    "auto_quant",
    "clean_stale_temps",
    "configured_export",
    "export_run",
    "resolve_run",
]


@dataclass(frozen=True)
class RunPaths:
    """Where a run keeps what export needs."""

    run_dir: Path
    base_model: Path
    adapter: Path | None

    @property
    def export_dir(self) -> Path:
        return self.run_dir / "export"


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


def configured_export(run: str | Path, runs_dir: str | Path = "runs") -> tuple[Quant, str]:
    """(quant, name) from the run's config `[export]` section (run.json), the defaults otherwise:
    what `bbjcoder export RUN` uses when --quant / --name are not given."""
    from bbjcoder.runs import load_run

    section = load_run(run, Path(runs_dir)).config.get("export") or {}
    quant = section.get("quant") or "auto"
    if quant == "auto":
        quant = auto_quant(resolve_run(run, runs_dir).base_model)
    if quant not in QUANTS:
        raise ModelError(f"run config [export] quant {quant!r} is not one of auto, {', '.join(QUANTS)}")
    return quant, str(section.get("name") or "bbj-coder")


def auto_quant(base_model: Path) -> Quant:
    """The default quantization for a run on `base_model`: one that keeps the fine-tune (see
    `bbjcoder.export.fidelity.default_quant`: Q8_0 for small or GGUF-imported bases, else Q4_K_M)."""
    from safetensors import safe_open

    from bbjcoder.export.fidelity import base_was_quantized, default_quant
    from bbjcoder.export.gguf import _safetensors_files

    n_params = 0
    for f in _safetensors_files(base_model):
        with safe_open(str(f), framework="pt") as fh:
            for key in fh.keys():  # noqa: SIM118 - safe_open is not a Mapping
                shape = fh.get_slice(key).get_shape()
                n = 1
                for d in shape:
                    n *= int(d)
                n_params += n
    return default_quant(n_params, quantized_base=base_was_quantized(base_model))


def clean_stale_temps(run_dir: Path, log: Callable[[str], None] | None = None) -> list[Path]:
    """Remove `export.tmp-*` / `export.old-*` folders whose export process is gone (killed, crashed),
    saying so; a folder a live export holds (its lock) is left alone. Returns what was removed."""
    from bbjcoder.fileio import lock_holder

    removed = []
    for d in sorted(run_dir.glob("export.tmp-*")) + sorted(run_dir.glob("export.old-*")):
        if not d.is_dir() or lock_holder(d) is not None:
            continue
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
        if log is not None:
            log(f"removed {d}: left by an export that did not finish ({size / 1024**2:.1f} MiB freed)")
    return removed


@dataclass(frozen=True)
class ExportResult:
    """What `export_run` wrote: the export directory, its files, their sizes and step timings."""

    export_dir: Path
    merged_dir: Path
    gguf: dict[str, Path]  # quant -> file
    modelfile: Path
    readme: Path
    sizes: dict[str, int] = field(default_factory=dict)  # file name -> bytes
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds

    def gguf_for(self, quant: str) -> Path:
        return self.gguf[quant]


def resolve_run(run: str | Path, runs_dir: str | Path = "runs") -> RunPaths:
    """A run id (under `runs_dir`), `run:ID` or a run directory -> its base model and final adapter.

    Read through the run registry (`Run.base_model_dir`, the rule eval uses too; a run with no
    usable base_model_path falls back to a `model/` directory) and `adapter_path` (default `adapter/`).
    """
    from bbjcoder.runs import load_run

    rec = load_run(run, Path(runs_dir))
    run_dir = rec.path
    base = rec.base_model_dir
    if (base is None or not (base / "config.json").exists()) and (run_dir / "model" / "config.json").exists():
        base = run_dir / "model"
    if base is None or not (base / "config.json").exists():
        raise ModelError(
            f"cannot find the base model of run {rec.id} (base_model_path={rec.base_model_path!r})",
            path=run_dir / "run.json",
        )
    adapter = rec.adapter_path or run_dir / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise ModelError(
            "the run has no final adapter (adapter_config.json); has training finished?",
            path=adapter,
        )
    check_adapter(adapter)
    return RunPaths(run_dir=run_dir, base_model=base, adapter=adapter)


def _model_shape(gguf_path: Path) -> Any:
    import gguf as gg
    import numpy as np

    from bbjcoder.export.modelfile import ModelShape

    reader = gg.GGUFReader(str(gguf_path))
    arch = str(reader.fields["general.architecture"].contents())

    def num(key: str) -> int:
        return int(reader.fields[key.format(arch=arch)].contents())

    n_embd, n_head = num(gg.Keys.LLM.EMBEDDING_LENGTH), num(gg.Keys.Attention.HEAD_COUNT)
    n_params = int(sum(int(np.prod(t.shape)) for t in reader.tensors))
    return ModelShape(
        n_params=n_params,
        n_layers=num(gg.Keys.LLM.BLOCK_COUNT),
        n_kv_heads=num(gg.Keys.Attention.HEAD_COUNT_KV),
        head_dim=num(gg.Keys.Rope.DIMENSION_COUNT)
        if gg.Keys.Rope.DIMENSION_COUNT.format(arch=arch) in reader.fields
        else n_embd // n_head,
    )


@contextmanager
def _steps(show: bool, total: int) -> Iterator[Callable[[str], None]]:
    """A Rich progress bar over the export steps (stderr), or a no-op when `show` is False."""
    if not show:
        yield lambda _desc: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]export[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("starting", total=total)
        started = [False]

        def advance(desc: str) -> None:
            if started[0]:
                bar.advance(task)
            started[0] = True
            bar.update(task, description=desc)

        yield advance
        bar.advance(task)


def _record_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    from bbjcoder.runs import update_run_metrics

    update_run_metrics(run_dir, "export", metrics)


def export_run(
    run: str | Path,
    quant: Quant = "q4_k_m",
    name: str = "bbj-coder",
    progress: bool = False,
    *,
    runs_dir: str | Path = "runs",
) -> ExportResult:
    """Export `run` into `runs/<id>/export/`: merged HF dir, F16 GGUF, the `quant` GGUF, Modelfile, README.

    Replaces an earlier export only once the new one is complete.
    """
    from bbjcoder.export.gguf import convert_hf_to_gguf
    from bbjcoder.export.merge import merge_adapter
    from bbjcoder.export.modelfile import render_modelfile, render_readme
    from bbjcoder.export.quantize import quantize_gguf

    if quant == "auto":  # type: ignore[comparison-overlap]
        quant = auto_quant(resolve_run(run, runs_dir).base_model)
    if quant not in QUANTS:
        raise ModelError(f"unknown quantization {quant!r} (choose from auto, {', '.join(QUANTS)})")
    if not name or any(c in name for c in "/\\ :") or name.startswith("."):
        raise ModelError(f"invalid export name {name!r}: use letters, digits, '-', '_' and '.'")
    from bbjcoder.fileio import DirLock

    paths = resolve_run(run, runs_dir)
    clean_stale_temps(paths.run_dir, log=lambda msg: print(f"export: {msg}", file=sys.stderr, flush=True))
    tmp = Path(tempfile.mkdtemp(prefix="export.tmp-", dir=paths.run_dir))
    tmp_lock = DirLock(tmp, "export folder").acquire()  # tells a later export this one is alive
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the final export/ should read like any dir
    timings: dict[str, float] = {}
    gguf_files: dict[str, Path] = {}
    n_steps = 4 + (quant != "f16")
    try:
        with _steps(progress, n_steps) as step:
            t0 = time.perf_counter()
            step("merging the adapter into the base weights")
            merge_adapter(paths.base_model, paths.adapter, tmp / "merged")
            timings["merge_s"] = time.perf_counter() - t0

            t = time.perf_counter()
            step("converting to GGUF (F16)")
            f16 = tmp / f"{name}-f16.gguf"
            convert_hf_to_gguf(tmp / "merged", f16, out_type="f16", name=name)
            gguf_files["f16"] = f16
            timings["gguf_f16_s"] = time.perf_counter() - t

            if quant != "f16":
                t = time.perf_counter()
                step(f"quantizing to {quant.upper()} with llama.cpp")
                out = tmp / f"{name}-{quant}.gguf"
                quantize_gguf(f16, out, quant, log=tmp / f"quantize-{quant}.log")
                gguf_files[quant] = out
                timings[f"quantize_{quant}_s"] = time.perf_counter() - t

            step("writing Modelfile and README")
            modelfile = tmp / "Modelfile"
            # Plain writes suffice inside the temp dir: the rename below is what makes it atomic.
            modelfile.write_text(render_modelfile(gguf_files[quant].name), encoding="utf-8")
            sizes = {p.name: p.stat().st_size for p in gguf_files.values()}
            readme = tmp / "README.md"
            readme.write_text(
                render_readme(
                    name,
                    sizes,
                    _model_shape(f16),
                    modelfile_quant=quant,
                    bits_per_weight={q: BITS_PER_WEIGHT[q] for q in QUANTS},
                ),
                encoding="utf-8",
            )
            with readme.open("a", encoding="utf-8") as fh:
                fh.write(quant_note(quant, paths.base_model))
            timings["total_s"] = time.perf_counter() - t0
            step("finishing")
            summary = {
                "name": name,
                "quant": quant,
                "files": sizes,
                "timings": {k: round(v, 3) for k, v in timings.items()},
                "base_model": str(paths.base_model),
                "adapter": str(paths.adapter) if paths.adapter else None,
            }
            (tmp / "export.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            tmp_lock.release()
            (tmp / LOCK_NAME).unlink(missing_ok=True)
            _swap_into_place(tmp, paths.export_dir)
    except BaseException:
        tmp_lock.release()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final = paths.export_dir
    _record_metrics(paths.run_dir, {"files": sizes, "timings": summary["timings"], "quant": quant})
    return ExportResult(
        export_dir=final,
        merged_dir=final / "merged",
        gguf={q: final / p.name for q, p in gguf_files.items()},
        modelfile=final / "Modelfile",
        readme=final / "README.md",
        sizes=sizes,
        timings=timings,
    )


def quant_note(quant: str, base_model: Path) -> str:
    """The export README's section on why this quantization: what keeps a fine-tune, and what a
    base that only existed as a quantized GGUF costs."""
    from bbjcoder.export.fidelity import base_was_quantized

    text = f"""
## Which quantization, and why

This export's Modelfile uses **{quant.upper()}**. `bbjcoder export` chooses by default (`--quant auto`,
`[export] quant = "auto"`) the quantization that keeps the fine-tune: Q8_0 for bases under 3B
parameters or bases imported from a quantized GGUF, Q4_K_M for 7B/14B bases from full-precision
weights. A LoRA fine-tune changes each weight by a small delta; a quantizer with a coarse grid can
round that delta away, so a quantized export may answer like the untouched base. Check with
`benchmarks/export_fidelity.py`: it reports each export's KL divergence to the merged model and to the base.
"""
    if base_was_quantized(base_model):
        text += """
**This base existed only as a quantized GGUF** (`bbjcoder models import`): its weights were
dequantized for training, so the fine-tune starts from the quantized model, not the original, and
requantizing to the same 4/5-bit grid (Q4_K_M) snaps small deltas back onto the base's values.
F16 and Q8_0 exports keep the fine-tune; Q4_K_M of such a run is measured to drift back to the base
(docs/results.md). For the best quality, train from the full-precision checkpoint where you can get it.
"""
    return text


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename the finished temp dir to `final`, replacing an earlier export only after it succeeds."""
    old: Path | None = None
    if final.exists():
        old = final.with_name(f"export.old-{os.getpid()}-{time.time_ns()}")
        final.rename(old)
    try:
        tmp.rename(final)
    except BaseException:
        if old is not None:
            old.rename(final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
