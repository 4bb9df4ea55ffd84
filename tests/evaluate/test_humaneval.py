"""HumanEval in the sandbox: every canonical solution passes, wrong ones fail, and hostile programs
(endless loop, fork bomb, 10 GB allocation, network call) are stopped and reported."""

from __future__ import annotations

import os
import time

import pytest

from bbjcoder.evaluate.forgetting import (
    SandboxLimits,
    check_many,
    check_solution,
    humaneval_file,
    load_problems,
    run_sandboxed,
    solution_code,
)
from bbjcoder.evaluate.prompts import COMPLETION_STOPS, general_prompt, general_stops

FAST = SandboxLimits(wall_s=5.0, cpu_s=2, memory_mb=512)


@pytest.fixture(scope="module")
def humaneval() -> list:
    return load_problems("humaneval")


def test_humaneval_is_read_from_the_installed_package(humaneval: list) -> None:
    assert humaneval_file().name == "HumanEval.jsonl.gz"
    assert len(humaneval) == 164
    assert [p.id for p in humaneval[:2]] == ["HumanEval/0", "HumanEval/1"]
    assert humaneval[0].entry_point == "has_close_elements" and "def check(candidate)" in humaneval[0].tests
    assert load_problems("HumanEval") == humaneval  # the name, not a path


def test_every_canonical_solution_passes_as_chat_answer_and_as_completion(humaneval: list) -> None:
    """All 164 canonical solutions, each both ways a model answers: a whole function in a
    ```python block (chat) and the bare body continuing the prompt (completion)."""
    items = []
    for p in humaneval:
        body = p.reference[len(p.prompt) :]
        items.append((p, solution_code(p, f"Here is the function:\n```python\n{p.reference}```\nDone.")))
        items.append((p, solution_code(p, body)))
    t0 = time.perf_counter()
    results = check_many(items)
    seconds = time.perf_counter() - t0
    failed = [(p.id, r.reason) for (p, _), r in zip(items, results, strict=True) if not r.passed]
    assert failed == []
    print(f"{len(items)} sandboxed runs in {seconds:.1f} s on {os.cpu_count()} cores")


def test_wrong_solutions_fail_their_humaneval_tests(humaneval: list) -> None:
    items = [(p, solution_code(p, "    return None\n")) for p in humaneval[:8]]
    results = check_many(items, FAST)
    assert all(r.status == "failed" for r in results)
    assert all("AssertionError" in r.stderr or "TypeError" in r.stderr for r in results)


def test_check_many_keeps_the_order_of_its_inputs(humaneval: list) -> None:
    p = humaneval[0]
    good, bad = p.reference, p.prompt + "    return 42\n"
    results = check_many([(p, bad), (p, good), (p, bad), (p, good)], FAST, workers=3)
    assert [r.passed for r in results] == [False, True, False, True]


def test_completion_prompt_is_the_raw_signature_with_top_level_stops(humaneval: list) -> None:
    p = humaneval[0]
    completion = general_prompt(p.prompt, "completion")
    assert completion.raw == p.prompt
    assert general_stops("completion") == COMPLETION_STOPS
    assert set(COMPLETION_STOPS) == {"\ndef", "\nclass", "\nif __name__", "\nprint", "\n#"}
    chat = general_prompt(p.prompt, "chat")
    assert chat.raw is None and p.prompt in chat.chat()[-1]["content"]
    # The chat stop ends an answer at its closing fence, never at the opening one.
    assert all(s not in "```python\n" for s in general_stops("chat"))
    with pytest.raises(ValueError, match="unknown prompt style"):
        general_prompt(p.prompt, "fim")


def test_endless_loop_is_killed_and_reported() -> None:
    result = run_sandboxed("while True:\n    pass\n", SandboxLimits(wall_s=3.0, cpu_s=1))
    assert result.status == "timeout" and result.reason == "timeout (killed)"
    assert result.seconds < 3.5


def test_fork_bomb_is_refused_and_leaves_no_process_behind() -> None:
    program = "import os\nwhile True:\n    os.fork()\n"
    result = run_sandboxed(program, FAST)
    assert result.status == "failed" and result.reason == "blocked by the sandbox: os.fork"
    assert result.session > 0 and _session_processes(result.session) == []  # nothing left running
    # The host still starts processes and runs sandboxes normally.
    assert run_sandboxed("print('ok')\n", FAST).passed


def test_ten_gigabyte_allocation_hits_the_memory_limit_and_the_host_is_unharmed() -> None:
    result = run_sandboxed("x = bytearray(10 * 1024**3)\n", FAST)
    assert result.status == "failed" and result.reason == "memory limit (MemoryError)"
    assert result.seconds < 5
    assert len(bytearray(16 * 1024**2)) == 16 * 1024**2  # this process allocates as before


def test_network_call_is_refused_and_reported() -> None:
    program = "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\n"
    result = run_sandboxed(program, FAST)
    assert result.status == "failed"
    assert result.reason.startswith("blocked by the sandbox: socket.")
    assert result.outcome(0)["reason"] == result.reason


def test_a_failing_humaneval_sample_reports_its_error_line(humaneval: list) -> None:
    p = humaneval[2]
    result = check_solution(p, p.prompt + "    return undefined_name\n", FAST)
    assert result.status == "failed" and "NameError" in result.reason


def _session_processes(session: int) -> list[int]:
    """Pids still running in the sandbox's session (from /proc; field 6 of stat is the session)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            pids.append(int(entry))
    return pids


@pytest.mark.parametrize(
    ("spec", "setting", "style"),
    [
        ("gguf:/m/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "auto", "chat"),
        ("hf:/m/Qwen2.5-Coder-7B-Instruct", "auto", "chat"),
        ("hf:/m/gemma-2b-it", "auto", "chat"),
        ("hf:/m/Qwen2.5-Coder-7B", "auto", "completion"),
        ("gguf:/m/starcoder2-3b.Q4_K_M.gguf", "auto", "completion"),
        ("run:demo-1", "auto", "chat"),
        ("openai:gpt@http://127.0.0.1:1/v1", "auto", "chat"),
        ("hf:/m/Qwen2.5-Coder-7B", "chat", "chat"),
        ("hf:/m/Qwen2.5-Coder-7B-Instruct", "completion", "completion"),
    ],
)
def test_forgetting_prompt_style_follows_the_model_kind(spec: str, setting: str, style: str) -> None:
    from bbjcoder.evaluate.generate import parse_spec
    from bbjcoder.evaluate.runner import forgetting_style

    assert forgetting_style(setting, parse_spec(spec)) == style


def test_completion_prompt_for_a_chat_only_server_is_a_user_error() -> None:
    from bbjcoder.errors import UserError
    from bbjcoder.evaluate.generate import parse_spec
    from bbjcoder.evaluate.runner import forgetting_style

    with pytest.raises(UserError, match="chat only"):
        forgetting_style("completion", parse_spec("openai:gpt@http://127.0.0.1:1/v1"))
    with pytest.raises(UserError, match="unknown forgetting prompt style"):
        forgetting_style("fim", parse_spec("hf:/m/x"))
