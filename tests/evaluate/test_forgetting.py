"""The forgetting check: the shipped problems are sound, and the sandbox contains bad solutions."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbjcoder.evaluate.forgetting import (
    SandboxLimits,
    check_solution,
    load_problems,
    run_sandboxed,
    solution_code,
)

SUITE = Path(__file__).resolve().parents[2] / "evals" / "general-code"
FAST = SandboxLimits(wall_s=5.0, cpu_s=2, memory_mb=512)


def test_shipped_suite_has_40_problems_and_every_reference_passes() -> None:
    problems = load_problems(SUITE)
    assert len(problems) >= 40
    failed = [p.id for p in problems if not check_solution(p, p.reference).passed]
    assert failed == []


def test_wrong_solution_fails_its_tests() -> None:
    problem = load_problems(SUITE)[0]
    wrong = problem.prompt + "    return None\n"
    result = check_solution(problem, wrong, FAST)
    assert result.status == "failed" and "AssertionError" in result.stderr


def test_body_only_answer_is_completed_with_the_prompt() -> None:
    problem = next(p for p in load_problems(SUITE) if p.entry_point == "gcd")
    code = solution_code(problem, "```python\n    while b:\n        a, b = b, a % b\n    return a\n```")
    assert code.startswith("def gcd(") and check_solution(problem, code, FAST).passed


def test_infinite_loop_is_stopped() -> None:
    result = run_sandboxed("while True:\n    pass\n", SandboxLimits(wall_s=3.0, cpu_s=1))
    assert result.status == "timeout" and not result.passed
    assert result.seconds < 3.5


def test_sleeping_forever_hits_the_wall_clock_limit() -> None:
    result = run_sandboxed("import time\ntime.sleep(60)\n", SandboxLimits(wall_s=1.0, cpu_s=5))
    assert result.status == "timeout" and result.seconds < 3


def test_huge_allocation_fails_with_memory_error() -> None:
    result = run_sandboxed("x = bytearray(4 * 1024**3)\n", FAST)
    assert result.status == "failed" and "MemoryError" in result.stderr


@pytest.mark.parametrize(
    "program",
    [
        "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n",
        "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=1)\n",
        "import subprocess\nsubprocess.run(['true'])\n",
        "import os\nos.system('true')\n",
    ],
)
def test_network_and_processes_are_refused(program: str) -> None:
    result = run_sandboxed(program, FAST)
    assert result.status == "failed"
    assert "sandbox:" in result.stderr and "is not allowed" in result.stderr


def test_child_runs_isolated_in_a_temp_dir_without_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    program = (
        "import os, sys\n"
        "assert 'HTTPS_PROXY' not in os.environ and 'https_proxy' not in os.environ\n"
        "assert os.getcwd().rsplit('/', 1)[-1].startswith('bbjcoder-sandbox-')\n"
        "assert sys.flags.isolated == 1\n"
    )
    result = run_sandboxed(program, FAST)
    assert result.passed, result.stderr
