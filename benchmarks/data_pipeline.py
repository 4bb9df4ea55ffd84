"""Benchmark of the data stage on 10,000 synthetic examples, on one CPU core.

Times parse + validate (without and, separately, with the BBj checker), convert and dedup, prints
examples/second against the target (10,000 examples in under 10 s) and writes
benchmarks/results/data_pipeline.json. Usage: python benchmarks/data_pipeline.py [--n 10000] [--files]
"""

from __future__ import annotations

import os

# One core: pin before numpy loads its thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

TARGET_EXAMPLES = 10_000
TARGET_SECONDS = 10.0
RESULTS = Path(__file__).parent / "results" / "data_pipeline.json"

GENERATIONS = ["all", "character", "vpro5", "[bbj-gui, dwc]", "dwc", "bbj-gui"]
WORDS = [
    "order",
    "customer",
    "invoice",
    "balance",
    "total",
    "name",
    "city",
    "key",
    "record",
    "item",
    "price",
    "count",
    "line",
    "file",
]


def _code(rng: random.Random, lines: int) -> list[str]:
    """Plausible BBj: assignments, string functions, loops, keyed-file I/O."""
    out = [f"REM {rng.choice(WORDS)} {rng.choice(WORDS)} {rng.randint(1, 10**6)}"]
    while len(out) < lines:
        v = f"{rng.choice(WORDS)}{rng.randint(0, 999)}"
        kind = rng.randrange(6)
        if kind == 0:
            out.append(f'{v}$ = "{rng.choice(WORDS).upper()} {rng.randint(0, 9999)}"')
        elif kind == 1:
            out.append(f"{v} = {rng.randint(0, 500)} * {rng.randint(1, 40)} + {rng.randint(0, 9)}")
        elif kind == 2:
            out += [f"FOR i = 1 TO {rng.randint(2, 50)}", f'    PRINT "{rng.choice(WORDS)} ", i', "NEXT i"]
        elif kind == 3:
            out.append(f'PRINT CVS("{rng.choice(WORDS)}", 3 + 4), LEN("{v}")')
        elif kind == 4:
            out += [
                "chan = UNT",
                f'OPEN (chan, ERR=oops)"{v}.dat"',
                f'READ RECORD (chan, KEY="{rng.randint(1, 99999):05d}", ERR=oops) rec$',
                "CLOSE (chan)",
            ]
        else:
            out.append(f'IF {v} > {rng.randint(0, 100)} THEN PRINT "big" ELSE PRINT "small"')
    out += ["END", "", "oops:", 'PRINT "error ", ERR', "END"]
    return out


def synthetic_example(i: int, rng: random.Random) -> tuple[str, str]:
    """(id, Markdown text) of one example; ~2% are near copies of an earlier one."""
    kind = ("comprehension", "completion", "migration", "explanation", "completion")[i % 5]
    gen = GENERATIONS[i % len(GENERATIONS)]
    code = _code(rng, rng.randint(12, 40))
    head = ["---", f'title: "Synthetic {kind} {i}: {rng.choice(WORDS)} handling"', f"type: {kind}"]
    head.append("generation: [bbj-gui, dwc]" if kind == "migration" else f"generation: {gen}")
    if kind == "migration":
        head += ["from_generation: character", "to_generation: [bbj-gui, dwc]"]
    head += [
        f"difficulty: {('basic', 'intermediate', 'advanced')[i % 3]}",
        f"tags: [{rng.choice(WORDS)}, synthetic]",
        "---",
        "",
    ]
    body = ["## Code", ""]
    if kind == "migration":
        body += [
            "### Before (character)",
            "",
            "```bbj",
            *code,
            "```",
            "",
            "### After (BBj GUI)",
            "",
            "```bbj",
        ]
        body += [
            "sysgui! = BBjAPI().getSysGui()",
            'window! = sysgui!.addWindow(10, 10, 300, 200, "W")',
            *code,
            "```",
            "",
        ]
    elif kind == "completion" and i % 2:
        cut1, cut2 = len(code) // 3, 2 * len(code) // 3
        for name, part in (("Prefix", code[:cut1]), ("Completion", code[cut1:cut2]), ("Suffix", code[cut2:])):
            body += [f"### {name}", "", "```bbj", *part, "```", ""]
    else:
        body += ["```bbj", *code, "```", ""]
    if kind != "migration":
        body += [
            "## Expected Behavior",
            "",
            f"It prints {rng.randint(2, 60)} lines about {rng.choice(WORDS)}s.",
            "",
        ]
    body += [
        "## Explanation",
        "",
        f"1. The loop walks over {rng.choice(WORDS)} records.",
        "2. `ERR=` branches on errors.",
        "",
    ]
    return f"synthetic/ex-{i:05d}", "\n".join(head + body)


def generate(n: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = [synthetic_example(i, rng) for i in range(n)]
    for k in range(0, n, 50):  # near duplicates: change one number in a copy
        j = min(k + 25, n - 1)
        _ident, text = out[k]
        out[j] = (out[j][0], text.replace("Synthetic", "Synthetic copy", 1).replace("1 TO", "1  TO", 1))
    return out


class _Timer:
    """Wall-clock and CPU seconds of named steps. CPU time is what one core spends on the step,
    which stays meaningful on a shared, loaded machine; wall time is what a user waits."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def __call__(self, name: str):  # type: ignore[no-untyped-def]
        timer = self

        class _Step:
            def __enter__(self) -> None:
                self.w, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc: object) -> None:
                timer.wall[name] = time.perf_counter() - self.w
                timer.cpu[name] = time.process_time() - self.c

        return _Step()


def run(n: int, use_files: bool) -> dict:
    from bbjcoder.data.checker import get_checker
    from bbjcoder.data.convert import example_to_record
    from bbjcoder.data.quality import clean_records
    from bbjcoder.data.validate import validate_paths, validate_text

    examples = generate(n)
    t = _Timer()
    if use_files:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name)
        (root / "FORMAT.md").write_text("root marker\n")
        for ident, text in examples:
            path = root / f"{ident}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        with t("parse_validate"):
            result = validate_paths([root], check_code=False)
            parsed = [(f.example, f.problems) for f in result.files]
    else:
        with t("parse_validate"):
            parsed = [
                validate_text(text, path=f"{ident}.md", example_id=ident, checker=None)
                for ident, text in examples
            ]
    valid = [ex for ex, problems in parsed if not any(p.is_error for p in problems)]
    if len(valid) != n:
        bad = next(problems for _, problems in parsed if any(p.is_error for p in problems))
        raise SystemExit(f"synthetic examples failed validation: {[str(p) for p in bad][:5]}")
    with t("convert"):
        records = [example_to_record(ex) for ex in valid]
    with t("lint_dedup"):
        report = clean_records(records)
    steps = ("parse_validate", "convert", "lint_dedup")
    total_wall = sum(t.wall[k] for k in steps)
    total_cpu = sum(t.cpu[k] for k in steps)

    checker = get_checker()
    checker_errors = None
    if checker is not None:
        with t("parse_validate_with_checker"):
            checked = [
                validate_text(text, path=f"{ident}.md", example_id=ident, checker=checker)
                for ident, text in examples
            ]
        checker_errors = sum(1 for _, ps in checked for p in ps if p.is_error)

    scale = TARGET_EXAMPLES / n
    return {
        "benchmark": "data_pipeline",
        "examples": n,
        "input": "files in a temp dir" if use_files else "Markdown text in memory",
        "steps": "parse+validate (no checker) + convert + lint/dedup",
        "wall_s": {k: round(v, 4) for k, v in t.wall.items()},
        "cpu_s": {k: round(v, 4) for k, v in t.cpu.items()},
        "total_wall_s": round(total_wall, 4),
        "total_cpu_s": round(total_cpu, 4),
        "examples_per_s_cpu": round(n / total_cpu, 1),
        "examples_per_s_wall": round(n / total_wall, 1),
        "target": {"examples": TARGET_EXAMPLES, "seconds": TARGET_SECONDS},
        "projected_cpu_s_for_target": round(total_cpu * scale, 3),
        "ratio_vs_target": round(TARGET_SECONDS / (total_cpu * scale), 2),
        "meets_target": total_cpu * scale < TARGET_SECONDS,
        "with_checker": {
            "available": checker is not None,
            "cpu_s": round(t.cpu["parse_validate_with_checker"], 4) if checker else None,
            "wall_s": round(t.wall["parse_validate_with_checker"], 4) if checker else None,
            "examples_per_s_cpu": round(n / t.cpu["parse_validate_with_checker"], 1) if checker else None,
            "checker_errors": checker_errors,
        },
        "dedup": {"kept": len(report.kept), "rejected": len(report.rejected), "counts": report.counts},
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores_used": 1,
            "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            "cpu_count": os.cpu_count(),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=TARGET_EXAMPLES, help="number of synthetic examples")
    parser.add_argument(
        "--files", action="store_true", help="write the examples to a temp dir and read them back"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    r = run(args.n, args.files)
    cpu, wall = r["cpu_s"], r["wall_s"]
    print(f"data pipeline, {r['examples']} synthetic examples ({r['input']}), one core")
    print(f"  {'step':32} {'cpu s':>8} {'wall s':>8}")
    for key, label in (
        ("parse_validate", "parse+validate (no checker)"),
        ("convert", "convert"),
        ("lint_dedup", "lint+dedup"),
    ):
        print(f"  {label:32} {cpu[key]:8.3f} {wall[key]:8.3f}")
    print(f"  {'total':32} {r['total_cpu_s']:8.3f} {r['total_wall_s']:8.3f}")
    print(
        f"  rate: {r['examples_per_s_cpu']:.0f} examples/s (CPU), {r['examples_per_s_wall']:.0f} examples/s (wall, "
        f"load average {r['machine']['load_average_1m']} on {r['machine']['cpu_count']} cores)"
    )
    print(
        f"  target {TARGET_EXAMPLES} examples in < {TARGET_SECONDS:.0f} s: projected {r['projected_cpu_s_for_target']:.2f} s "
        f"CPU -> {r['ratio_vs_target']:.2f}x the required speed ({'met' if r['meets_target'] else 'NOT met'})"
    )
    print(
        f"  dedup: {r['dedup']['rejected']} of {r['examples']} merged (planted near copies: {r['examples'] // 50})"
    )
    wc = r["with_checker"]
    if wc["available"]:
        print(
            f"  parse+validate WITH the BBj checker: {wc['cpu_s']:.3f} s CPU, {wc['examples_per_s_cpu']:.0f} examples/s "
            f"({wc['checker_errors']} checker errors)"
        )
    else:
        print("  BBj checker not available; checked run skipped")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if r["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
