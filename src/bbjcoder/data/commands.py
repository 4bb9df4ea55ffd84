"""The `bbjcoder data ...` commands: run a data-stage step, print Rich summaries, return the exit code.

cli.py holds only the Typer signatures and calls these; tests call them directly too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from bbjcoder.config import DataSection, EvalSection
from bbjcoder.data.stage import (
    Converted,
    CorpusBuilt,
    Imported,
    Outcome,
    SplitDone,
    StatsWritten,
    collect_corpus,
    convert_examples,
    import_examples,
    rejected_path_for,
    split_dataset,
    write_stats,
)
from bbjcoder.errors import DataError

if TYPE_CHECKING:
    from bbjcoder.config import RunConfig
    from bbjcoder.data.quality import DedupConfig
    from bbjcoder.data.split import SplitConfig

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# The [data] section's defaults: the one home of these paths.
_DATA = DataSection()
DATASET_DIR, TRAINING_DATA, CORPUS_DIRS = _DATA.dataset_dir, _DATA.training_data[0], _DATA.corpus_dirs
SUITE = EvalSection().suite


def _print_problems(problems: Sequence[Any], notes: Sequence[str]) -> None:
    for note in notes:
        err.print(f"[yellow]warning:[/] {note}")
    for p in problems:
        colour = "red" if p.is_error else "yellow"
        err.print(
            f"{p.path}:{p.line}: [{colour}]{p.severity}:[/] {p.message}"
            if p.line
            else f"{p.path}: [{colour}]{p.severity}:[/] {p.message}"
        )


# --- validate / convert -------------------------------------------------------------------------


def validate(
    paths: Sequence[Path], *, strict: bool = False, check: bool = True, as_json: bool = False
) -> int:
    from bbjcoder.data.validate import validate_paths

    result = validate_paths(paths or [TRAINING_DATA], check_code=check, progress=not as_json)
    if as_json:
        print(
            json.dumps(
                {
                    "files": len(result.files),
                    "errors": result.errors,
                    "warnings": result.warnings,
                    "checker": result.checker_available,
                    "notes": result.notes,
                    "problems": [p.to_dict() for p in result.problems],
                },
                indent=2,
            )
        )
    else:
        _print_problems(result.problems, result.notes)
        bad = sum(1 for f in result.files if not f.ok)
        status = "[green]ok[/]" if result.errors == 0 else "[red]failed[/]"
        console.print(
            f"validate: {len(result.files)} examples, {bad} with errors, "
            f"{result.errors} errors, {result.warnings} warnings, "
            f"checker {'on' if result.checker_available else 'off'} — {status}"
        )
    if not result.files:
        err.print("[red]error:[/] no examples found")
        return 1
    return 1 if result.errors or (strict and result.warnings) else 0


def lint(paths: Sequence[Path], *, as_json: bool = False) -> int:
    """`data lint`: every finding as `file:line: rule: message`; exit 1 when there is one."""
    from rich.markup import escape

    from bbjcoder.data.lint import RULES, lint_paths

    targets = list(paths) or [p for p in (TRAINING_DATA, SUITE, *CORPUS_DIRS) if p.exists()]
    missing = [p for p in targets if not p.exists()]
    if missing:
        raise DataError("no such file or directory", path=missing[0])
    findings = lint_paths(targets)
    if as_json:
        print(json.dumps([f.to_dict() for f in findings], indent=2))
    else:
        for f in findings:
            err.print(f"{escape(f.path)}:{f.line}: [red]{f.rule}:[/] {escape(f.message)}")
        counts = {rule: sum(1 for f in findings if f.rule == rule) for rule in RULES}
        summary = ", ".join(f"{rule} {n}" for rule, n in counts.items() if n) or "none"
        status = "[green]ok[/]" if not findings else "[red]failed[/]"
        console.print(f"lint: {len(findings)} findings ({summary}) — {status}")
    return 1 if findings else 0


def convert(paths: Sequence[Path], out: Path, *, check: bool = True, quiet: bool = False) -> int:
    """Validate and convert examples to ChatML; invalid ones go to `<out>.rejected.jsonl`."""
    return _show_converted(
        convert_examples(paths or [TRAINING_DATA], out, check=check, progress_bar=not quiet), quiet
    )


def _show_converted(done: Converted, quiet: bool = False) -> int:
    result = done.validation
    if not quiet:
        _print_problems([p for p in result.problems if p.is_error], result.notes)
    rej = rejected_path_for(done.out)
    console.print(
        f"convert: {done.written} records -> {done.out}"
        + (f", {done.left_out} invalid examples -> {rej}" if done.left_out else "")
    )
    if not result.files:
        err.print("[red]error:[/] no examples found")
        return 1
    return 1 if done.left_out else 0


# --- import -------------------------------------------------------------------------------------


def import_file(path: Path, out: Path, *, keep_system: bool = False, check: bool = True) -> int:
    """Import ChatML JSONL into `out`; exit code 1 when any line was rejected (they are listed)."""
    return _show_imported(import_examples(path, out, keep_system=keep_system, check=check), path)


def _show_imported(done: Imported, path: Path) -> int:
    result, out = done.result, done.out
    for entry in result.rejected[:20]:
        err.print(f"{entry['source']}: [yellow]rejected:[/] {entry['reason']}")
    if len(result.rejected) > 20:
        err.print(f"... and {len(result.rejected) - 20} more in {rejected_path_for(out)}")
    console.print(
        f"import: {result.lines} lines, {len(result.records)} records -> {out}, {len(result.rejected)} rejected "
        f"-> {rejected_path_for(out)} (type inferred for {result.inferred_type}, generation for "
        f"{result.inferred_generation})"
    )
    if not result.lines:
        err.print(f"[red]error:[/] {path}: no conversations found (empty file)")
        return 1
    return 1 if result.rejected else 0


# --- split --------------------------------------------------------------------------------------


def default_inputs(dataset: Path) -> list[Path]:
    found = [p for p in (dataset / "converted.jsonl", dataset / "imported.jsonl") if p.is_file()]
    if not found:
        raise DataError(
            "nothing to split: no converted.jsonl or imported.jsonl",
            path=dataset,
            hint="run `bbjcoder data convert` first",
        )
    return found


def split(
    inputs: Sequence[Path], out_dir: Path, split: SplitConfig | None = None, dedup: DedupConfig | None = None
) -> int:
    """`data split`: lint, dedup and split `inputs` (default: what convert/import wrote in `out_dir`)."""
    _show_split(split_dataset(list(inputs) or default_inputs(out_dir), out_dir, split, dedup))
    return 0


def _show_split(done: SplitDone) -> None:
    report, manifest = done.quality, done.manifest
    for rid, warning in report.warnings[:20]:
        err.print(f"{rid}: [yellow]lint warning:[/] {warning}")
    if len(report.warnings) > 20:
        err.print(f"... and {len(report.warnings) - 20} more lint warnings")
    table = Table(title=f"split -> {done.out_dir}")
    for col in ("split", "records", "sha256"):
        table.add_column(col)
    for name, entry in manifest.files.items():
        table.add_row(name, str(entry.records), entry.sha256[:16])
    console.print(table)
    console.print(
        f"quality: {report.counts['input']} in, {report.counts['lint']} lint, {report.counts['exact_duplicate']} exact dup, "
        f"{report.counts['near_duplicate']} near dup, {report.counts['duplicate_id']} duplicate id, {report.counts['kept']} kept"
    )
    if empty := manifest.empty_strata():
        err.print(f"[yellow]warning:[/] strata with no training record: {', '.join(empty)}")


# --- stats --------------------------------------------------------------------------------------


def stats(
    inputs: Sequence[Path],
    *,
    out_json: Path | None = None,
    png: Path | None = None,
    tokenizer: Path | None = None,
    quiet: bool = False,
) -> int:
    done = write_stats(list(inputs) or [DATASET_DIR], out_json=out_json, png=png, tokenizer=tokenizer)
    _show_stats(done, quiet)
    return 0


def _show_stats(done: StatsWritten, quiet: bool = False) -> None:
    from bbjcoder.data.stats import render_tables

    if not quiet:
        for table in render_tables(done.computed):
            console.print(table)
    console.print(f"stats: {done.stats.records} records -> {done.out_json}, {done.png}")


# --- corpus -------------------------------------------------------------------------------------


def corpus(
    dirs: Sequence[Path],
    out: Path,
    *,
    extensions: Sequence[str],
    fallbacks: Sequence[str],
    check: bool = False,
) -> int:
    done = collect_corpus(
        dirs or CORPUS_DIRS,
        out,
        extensions=extensions,
        fallbacks=fallbacks,
        check=check,
        progress_bar=True,
    )
    return _show_corpus(done)


def _show_corpus(done: CorpusBuilt) -> int:
    result = done.result
    for note in result.notes:
        err.print(f"[yellow]warning:[/] {note}")
    for line in result.errors:
        err.print(f"[red]error:[/] {line}")
    legacy = [r["source"] for r in result.records if r["encoding"] not in ("utf-8", "utf-8-sig")]
    if legacy:  # the decoding rule, reported: which files were read as something else than UTF-8
        encodings = sorted({r["encoding"] for r in result.records if r["source"] in set(legacy)})
        shown = ", ".join(legacy[:5]) + (f" and {len(legacy) - 5} more" if len(legacy) > 5 else "")
        err.print(f"note: {len(legacy)} file(s) not UTF-8, decoded as {'/'.join(encodings)}: {shown}")
    dups = [r for r in result.rejected if r["reason"] == "identical file"]
    for r in dups:
        err.print(f"{r['source']}: identical to {r['duplicate_of']}, skipped")
    table = Table(title=f"corpus -> {done.out}")
    for col in ("files found", "kept", "lines", "identical", "rejected (other)"):
        table.add_column(col, justify="right")
    table.add_row(
        str(result.files_seen),
        str(len(result.records)),
        str(result.lines),
        str(len(dups)),
        str(len(result.rejected) - len(dups)),
    )
    console.print(table)
    return 1 if result.errors else 0


# --- new ----------------------------------------------------------------------------------------


def new(
    *,
    root: Path,
    topic: str,
    title: str,
    type: str,
    generation: Sequence[str],
    difficulty: str | None,
    tags: Sequence[str],
    description: str | None,
    from_generation: str | None,
    to_generation: Sequence[str],
    slug: str | None,
    force: bool,
) -> int:
    from bbjcoder.data.new import render_example, slugify, write_new_example

    text = render_example(
        title=title,
        type=type,
        generation=generation,
        difficulty=difficulty,
        tags=tags,
        description=description,
        from_generation=from_generation,
        to_generation=to_generation,
    )
    path = write_new_example(root, topic, text, slug or slugify(title), force=force)
    console.print(f"new: wrote {path}; fill in the TODOs, then run `bbjcoder data validate {path}`")
    return 0


# --- build (everything) -------------------------------------------------------------------------


def build(cfg: RunConfig, *, strict: bool = False) -> int:
    """`data build`: `bbjcoder.data.build(cfg)` with each step's outcome printed as its own command
    prints it. Exit 1 only with `strict` when anything was left out (listed in rejected.jsonl)."""
    from bbjcoder.data import build as build_dataset

    status = 0

    def show(title: str, done: Outcome | None) -> None:
        nonlocal status
        if done is None:
            console.rule(f"data: {title}")
        elif isinstance(done, Converted):
            status |= _show_converted(done)
        elif isinstance(done, Imported):
            status |= _show_imported(done, Path(title.removeprefix("import ")))
        elif isinstance(done, CorpusBuilt):
            status |= _show_corpus(done)
        elif isinstance(done, SplitDone):
            _show_split(done)
        else:
            _show_stats(done)

    manifest = build_dataset(cfg, progress=show)
    # rejected.jsonl lists everything left out on the way (invalid examples, import lines, corpus
    # files, lint and duplicate rejects): under --strict any of them fails the build.
    if manifest.left_out:
        status = 1
    if status:
        err.print(
            f"[yellow]warning:[/] some inputs were left out; see {cfg.data.dataset_dir}/rejected.jsonl "
            f"(run `bbjcoder data validate` for file:line details)"
        )
    return status if strict else 0
