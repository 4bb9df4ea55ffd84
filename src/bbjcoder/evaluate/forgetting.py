"""The forgetting check: a general Python suite whose samples are executed in a sandboxed subprocess.

Generated Python runs only here, under the limits described in `evals/general-code/README.md`;
generated BBj is never executed anywhere (it is only parsed by the checker).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bbjcoder.errors import DataError
from bbjcoder.evaluate.extract import extract_code

PROBLEMS_FILE = "problems.jsonl"

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

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "returncode": self.returncode,
            "seconds": round(self.seconds, 3),
            "stderr": self.stderr,
            "network_isolated": self.network_isolated,
        }


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
        seconds = time.perf_counter() - t0
    tail = err.decode("utf-8", "replace")[-2000:]
    return SandboxResult(status, proc.returncode, seconds, tail, bool(prefix))


@dataclass(frozen=True)
class Problem:
    """A HumanEval-style problem: `prompt` is a signature + docstring, `tests` defines check(candidate)."""

    id: str
    prompt: str
    entry_point: str
    tests: str
    reference: str


def load_problems(path: str | Path) -> list[Problem]:
    """Read `problems.jsonl` from a suite directory (or the file itself); DataError on bad lines."""
    path = Path(path)
    file = path / PROBLEMS_FILE if path.is_dir() else path
    from bbjcoder.fileio import read_jsonl

    problems: list[Problem] = []
    seen: set[str] = set()
    for lineno, obj in enumerate(read_jsonl(file), start=1):
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


def solution_code(problem: Problem, text: str) -> str:
    """The function to test: the extracted Python; a bare body gets the prompt put in front."""
    code = extract_code(text, "python")
    if f"def {problem.entry_point}" not in code:
        code = problem.prompt + code
    return code


def build_program(problem: Problem, code: str) -> str:
    return f"{code}\n\n{problem.tests}\n\ncheck({problem.entry_point})\n"


def check_solution(problem: Problem, code: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    return run_sandboxed(build_program(problem, code), limits)


def problems_to_jsonl(problems: list[Problem]) -> str:
    return "".join(json.dumps(p.__dict__, ensure_ascii=False) + "\n" for p in problems)
