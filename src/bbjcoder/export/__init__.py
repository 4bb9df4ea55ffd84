"""Export a trained run: merge the adapter, convert to GGUF, quantize, write Modelfile and README.

`run(cfg, run, progress=...)` is the stage's one entry point; it returns the `ExportManifest` it
wrote. Everything is written into `runs/<id>/export.tmp-*` and renamed to `runs/<id>/export/` only
when complete, so a half-written export never looks finished.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import JsonValue

from bbjcoder.errors import ModelError
from bbjcoder.export.modelfile import ModelShape
from bbjcoder.export.quantize import BITS_PER_WEIGHT, QUANTS, Quant
from bbjcoder.fileio import LOCK_NAME
from bbjcoder.records.export_manifest import MANIFEST, ExportManifest

if TYPE_CHECKING:
    from bbjcoder.config import ExportSection
    from bbjcoder.records.run import RunRecord

__all__ = [
    "QUANTS",
    "ExportManifest",
    "Quant",
    "auto_quant",
    "clean_stale_temps",
    "progress_bar",
    "run",
    "settings",
]

# progress(description, step, total steps): called as each export step starts.
Progress = Callable[[str, int, int], None]


def settings(run: RunRecord, *, quant: str | None = None, name: str | None = None) -> ExportSection:
    """The export settings of `run`: its config's `[export]` section (run.json), the defaults where
    it has none, with `quant` / `name` given on the command line taking precedence."""
    from pydantic import ValidationError

    from bbjcoder.config import ExportSection

    stored = run.config.get("export") or {}
    given = {k: v for k, v in (("quant", quant), ("name", name)) if v is not None}
    try:
        return ExportSection.model_validate({**stored, **given})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "--quant/--name" if given else "run config [export]"
        raise ModelError(
            f"{where}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}",
            path=run.path / "run.json",
            hint=f"quant is one of auto, {', '.join(QUANTS)}",
        ) from exc


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
class _GgufFacts:
    shape: ModelShape
    tokenizer_model: str | None
    vocab_size: int | None


def _gguf_facts(gguf_path: Path) -> _GgufFacts:
    """The model's shape (for the README's hardware tiers) and its tokenizer, read from the GGUF."""
    import gguf as gg
    import numpy as np

    reader = gg.GGUFReader(str(gguf_path))
    arch = str(reader.fields["general.architecture"].contents())

    def num(key: str) -> int:
        return int(reader.fields[key.format(arch=arch)].contents())

    n_embd, n_head = num(gg.Keys.LLM.EMBEDDING_LENGTH), num(gg.Keys.Attention.HEAD_COUNT)
    n_params = int(sum(int(np.prod(t.shape)) for t in reader.tensors))
    shape = ModelShape(
        n_params=n_params,
        n_layers=num(gg.Keys.LLM.BLOCK_COUNT),
        n_kv_heads=num(gg.Keys.Attention.HEAD_COUNT_KV),
        head_dim=num(gg.Keys.Rope.DIMENSION_COUNT)
        if gg.Keys.Rope.DIMENSION_COUNT.format(arch=arch) in reader.fields
        else n_embd // n_head,
    )
    model = reader.fields.get(gg.Keys.Tokenizer.MODEL)
    tokens = reader.fields.get(gg.Keys.Tokenizer.LIST)
    return _GgufFacts(
        shape,
        str(model.contents()) if model is not None else None,
        len(tokens.data) if tokens is not None else None,
    )


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A Rich progress bar on stderr driven by `progress(description, step, total)` calls."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]export[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("starting", total=None)

        def update(desc: str, step: int, total: int) -> None:
            bar.update(task, description=desc, completed=step, total=total)

        yield update
        bar.update(task, completed=bar.tasks[0].total or 0)


def run(cfg: ExportSection, run: RunRecord, *, progress: Progress | None = None) -> ExportManifest:
    """Export `run` into `<run>/export/`: merged HF dir, F16 GGUF, the `cfg.quant` GGUF (auto: the
    one that keeps the fine-tune, see `auto_quant`), Modelfile, README and manifest.json.

    Replaces an earlier export only once the new one is complete; records sizes and timings in
    run.json (`metrics.export`).
    """
    from bbjcoder.data.convert import system_prompt
    from bbjcoder.export.gguf import convert_hf_to_gguf
    from bbjcoder.export.merge import merge_adapter
    from bbjcoder.export.modelfile import STOP_TOKENS, TEMPLATE_NAME, render_modelfile, render_readme
    from bbjcoder.export.quantize import quantize_gguf
    from bbjcoder.fileio import DirLock
    from bbjcoder.runs import check_adapter, update_run_metrics

    name = cfg.name
    if not name or any(c in name for c in "/\\ :") or name.startswith("."):
        raise ModelError(f"invalid export name {name!r}: use letters, digits, '-', '_' and '.'")
    base_model = run.base_model()
    adapter = run.final_adapter()
    check_adapter(adapter)
    quant: Quant = auto_quant(base_model) if cfg.quant == "auto" else cfg.quant
    report = progress or (lambda _desc, _step, _total: None)
    clean_stale_temps(run.path, log=lambda msg: print(f"export: {msg}", file=sys.stderr, flush=True))
    tmp = Path(tempfile.mkdtemp(prefix="export.tmp-", dir=run.path))
    tmp_lock = DirLock(tmp, "export folder").acquire()  # tells a later export this one is alive
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the final export/ should read like any dir
    timings: dict[str, float] = {}
    gguf_files: dict[str, Path] = {}
    n_steps = 4 + (quant != "f16")
    steps = iter(range(n_steps))

    def step(desc: str) -> None:
        report(desc, next(steps), n_steps)

    try:
        t0 = time.perf_counter()
        step("merging the adapter into the base weights")
        merge_adapter(base_model, adapter, tmp / "merged")
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
        # Plain writes suffice inside the temp dir: the rename below is what makes it atomic.
        system = system_prompt()
        (tmp / "Modelfile").write_text(
            render_modelfile(gguf_files[quant].name, system=system), encoding="utf-8"
        )
        sizes = {p.name: p.stat().st_size for p in gguf_files.values()}
        facts = _gguf_facts(f16)
        readme = render_readme(
            name,
            sizes,
            facts.shape,
            modelfile_quant=quant,
            bits_per_weight={q: BITS_PER_WEIGHT[q] for q in QUANTS},
        )
        (tmp / "README.md").write_text(readme + quant_note(quant, base_model), encoding="utf-8")
        timings["total_s"] = time.perf_counter() - t0
        step("finishing")
        manifest = ExportManifest(
            name=name,
            quant=quant,
            gguf={q: p.name for q, p in gguf_files.items()},
            files=sizes,
            modelfile="Modelfile",
            readme="README.md",
            merged="merged",
            timings={k: round(v, 3) for k, v in timings.items()},
            base_model=str(base_model),
            adapter=str(adapter),
            template=TEMPLATE_NAME,
            stop_tokens=list(STOP_TOKENS),
            system_prompt=system,
            tokenizer_model=facts.tokenizer_model,
            vocab_size=facts.vocab_size,
            n_params=facts.shape.n_params,
        )
        manifest.save(tmp / MANIFEST)
        tmp_lock.release()
        (tmp / LOCK_NAME).unlink(missing_ok=True)
        _swap_into_place(tmp, run.export_dir)
    except BaseException:
        tmp_lock.release()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files: dict[str, JsonValue] = dict(sizes)
    timing: dict[str, JsonValue] = dict(manifest.timings)
    update_run_metrics(run, "export", {"files": files, "timings": timing, "quant": quant})
    return manifest.model_copy(update={"path": run.export_dir})


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
F16 and Q8_0 exports keep the fine-tune; Q4_K_M of such a run drifts back to the base. Measured on
Qwen2.5-Coder-0.5B-Instruct (docs/results.md): the Q8_0 export compiles 23.5% of the BBj suite,
its Q4_K_M export 7.6%, the untouched base 5.3%. For the best quality, train from the
full-precision checkpoint where you can get it.
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
