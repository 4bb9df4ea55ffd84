"""Speed of the forgetting check's sandbox: HumanEval's 164 canonical solutions run one at a time
against one sandbox per core, side by side.

Run: `python benchmarks/sandbox_parallel.py [--workers N]`; writes benchmarks/results/sandbox_parallel.json.
Target: the parallel run is at least 1.3x faster than the serial one on 2 cores, and all 164 pass.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from bbjcoder.evaluate.forgetting import check_many, default_workers, load_problems

TARGET_SPEEDUP = 1.3
RESULTS = Path(__file__).parent / "results" / "sandbox_parallel.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=default_workers())
    args = ap.parse_args()
    problems = load_problems("humaneval")
    items = [(p, p.reference) for p in problems]
    timings: dict[str, float] = {}
    passed: dict[str, int] = {}
    for name, workers in (("serial", 1), ("parallel", args.workers)):
        t0 = time.perf_counter()
        results = check_many(items, workers=workers)
        timings[name] = time.perf_counter() - t0
        passed[name] = sum(r.passed for r in results)
    speedup = timings["serial"] / timings["parallel"]
    print(f"{'':10} {'seconds':>8} {'problems/s':>11} {'passed':>7}")
    for name in ("serial", "parallel"):
        print(f"{name:10} {timings[name]:8.2f} {len(items) / timings[name]:11.1f} {passed[name]:7d}")
    print(f"speed-up with {args.workers} workers: {speedup:.2f}x (target >= {TARGET_SPEEDUP}x on 2 cores)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "problems": len(items),
                "workers": args.workers,
                "cpu_count": os.cpu_count(),
                "seconds": timings,
                "passed": passed,
                "speedup": speedup,
                "python": sys.version.split()[0],
                "machine": platform.machine(),
            },
            indent=2,
        )
        + "\n"
    )
    ok = passed["parallel"] == len(items) and (args.workers < 2 or speedup >= TARGET_SPEEDUP)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
