"""Mutation table of the builtin BBj checker over the real development set (../shared/bbj-real).

Run: `python benchmarks/checker_mutations.py [--per-file 5] [--real DIR]`. Each accepted program
file gets up to `--per-file` copies per kind, each with one injected error that bbjcpl -N certainly
rejects; the table shows how many the checker catches and how many it reports on the injected
line, beside the targets (99% caught, 95% on the line). The assertion lives in
tests/bbj/test_mutations.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bbjcoder.bbj import check_source
from bbjcoder.bbj.mutations import measure, render_table
from bbjcoder.bbj.runner import DEFAULT_EXTENSIONS, collect_sources, decode_source

TARGET_CAUGHT = 0.99
TARGET_ON_LINE = 0.95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-file", type=int, default=5)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument(
        "--real", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "bbj-real"
    )
    args = parser.parse_args()
    if not (args.real / "README.md").is_file():
        print(f"skipped: no real BBj development set at {args.real} (use --real DIR)")
        return 0
    dirs = [str(d) for d in sorted(args.real.iterdir()) if d.is_dir() and d.name != "reference"]
    texts = [decode_source(Path(p).read_bytes()) for p in collect_sources(dirs, DEFAULT_EXTENSIONS)]
    accepted = [t for t in texts if not check_source(t)]
    print(f"{len(accepted)} of {len(texts)} program files accepted; mutating those")
    results = measure(accepted, check_source, per_file=args.per_file, seed=args.seed)
    print(render_table(results))
    total = sum(r.total for r in results)
    caught = sum(r.caught for r in results) / total
    on_line = sum(r.on_line for r in results) / total
    print(f"caught {caught:.1%} (target {TARGET_CAUGHT:.0%}, ratio {caught / TARGET_CAUGHT:.3f}x); "
          f"on the injected line {on_line:.1%} (target {TARGET_ON_LINE:.0%}, ratio {on_line / TARGET_ON_LINE:.3f}x)")  # fmt: skip
    return 0 if caught >= TARGET_CAUGHT and on_line >= TARGET_ON_LINE else 1


if __name__ == "__main__":
    sys.exit(main())
