"""Mutation test over real BBj: one injected error per copy of a file the checker accepts.

Every kind injects an error `bbjcpl -N` certainly rejects. The checker must catch >= 99% of the
mutants and put its first diagnostic on the injected line in >= 95%. The per-kind table is
printed (`pytest -s tests/bbj/test_mutations.py`, or `python benchmarks/checker_mutations.py`).
"""

from __future__ import annotations

import random
from pathlib import Path

from bbjcoder.bbj import check_source
from bbjcoder.bbj.mutations import KINDS, measure, mutants, render_table
from bbjcoder.bbj.runner import DEFAULT_EXTENSIONS, collect_sources, decode_source


def accepted_real_files(root: Path) -> list[str]:
    paths = collect_sources(
        [str(root / "BBjGridExWidget"), str(root / "bbj-language-server")], DEFAULT_EXTENSIONS
    )
    texts = [decode_source(Path(p).read_bytes()) for p in paths]
    return [t for t in texts if not check_source(t)]


def test_checker_catches_injected_errors_on_the_injected_line(bbj_real: Path) -> None:
    results = measure(accepted_real_files(bbj_real), check_source, per_file=2, seed=10)
    print("\n" + render_table(results))
    assert all(r.total > 0 for r in results), [r.kind for r in results if not r.total]
    total = sum(r.total for r in results)
    assert sum(r.caught for r in results) / total >= 0.99
    assert sum(r.on_line for r in results) / total >= 0.95
    low = [r.kind for r in results if r.caught_rate < 0.99]
    assert low == [], f"kinds caught below 99%: {low}"


def test_every_mutation_kind_breaks_a_small_valid_program() -> None:
    program = "\n".join(
        [
            "class public Counter",
            '    field public BBjString Name$ = "c"',
            "    method public void add(BBjNumber n)",
            '        if n = 1 then print "one"',
            "        total = #count(n) + 2 * n",
            '        print "total: ", str(total), a$[1]',
            "    methodend",
            "classend",
            "class public Other",
            "classend",
        ]
    )
    assert check_source(program) == []
    rng = random.Random(0)
    for kind in KINDS:
        made = list(mutants(program, kind, rng, 5))
        assert made, f"no {kind} mutant of the sample program"
        for m in made:
            diags = check_source(m.text)
            assert diags and diags[0].line == m.line, f"{kind}: line {m.line} of\n{m.text}\ngot {diags}"
