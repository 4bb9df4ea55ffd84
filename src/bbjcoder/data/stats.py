"""Dataset statistics: counts by generation x type x difficulty, token lengths, a histogram PNG.

The counts are a `records.dataset.DatasetStats` (the shape of dataset/stats.json, declared once
there); the dataset manifest keeps its headline (`DatasetStats.summary()`).

Tokens are approximated by words and punctuation marks unless a Hugging Face tokenizer directory
is given (then `tokenizers` is imported lazily, only for that).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bbjcoder.data.records import Record
from bbjcoder.data.schema import DIFFICULTIES, GENERATIONS, TYPES
from bbjcoder.errors import DependencyError, ModelError
from bbjcoder.fileio import atomic_write_json
from bbjcoder.records.dataset import DatasetStats, TokenSummary

if TYPE_CHECKING:
    from rich.table import Table

_APPROX = re.compile(r"\w+|[^\w\s]")


def approx_tokens(text: str) -> int:
    """Cheap token count: words and single punctuation marks (close to BPE counts for code)."""
    return len(_APPROX.findall(text))


def tokenizer_counter(tokenizer_dir: str | Path) -> Callable[[str], int]:
    """A token counter from a local HF tokenizer directory (its tokenizer.json)."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise DependencyError(
            "--tokenizer needs the `tokenizers` package", hint="pip install tokenizers"
        ) from exc
    path = Path(tokenizer_dir)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise ModelError(
            "no tokenizer.json found", path=path, hint="pass a Hugging Face model or tokenizer directory"
        )
    tok = Tokenizer.from_file(str(file))
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


@dataclass(frozen=True)
class StatsWithLengths:
    """What `compute_stats` found: the stats.json record, and beside it the tokens per record per
    split (for the histogram and the per-split table rows; not written)."""

    stats: DatasetStats
    lengths: dict[str, list[int]]


def read_stats(path: str | Path) -> DatasetStats | None:
    """dataset/stats.json as this stage wrote it, or None when it is missing or unreadable."""
    import json

    from pydantic import ValidationError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return DatasetStats.model_validate(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError):
        return None


def write_stats_json(stats: DatasetStats, path: str | Path) -> Path:
    """dataset/stats.json: the record as a plain JSON object (atomically); returns the path."""
    out = Path(path)
    atomic_write_json(out, stats.model_dump(mode="json"))
    return out


def compute_stats(
    splits: Mapping[str, Sequence[Record]],
    *,
    count_tokens: Callable[[str], int] = approx_tokens,
    tokenizer: str = "approx (words + punctuation)",
) -> StatsWithLengths:
    """Counts and token lengths over all splits. A record with several generations counts once
    under each of its labels in `by_generation`; `records` counts each record once."""
    by_gen: dict[str, dict[str, dict[str, int]]] = {}
    table: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    per_split: dict[str, int] = {}
    by_type: Counter[str] = Counter()
    by_difficulty: Counter[str] = Counter()
    by_origin: Counter[str] = Counter()
    lengths: dict[str, list[int]] = {}
    for name, records in splits.items():
        per_split[name] = len(records)
        lens = []
        for r in records:
            diff = r.difficulty or "unset"
            for g in r.generation:
                table[g][r.type][diff] += 1
            by_type[r.type] += 1
            by_difficulty[diff] += 1
            by_origin[r.origin] += 1
            lens.append(sum(count_tokens(c) for _, c in r.messages))
        lengths[name] = lens
    gen_order = ["all", *GENERATIONS]
    diff_order = [*DIFFICULTIES, "unset"]
    for g in gen_order:
        if g in table:
            by_gen[g] = {
                t: {d: table[g][t][d] for d in diff_order if table[g][t][d]}
                for t in TYPES
                if sum(table[g][t].values())
            }
    all_lengths = sorted(n for lens in lengths.values() for n in lens)
    stats = DatasetStats(
        records=sum(per_split.values()),
        per_split=per_split,
        by_type={t: by_type[t] for t in TYPES if by_type[t]},
        by_difficulty={d: by_difficulty[d] for d in diff_order if by_difficulty[d]},
        by_generation=by_gen,
        # provenance: written by people vs teacher drafts accepted in `data review`
        by_origin={"curated": by_origin["curated"], "synthetic": by_origin["synthetic"]},
        tokens=TokenSummary(
            tokenizer=tokenizer,
            total=sum(all_lengths),
            min=all_lengths[0] if all_lengths else 0,
            median=all_lengths[len(all_lengths) // 2] if all_lengths else 0,
            p95=all_lengths[min(len(all_lengths) - 1, int(len(all_lengths) * 0.95))] if all_lengths else 0,
            max=all_lengths[-1] if all_lengths else 0,
        ),
    )
    return StatsWithLengths(stats, lengths)


def write_histogram(result: StatsWithLengths, path: str | Path) -> Path:
    """Token-length histogram per split as a PNG (matplotlib, Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = result.lengths
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    values = [v for v in lengths.values() if v]
    if values:
        top = max(max(v) for v in values)
        bins = min(40, max(5, top // 20 + 1))
        ax.hist(
            [lengths[k] for k in lengths if lengths[k]],
            bins=bins,
            label=[f"{k} ({len(lengths[k])})" for k in lengths if lengths[k]],
            stacked=True,
        )
        ax.legend()
    ax.set_xlabel(f"tokens per record ({result.stats.tokens.tokenizer})")
    ax.set_ylabel("records")
    ax.set_title("Token length per record")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
    return out


def render_tables(result: StatsWithLengths) -> list[Table]:
    """Rich tables: generation x type (with difficulty breakdown), and token lengths."""
    from rich.table import Table

    stats = result.stats
    gen_table = Table(title=f"Records by generation x type ({stats.records} records)")
    gen_table.add_column("generation")
    for t in TYPES:
        gen_table.add_column(t, justify="right")
    gen_table.add_column("total", justify="right")
    for g, types in stats.by_generation.items():
        cells = []
        total = 0
        for t in TYPES:
            diffs = types.get(t, {})
            n = sum(diffs.values())
            total += n
            detail = "/".join(str(diffs.get(d, 0)) for d in DIFFICULTIES)
            cells.append(f"{n} ({detail})" if n else "0")
        gen_table.add_row(g, *cells, str(total))
    gen_table.caption = (
        "cells: count (basic/intermediate/advanced); multi-generation records count under each label"
    )
    origin = stats.by_origin
    gen_table.caption += (
        f"\nprovenance: {origin.get('curated', 0)} curated, {origin.get('synthetic', 0)} synthetic (reviewed)"
    )

    tok = stats.tokens
    tok_table = Table(title=f"Tokens per record ({tok.tokenizer})")
    for col in ("split", "records", "min", "median", "p95", "max", "total"):
        tok_table.add_column(col, justify="right" if col != "split" else "left")
    tok_table.add_row(
        "all",
        str(stats.records),
        *(str(n) for n in (tok.min, tok.median, tok.p95, tok.max, tok.total)),
    )
    for name, n in stats.per_split.items():
        lens = sorted(result.lengths.get(name, []))
        if lens:
            tok_table.add_row(
                name,
                str(n),
                str(lens[0]),
                str(lens[len(lens) // 2]),
                str(lens[min(len(lens) - 1, int(len(lens) * 0.95))]),
                str(lens[-1]),
                str(sum(lens)),
            )
    return [gen_table, tok_table]
