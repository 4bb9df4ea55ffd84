"""The data stage as a library: each step (convert, import, corpus, quality + split, stats) writes
its files and returns what happened; `build(cfg)` runs them all in one order and returns the
`DatasetManifest`. Nothing here prints: `bbjcoder data ...` and the demo render the outcomes
they receive through `progress`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bbjcoder.data.records import Record
from bbjcoder.errors import DataError
from bbjcoder.fileio import atomic_write_jsonl
from bbjcoder.records.dataset import DatasetManifest, DatasetStats, DedupSettings, QualityCounts

if TYPE_CHECKING:
    from bbjcoder.config import RunConfig
    from bbjcoder.data.corpus import CorpusResult
    from bbjcoder.data.importer import ImportResult
    from bbjcoder.data.quality import DedupConfig, QualityReport
    from bbjcoder.data.split import SplitConfig
    from bbjcoder.data.stats import StatsWithLengths
    from bbjcoder.data.validate import ValidationResult


def rejected_path_for(out: Path) -> Path:
    """Where a step writing `X.jsonl` puts the entries it left out: `X.rejected.jsonl`."""
    return out.with_name(out.stem + ".rejected.jsonl")


# --- the steps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Converted:
    out: Path
    validation: ValidationResult
    written: int
    left_out: int


@dataclass(frozen=True)
class Imported:
    out: Path
    result: ImportResult


@dataclass(frozen=True)
class CorpusBuilt:
    out: Path
    result: CorpusResult


@dataclass(frozen=True)
class SplitDone:
    out_dir: Path
    manifest: DatasetManifest
    quality: QualityReport


@dataclass(frozen=True)
class StatsWritten:
    out_json: Path
    png: Path
    computed: StatsWithLengths  # the stats and the per-record token lengths behind the histogram

    @property
    def stats(self) -> DatasetStats:
        """What stats.json holds."""
        return self.computed.stats


Outcome = Converted | Imported | CorpusBuilt | SplitDone | StatsWritten
# progress(title, None) when a step starts, progress(title, outcome) when it has written its files.
Progress = Callable[[str, Outcome | None], None]


def convert_examples(
    paths: Sequence[Path], out: Path, *, check: bool = True, progress_bar: bool = False
) -> Converted:
    """Validate and convert examples to ChatML; invalid ones go to `<out>.rejected.jsonl`."""
    from bbjcoder.data.convert import example_to_record
    from bbjcoder.data.records import rejected
    from bbjcoder.data.validate import validate_paths

    result = validate_paths(paths, check_code=check, progress=progress_bar)
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
    return Converted(out, result, len(records), len(left_out))


def import_examples(path: Path, out: Path, *, keep_system: bool = False, check: bool = True) -> Imported:
    """Import ChatML JSONL into `out`; rejected lines go to `<out>.rejected.jsonl`."""
    from bbjcoder.data.importer import import_jsonl

    result = import_jsonl(path, keep_system=keep_system, check=check)
    atomic_write_jsonl(out, (r.to_json() for r in result.records))
    atomic_write_jsonl(rejected_path_for(out), result.rejected)
    return Imported(out, result)


def collect_corpus(
    dirs: Sequence[Path],
    out: Path,
    *,
    extensions: Sequence[str] | None = None,
    fallbacks: Sequence[str] | None = None,
    check: bool = False,
    progress_bar: bool = False,
) -> CorpusBuilt:
    """The stage-1 corpus: decode, drop identical files, optionally check; rejects beside `out`."""
    from bbjcoder.data.corpus import DEFAULT_EXTENSIONS, DEFAULT_FALLBACKS, build_corpus, write_corpus

    result = build_corpus(
        dirs,
        extensions=extensions or DEFAULT_EXTENSIONS,
        fallbacks=fallbacks or DEFAULT_FALLBACKS,
        check=check,
        progress=progress_bar,
    )
    write_corpus(result, out)
    return CorpusBuilt(out, result)


def read_records(path: Path) -> list[Record]:
    from bbjcoder.fileio import read_jsonl

    out = []
    for lineno, obj in enumerate(read_jsonl(path), start=1):
        try:
            out.append(Record.from_json(obj))
        except ValueError as exc:
            raise DataError(f"bad record: {exc}", path=path, line=lineno) from exc
    return out


def split_dataset(
    inputs: Sequence[Path],
    out_dir: Path,
    split: SplitConfig | None = None,
    dedup: DedupConfig | None = None,
    *,
    also_rejected: Sequence[Path] = (),
) -> SplitDone:
    """Lint, drop duplicates, split by id; rejected.jsonl lists the inputs' own rejects too."""
    from bbjcoder.data.quality import DedupConfig, clean_records
    from bbjcoder.data.split import SplitConfig, write_split
    from bbjcoder.fileio import read_jsonl

    split, dedup = split or SplitConfig(), dedup or DedupConfig()
    if not 0.0 < dedup.threshold <= 1.0:
        raise DataError(f"--threshold must be in (0, 1], got {dedup.threshold}")
    if dedup.num_perm < 1 or dedup.num_perm & (dedup.num_perm - 1):
        raise DataError(f"--num-perm must be a power of two, got {dedup.num_perm}", hint="use 64, 128 or 256")
    if dedup.shingle < 1:
        raise DataError(f"--shingle must be at least 1, got {dedup.shingle}")
    records: list[Record] = []
    earlier_rejects: list[Mapping[str, object]] = []
    for f in inputs:
        records.extend(read_records(f))
        if rejected_path_for(f).is_file():
            earlier_rejects.extend(read_jsonl(rejected_path_for(f)))
    for rej in also_rejected:  # e.g. the corpus step's, so rejected.jsonl lists everything left out
        if rej.is_file():
            earlier_rejects.extend(read_jsonl(rej))
    report = clean_records(records, dedup)
    settings = DedupSettings(
        threshold=dedup.threshold, shingle=dedup.shingle, num_perm=dedup.num_perm, enabled=dedup.exact
    )
    quality = QualityCounts(**report.counts, lint_warnings=len(report.warnings), dedup=settings)
    rejected = [*earlier_rejects, *report.rejected]
    manifest = write_split(report.kept, out_dir, split, rejected=rejected, inputs=inputs, quality=quality)
    return SplitDone(out_dir, manifest, report)


def load_splits(inputs: Sequence[Path]) -> dict[str, list[Record]]:
    """Records per split name from dataset directories (train/val/test.jsonl) or JSONL files."""
    splits: dict[str, list[Record]] = {}
    for p in inputs:
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


def write_stats(
    inputs: Sequence[Path],
    *,
    out_json: Path | None = None,
    png: Path | None = None,
    tokenizer: Path | None = None,
) -> StatsWritten:
    """stats.json and the token-length histogram (beside the first input unless given)."""
    from bbjcoder.data.stats import compute_stats, tokenizer_counter, write_histogram, write_stats_json

    splits = load_splits(inputs)
    if tokenizer is not None:
        result = compute_stats(splits, count_tokens=tokenizer_counter(tokenizer), tokenizer=str(tokenizer))
    else:
        result = compute_stats(splits)
    base = inputs[0] if inputs[0].is_dir() else inputs[0].parent
    out_json = out_json or base / "stats.json"
    png = png or base / "token_lengths.png"
    write_stats_json(result.stats, out_json)
    write_histogram(result, png)
    return StatsWritten(out_json, png, result)


# --- the whole stage ----------------------------------------------------------------------------


def build(cfg: RunConfig, *, progress: Progress | None = None) -> DatasetManifest:
    """validate + convert -> import -> corpus -> quality + split -> stats, into `cfg.data.dataset_dir`.

    This is `bbjcoder data build` and the demo's data stage. Invalid examples, rejected import
    lines, undecodable corpus files, lint and duplicate rejects are left out and listed in
    `rejected.jsonl` (the manifest counts them: `manifest.left_out`).
    """
    from bbjcoder.data.split import SplitConfig

    data = cfg.data
    out_dir = data.dataset_dir

    def step(title: str, run: Callable[[], Outcome]) -> Outcome:
        if progress:
            progress(title, None)
        outcome = run()
        if progress:
            progress(title, outcome)
        return outcome

    converted = out_dir / "converted.jsonl"
    step("validate + convert", lambda: convert_examples(data.training_data, converted, check=data.check_code))
    inputs = [converted]
    for k, f in enumerate(data.imports):
        target = out_dir / ("imported.jsonl" if k == 0 else f"imported-{k + 1}.jsonl")
        step(f"import {f}", functools.partial(import_examples, f, target, check=data.check_code))
        inputs.append(target)
    corpus = out_dir / "corpus.jsonl"
    if data.corpus_dirs:
        step("corpus", lambda: collect_corpus(data.corpus_dirs, corpus))
    split = step(
        "quality + split",
        lambda: split_dataset(
            inputs,
            out_dir,
            SplitConfig(test_share=data.test_share, val_share=data.val_share),
            also_rejected=[rejected_path_for(corpus)] if data.corpus_dirs else [],
        ),
    )
    stats = step("stats", lambda: write_stats([out_dir]))
    assert isinstance(split, SplitDone) and isinstance(stats, StatsWritten)
    manifest = split.manifest.model_copy(update={"stats": stats.stats.summary()})
    manifest.save(out_dir / "manifest.json")
    return manifest
