"""The `bbjcoder data ...` commands: run a data-stage step, print Rich summaries, return the exit code.

cli.py holds only the Typer signatures and calls these; tests call them directly too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bbjcoder.data.records import Record
from bbjcoder.errors import DataError
from bbjcoder.fileio import atomic_write_json, atomic_write_jsonl

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DATASET_DIR = Path("dataset")
TRAINING_DATA = Path("training-data")


def rejected_path_for(out: Path) -> Path:
    """Where a step writing `X.jsonl` puts the entries it left out: `X.rejected.jsonl`."""
    return out.with_name(out.stem + ".rejected.jsonl")


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

    targets = list(paths) or [
        p for p in (TRAINING_DATA, Path("evals/bbj-core"), Path("corpus")) if p.exists()
    ]
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
    from bbjcoder.data.convert import example_to_record
    from bbjcoder.data.records import rejected
    from bbjcoder.data.validate import validate_paths

    result = validate_paths(paths or [TRAINING_DATA], check_code=check, progress=not quiet)
    errors = [p for p in result.problems if p.is_error]
    if not quiet:
        _print_problems(errors, result.notes)
    records = [example_to_record(f.example).to_json() for f in result.files if f.ok]
    left_out = [
        rejected(
            f.example.id,
            f.example.path,
            "invalid example: " + "; ".join(f"line {p.line}: {p.message}" for p in f.problems if p.is_error),
            "convert",
        )
        for f in result.files
        if not f.ok
    ]
    atomic_write_jsonl(out, records)
    atomic_write_jsonl(rejected_path_for(out), left_out)
    console.print(
        f"convert: {len(records)} records -> {out}"
        + (f", {len(left_out)} invalid examples -> {rejected_path_for(out)}" if left_out else "")
    )
    if not result.files:
        err.print("[red]error:[/] no examples found")
        return 1
    return 1 if left_out else 0


# --- import -------------------------------------------------------------------------------------


def import_file(path: Path, out: Path, *, keep_system: bool = False, check: bool = True) -> int:
    """Import ChatML JSONL into `out`; exit code 1 when any line was rejected (they are listed)."""
    from bbjcoder.data.importer import import_jsonl

    result = import_jsonl(path, keep_system=keep_system, check=check)
    atomic_write_jsonl(out, (r.to_json() for r in result.records))
    atomic_write_jsonl(rejected_path_for(out), result.rejected)
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


def read_records(path: Path) -> list[Record]:
    from bbjcoder.fileio import read_jsonl

    out = []
    for lineno, obj in enumerate(read_jsonl(path), start=1):
        try:
            out.append(Record.from_json(obj))
        except ValueError as exc:
            raise DataError(f"bad record: {exc}", path=path, line=lineno) from exc
    return out


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
    inputs: Sequence[Path],
    out_dir: Path,
    *,
    test_share: float = 0.05,
    val_share: float = 0.10,
    salt: str = "bbjcoder-split-v1",
    threshold: float = 0.85,
    shingle: int = 5,
    num_perm: int = 128,
    dedup: bool = True,
    also_rejected: Sequence[Path] = (),
) -> int:
    from bbjcoder.data.quality import DedupConfig, clean_records
    from bbjcoder.data.split import SplitConfig, write_split
    from bbjcoder.fileio import read_jsonl

    config = SplitConfig(test_share=test_share, val_share=val_share, salt=salt)
    if not 0.0 < threshold <= 1.0:
        raise DataError(f"--threshold must be in (0, 1], got {threshold}")
    if num_perm < 1 or num_perm & (num_perm - 1):
        raise DataError(f"--num-perm must be a power of two, got {num_perm}", hint="use 64, 128 or 256")
    if shingle < 1:
        raise DataError(f"--shingle must be at least 1, got {shingle}")
    files = list(inputs) or default_inputs(out_dir)
    records: list[Record] = []
    earlier_rejects: list[dict[str, Any]] = []
    for f in files:
        records.extend(read_records(f))
        rej = rejected_path_for(f)
        if rej.is_file():
            earlier_rejects.extend(read_jsonl(rej))
    for rej in also_rejected:  # e.g. the corpus step's, so rejected.jsonl lists everything left out
        if rej.is_file():
            earlier_rejects.extend(read_jsonl(rej))
    dedup_cfg = DedupConfig(threshold=threshold, shingle=shingle, num_perm=num_perm, exact=dedup, near=dedup)
    report = clean_records(records, dedup_cfg)
    for rid, warning in report.warnings[:20]:
        err.print(f"{rid}: [yellow]lint warning:[/] {warning}")
    if len(report.warnings) > 20:
        err.print(f"... and {len(report.warnings) - 20} more lint warnings")
    quality = {
        **report.counts,
        "lint_warnings": len(report.warnings),
        "dedup": {"threshold": threshold, "shingle": shingle, "num_perm": num_perm, "enabled": dedup},
    }
    manifest = write_split(
        report.kept,
        out_dir,
        config,
        rejected=[*earlier_rejects, *report.rejected],
        inputs=files,
        quality=quality,
    )
    table = Table(title=f"split -> {out_dir}")
    for col in ("split", "records", "sha256"):
        table.add_column(col)
    for name in ("train", "val", "test", "rejected"):
        entry = manifest["files"][name]
        table.add_row(name, str(entry["records"]), entry["sha256"][:16])
    console.print(table)
    console.print(
        f"quality: {report.counts['input']} in, {report.counts['lint']} lint, {report.counts['exact_duplicate']} exact dup, "
        f"{report.counts['near_duplicate']} near dup, {report.counts['duplicate_id']} duplicate id, {report.counts['kept']} kept"
    )
    empty = [s for s, n in _train_per_stratum(manifest).items() if n == 0]
    if empty:
        err.print(f"[yellow]warning:[/] strata with no training record: {', '.join(empty)}")
    return 0


def _train_per_stratum(manifest: dict[str, Any]) -> dict[str, int]:
    return {k: v["train"] for k, v in manifest["strata"].items()}


# --- stats --------------------------------------------------------------------------------------


def load_splits(inputs: Sequence[Path]) -> dict[str, list[Record]]:
    """Records per split name from dataset directories (train/val/test.jsonl) or JSONL files."""
    splits: dict[str, list[Record]] = {}
    for p in inputs or [DATASET_DIR]:
        if p.is_dir():
            found = [p / f"{s}.jsonl" for s in ("train", "val", "test") if (p / f"{s}.jsonl").is_file()]
            if not found:
                raise DataError(
                    "no train/val/test.jsonl here", path=p, hint="run `bbjcoder data split` first"
                )
            for f in found:
                splits.setdefault(f.stem, []).extend(read_records(f))
        elif p.is_file():
            splits.setdefault(p.stem, []).extend(read_records(p))
        else:
            raise DataError("no such file or directory", path=p)
    return splits


def stats(
    inputs: Sequence[Path],
    *,
    out_json: Path | None = None,
    png: Path | None = None,
    tokenizer: Path | None = None,
    quiet: bool = False,
) -> int:
    from bbjcoder.data.stats import (
        compute_stats,
        public_stats,
        render_tables,
        tokenizer_counter,
        write_histogram,
    )

    splits = load_splits(inputs)
    if tokenizer is not None:
        result = compute_stats(splits, count_tokens=tokenizer_counter(tokenizer), tokenizer=str(tokenizer))
    else:
        result = compute_stats(splits)
    base = inputs[0] if inputs and inputs[0].is_dir() else (inputs[0].parent if inputs else DATASET_DIR)
    out_json = out_json or base / "stats.json"
    png = png or base / "token_lengths.png"
    atomic_write_json(out_json, public_stats(result))
    write_histogram(result, png)
    if not quiet:
        for table in render_tables(result):
            console.print(table)
    console.print(f"stats: {result['records']} records -> {out_json}, {png}")
    return 0


# --- corpus -------------------------------------------------------------------------------------


def corpus(
    dirs: Sequence[Path],
    out: Path,
    *,
    extensions: Sequence[str],
    fallbacks: Sequence[str],
    check: bool = False,
) -> int:
    from bbjcoder.data.corpus import build_corpus, write_corpus

    result = build_corpus(
        dirs or [Path("corpus")], extensions=extensions, fallbacks=fallbacks, check=check, progress=True
    )
    write_corpus(result, out)
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
    table = Table(title=f"corpus -> {out}")
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


def build(
    training_data: Sequence[Path],
    corpus_dirs: Sequence[Path],
    out_dir: Path,
    *,
    imports: Sequence[Path] = (),
    check: bool = True,
    test_share: float = 0.05,
    val_share: float = 0.10,
    strict: bool = False,
) -> int:
    """validate + convert -> import -> quality + split -> corpus -> stats, all into `out_dir`.

    Invalid examples, rejected import lines, undecodable corpus files, lint and duplicate rejects are
    left out and listed in `out_dir/rejected.jsonl`; with `strict` any of them makes the exit code 1.
    """
    console.rule("data: validate + convert")
    status = convert(list(training_data), out_dir / "converted.jsonl", check=check)
    inputs = [out_dir / "converted.jsonl"]
    for k, f in enumerate(imports):
        console.rule(f"data: import {f}")
        target = out_dir / ("imported.jsonl" if k == 0 else f"imported-{k + 1}.jsonl")
        status |= import_file(f, target, check=check)
        inputs.append(target)
    if corpus_dirs:
        console.rule("data: corpus")
        from bbjcoder.data.corpus import DEFAULT_EXTENSIONS, DEFAULT_FALLBACKS

        status |= corpus(
            list(corpus_dirs),
            out_dir / "corpus.jsonl",
            extensions=DEFAULT_EXTENSIONS,
            fallbacks=DEFAULT_FALLBACKS,
        )
    console.rule("data: quality + split")
    corpus_rejects = [rejected_path_for(out_dir / "corpus.jsonl")] if corpus_dirs else []
    split(inputs, out_dir, test_share=test_share, val_share=val_share, also_rejected=corpus_rejects)
    # rejected.jsonl lists everything left out on the way (invalid examples, import lines, corpus
    # files, lint and duplicate rejects): under --strict any of them fails the build.
    left_out = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))["files"]["rejected"]
    if left_out["records"]:
        status = 1
    console.rule("data: stats")
    stats([out_dir])
    if status:
        err.print(
            f"[yellow]warning:[/] some inputs were left out; see {out_dir}/rejected.jsonl "
            f"(run `bbjcoder data validate` for file:line details)"
        )
    return status if strict else 0
