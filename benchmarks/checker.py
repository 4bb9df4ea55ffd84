"""Speed of the builtin BBj checker: lines/s on a large synthetic file, programs/s on short ones.

Run: `python benchmarks/checker.py [--lines 200000] [--programs 1000] [--real DIR]`; writes
benchmarks/results/checker.json. Targets: >= 50,000 lines/s and >= 1,000 programs/s on one core.
With the real BBj development set beside the clone (../shared/bbj-real, or --real DIR) it also
times the program files BASIS wrote (not held to a target: a second view of the same speed).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

from bbjcoder.bbj import check_source

TARGET_LINES_PER_S = 50_000
TARGET_PROGRAMS_PER_S = 1_000
RESULTS = Path(__file__).parent / "results" / "checker.json"

# Building blocks covering every construct family: legacy numbered code, I/O with options, classes,
# Java interop, GUI (vpro5 mnemonics and the object API), SQL, DEF FN, SWITCH, continuation lines.
BLOCKS: tuple[str, ...] = (
    """0010 REM legacy program with line numbers
0020 PRINT 'CS',@(0,0),"Customer report"
0030 LET TOTAL=0, COUNT%=0
0040 FOR I=1 TO 10 STEP 2
0050   TOTAL=TOTAL+I*2^2-(I/3)
0060 NEXT I
0070 IF TOTAL>100 AND COUNT%=0 THEN PRINT "big" ELSE PRINT "small"
0080 GOSUB 0100
0090 GOTO 0120
0100 PRINT @(10,5),"in sub"; RETURN
0120 END
""",
    """open (1,mode="O_READ",err=no_file)"customers.dat"
dim rec$:"id:c(6),name:c(30),balance:n(10)"
read_loop:
  read record (1,key=k$,dom=*next,end=done,err=io_err)rec$
  if rec.balance > 0 then count = count + 1
  print rec.id$," ",rec.name$(1,20),str(rec.balance:"###,##0.00")
  goto read_loop
done: close (1)
no_file: print "cannot open"; stop
io_err: print "error ",err; retry
""",
    """class public Customer extends BaseRecord implements Comparable
  field private BBjString Name$ = ""
  field private BBjNumber Balance = 0
  field public static java.util.HashMap Cache! = new java.util.HashMap()
  method public Customer(BBjString name$)
    #Name$ = name$
    #super!.init()
  methodend
  method public BBjString getName()
    methodret #Name$
  methodend
  method public void add(BBjNumber amount)
    #Balance = #Balance + amount
    #this!.log("added " + str(amount))
  methodend
classend
""",
    """use java.util.ArrayList
use ::customer.bbj::Customer
declare java.util.ArrayList list!
list! = new ArrayList()
list!.add(new Customer("Ann"))
it! = list!.iterator()
while it!.hasNext()
  c! = it!.next()
  print c!.getName(), " ", c!.getName().length()
wend
""",
    """sysgui = unt
open (sysgui)"X0"
print (sysgui)'WINDOW'(100,100,400,300,"Demo",$00010003$,$$)
print (sysgui)'BUTTON'(1,10,10,80,25,"OK",$$)
id = ctrl(sysgui,1,0)
sg! = BBjAPI().getSysGui()
wnd! = sg!.addWindow(100,100,400,300,"Object API")
btn! = wnd!.addButton(1,10,10,80,25,"Close")
btn!.setCallback(btn!.ON_BUTTON_PUSH,"on_close")
process_events
on_close: release
""",
    """sqlopen(1,err=sql_err)"CDStore"
sqlprep(1)"select * from items where price > ?"
sqlexec(1)10
dim row$:sqltmpl(1)
repeat
  row$ = sqlfetch(1,end=sql_done)
  print row.title$, row.price
until 0
sql_done: sqlclose(1)
sql_err: print errmes(-1)
""",
    """def fnTax(amount) = amount * 0.19
def fnPad$(s$, n)
  while len(s$) < n
    s$ = s$ + " "
  wend
  return s$
fnend
switch mode
  case 1; print fnPad$("one", 10); break
  case 2, 3
    print fnTax(100)
    break
  case default
    print "other"
swend
""",
    """x$ = "a long string " +
:"continued on the next line " +
:"and once more"
on choice goto first, second, third
first: seterr handler; exitto done2
second: if pos("x"=x$) then print "found" fi
third: a$(1,3) = "abc"; b = num(a$(1,3), err=*next)
handler: print "handled"; return
done2: print cvs(x$, 4), len(x$), mid$
""",
)


def synthetic_source(lines: int) -> str:
    """At least `lines` lines of valid BBj, cycling through the building blocks."""
    parts: list[str] = []
    count = 0
    k = 0
    while count < lines:
        block = BLOCKS[k % len(BLOCKS)]
        parts.append(block)
        count += block.count("\n")
        k += 1
    return "".join(parts)


def short_programs(n: int, seed: int = 0) -> list[str]:
    """`n` short programs (one to three blocks each, some with a seeded error)."""
    rng = random.Random(seed)
    programs = []
    for k in range(n):
        text = "".join(rng.choice(BLOCKS) for _ in range(rng.randint(1, 3)))
        if k % 4 == 0:
            lines = text.split("\n")
            at = rng.randrange(len(lines))
            lines[at] = lines[at] + " }"
            text = "\n".join(lines)
        programs.append(text)
    return programs


def real_sources(root: Path) -> list[str]:
    """The program files of the real BBj development set, if it is there."""
    from bbjcoder.bbj.runner import DEFAULT_EXTENSIONS, collect_sources, decode_source

    if not (root / "README.md").is_file():
        return []
    dirs = [str(d) for d in sorted(root.iterdir()) if d.is_dir() and d.name != "reference"]
    return [decode_source(Path(p).read_bytes()) for p in collect_sources(dirs, DEFAULT_EXTENSIONS)]


def best_of(repeats: int, func) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--programs", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--real", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "bbj-real"
    )
    args = parser.parse_args()

    big = synthetic_source(args.lines)
    big_lines = big.count("\n")
    assert check_source(big) == [], "the synthetic file must be valid BBj"
    big_s = best_of(args.repeats, lambda: check_source(big))

    programs = short_programs(args.programs)
    prog_lines = sum(p.count("\n") + 1 for p in programs)
    prog_s = best_of(args.repeats, lambda: [check_source(p) for p in programs])

    real_texts = real_sources(args.real)
    real_lines = sum(t.count("\n") + 1 for t in real_texts)
    real_s = best_of(args.repeats, lambda: [check_source(t) for t in real_texts]) if real_texts else 0.0

    lines_per_s = big_lines / big_s
    programs_per_s = len(programs) / prog_s
    rows = [
        ("large file", f"{big_lines:,} lines, {len(big) / 1e6:.1f} MB", f"{big_s:.2f} s",
         f"{lines_per_s:,.0f} lines/s", f"{TARGET_LINES_PER_S:,}", lines_per_s / TARGET_LINES_PER_S),
        ("short programs", f"{len(programs):,} programs, {prog_lines:,} lines", f"{prog_s:.2f} s",
         f"{programs_per_s:,.0f} programs/s", f"{TARGET_PROGRAMS_PER_S:,}", programs_per_s / TARGET_PROGRAMS_PER_S),
    ]  # fmt: skip
    if real_texts:
        real_rate = real_lines / real_s
        rows.append(("real BBj files", f"{len(real_texts):,} files, {real_lines:,} lines", f"{real_s:.2f} s",
                     f"{real_rate:,.0f} lines/s", f"{TARGET_LINES_PER_S:,}", real_rate / TARGET_LINES_PER_S))  # fmt: skip
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"builtin BBj checker, one core (best of {args.repeats})")
        for col in ("workload", "size", "time", "rate", "target", "ratio"):
            table.add_column(col, justify="right" if col != "workload" else "left")
        for name, size, secs, rate, target, ratio in rows:
            table.add_row(name, size, secs, rate, target, f"{ratio:.2f}x")
        Console().print(table)
    except ImportError:  # pragma: no cover - rich is a dependency, but keep the script standalone
        for row in rows:
            print(*row[:-1], f"{row[-1]:.2f}x", sep="  |  ")

    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "large_file": {"lines": big_lines, "bytes": len(big), "seconds": big_s, "lines_per_s": lines_per_s},
        "short_programs": {
            "programs": len(programs),
            "lines": prog_lines,
            "seconds": prog_s,
            "programs_per_s": programs_per_s,
        },
        "real_files": {"files": len(real_texts), "lines": real_lines, "seconds": real_s},
        "targets": {"lines_per_s": TARGET_LINES_PER_S, "programs_per_s": TARGET_PROGRAMS_PER_S},
        "ratios": {
            "lines_per_s": lines_per_s / TARGET_LINES_PER_S,
            "programs_per_s": programs_per_s / TARGET_PROGRAMS_PER_S,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.replace(RESULTS)
    print(f"wrote {RESULTS}")
    met = lines_per_s >= TARGET_LINES_PER_S and programs_per_s >= TARGET_PROGRAMS_PER_S
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
