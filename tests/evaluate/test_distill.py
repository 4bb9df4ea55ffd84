"""The self-distilled general-code mix: prompts, the acceptance rules, resume, and the shipped mix."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from bbjcoder.errors import DataError
from bbjcoder.evaluate.distill import (
    GENERAL_PROMPTS,
    GeneralPrompt,
    close_fence,
    distill,
    forgetting_texts,
    judge,
    read_general_prompts,
)
from bbjcoder.evaluate.forgetting import load_humaneval
from bbjcoder.fileio import read_jsonl
from bbjcoder.train.data import read_general_mix

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MIX = ROOT / "src/bbjcoder/train/general_mix_qwen2.5-coder-0.5b-instruct.jsonl"

FN = GeneralPrompt(
    "fn/clamp", "function", 'def clamp(v: int, lo: int, hi: int) -> int:\n    """Limit v."""\n', "clamp"
)
CHAT = GeneralPrompt("chat/x", "chat", "Write a Python stack class.")


def test_shipped_prompts_are_function_stubs_and_chat_tasks() -> None:
    prompts = read_general_prompts()
    assert len(prompts) >= 100 and len({p.id for p in prompts}) == len(prompts)
    functions = [p for p in prompts if p.kind == "function"]
    assert len(functions) >= 70
    for p in functions:
        tree = ast.parse(p.prompt + "    ...\n")  # a stub: signature + docstring
        assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == [p.entry_point]
    # None of them is a HumanEval problem under another name.
    humaneval_names = {p.entry_point for p in load_humaneval()}
    assert not humaneval_names & {p.entry_point for p in functions}


def test_the_user_turn_is_the_forgetting_checks_request() -> None:
    from bbjcoder.evaluate.prompts import GENERAL_SYSTEM_PROMPT, general_prompt

    assert FN.request().chat()[1]["content"] == general_prompt(FN.prompt).chat()[1]["content"]
    assert CHAT.request().chat() == [
        {"role": "system", "content": GENERAL_SYSTEM_PROMPT},
        {"role": "user", "content": CHAT.prompt},
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a", "kind": "poem", "prompt": "x"}', "'kind' must be"),
        ('{"id": "a", "kind": "function", "prompt": "def f(): pass"}', "entry_point"),
        ('{"id": "", "kind": "chat", "prompt": "x"}', "non-empty 'id'"),
    ],
)
def test_a_bad_prompt_is_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "ok", "kind": "chat", "prompt": "fine"}\n' + line + "\n")
    with pytest.raises(DataError, match=message) as info:
        read_general_prompts(path)
    assert f"{path}:2" in str(info.value)


def test_a_repeated_prompt_id_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "kind": "chat", "prompt": "x"}\n' * 2)
    with pytest.raises(DataError, match="appears twice"):
        read_general_prompts(path)


def test_judge_accepts_a_parsing_answer_that_defines_the_function() -> None:
    good = "```python\ndef clamp(v, lo, hi):\n    return max(lo, min(v, hi))\n```\nIt clamps."
    assert judge(FN, good) is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "empty answer"),
        ("def clamp(v, lo, hi): return v", "no ```python block"),
        ("```python\ndef clamp(v, lo, hi)\n    return v\n```", "does not parse (line 1"),
        ("```python\ndef limit(v, lo, hi):\n    return v\n```", "does not define clamp()"),
    ],
)
def test_judge_rejects_function_answers_with_the_reason(answer: str, reason: str) -> None:
    got = judge(FN, answer)
    assert got is not None and reason in got


def test_judge_on_chat_answers_parses_only_python_blocks() -> None:
    assert judge(CHAT, "Use a list:\n```python\nclass Stack(list):\n    pass\n```") is None
    assert judge(CHAT, "In JavaScript:\n```javascript\nconst x = () => {{\n```") is None
    bad = judge(CHAT, "```python\nclass Stack(:\n```")
    assert bad is not None and "does not parse" in bad


def test_judge_rejects_an_answer_that_copies_a_humaneval_problem() -> None:
    problem = load_humaneval()[12]
    forbidden = forgetting_texts(["humaneval"])
    answer = f"```python\n{problem.prompt}{problem.reference}```"
    p = GeneralPrompt("fn/x", "function", f"def {problem.entry_point}(x):\n", problem.entry_point)
    got = judge(p, answer, forbidden)
    assert got is not None and "overlap with forgetting problem HumanEval/12" in got
    assert judge(FN, "```python\ndef clamp(v, lo, hi):\n    return v\n```", forbidden) is None


def test_close_fence_restores_the_fence_the_stop_removed() -> None:
    assert close_fence("```python\ndef f():\n    pass") == "```python\ndef f():\n    pass\n```"
    assert close_fence("```python\nx = 1\n```\n") == "```python\nx = 1\n```"


def test_distill_writes_accepted_records_reports_rejections_and_resumes(tmp_path: Path) -> None:
    prompts = [FN, CHAT, GeneralPrompt("fn/g", "function", "def g() -> int:\n", "g")]
    answers = {
        "fn/clamp": "```python\ndef clamp(v, lo, hi):\n    return v\n```",
        "chat/x": "```python\nclass Stack(list):\n    pass\n```",
        "fn/g": "I cannot.",
    }
    asked: list[str] = []

    def interrupted(p: GeneralPrompt) -> str:
        if p.id == "fn/g":
            raise KeyboardInterrupt
        asked.append(p.id)
        return answers[p.id]

    out = tmp_path / "mix.jsonl"
    with pytest.raises(KeyboardInterrupt):
        distill(interrupted, prompts, out, source="test")
    assert not out.exists() and asked == ["fn/clamp", "chat/x"]

    def rest(p: GeneralPrompt) -> str:
        asked.append(p.id)
        return answers[p.id]

    report = distill(rest, prompts, out, source="test")
    assert asked == ["fn/clamp", "chat/x", "fn/g"]  # the first two were not asked again
    assert report.resumed == 2 and report.accepted == 2
    assert report.rejected == [("fn/g", "no ```python block in the answer")]
    records = read_general_mix(out)
    assert [r["meta"]["id"] for r in records] == ["general/fn/clamp", "general/chat/x"]
    assert records[0]["messages"][-1] == {"role": "assistant", "content": answers["fn/clamp"]}
    assert not out.with_name("mix.jsonl.partial.jsonl").exists()


def test_distill_with_nothing_accepted_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "mix.jsonl"
    with pytest.raises(DataError, match="no answer was accepted"):
        distill(lambda p: "", [FN], out, source="test")
    assert not out.exists()


def test_the_shipped_self_distilled_mix_passes_its_own_rules() -> None:
    """Every record of the shipped mix answers a shipped prompt, parses, and overlaps no
    forgetting-check problem (HumanEval and evals/general-code)."""
    prompts = {f"general/{p.id}": p for p in read_general_prompts(GENERAL_PROMPTS)}
    forbidden = forgetting_texts(["humaneval", ROOT / "evals/general-code"])
    records = list(read_jsonl(SHIPPED_MIX))
    assert len(records) >= 90
    for rec in records:
        p = prompts[rec["meta"]["id"]]
        msgs = rec["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
        assert msgs[:2] == p.request().chat()
        assert judge(p, msgs[2]["content"], forbidden) is None, rec["meta"]["id"]
    assert json.dumps(records).count("self-distilled") == len(records)


@pytest.mark.slow
def test_distill_general_with_the_real_base_model(tmp_path: Path) -> None:
    """The command end to end on Qwen2.5-Coder-0.5B-Instruct (fetched from PyPI with our own fetch):
    two function stubs and one chat task, greedy; what it rejects it names."""
    import subprocess
    import sys

    from tests.models.conftest import qwen_real_gguf

    prompts = tmp_path / "prompts.jsonl"
    rows = [json.loads(line) for line in GENERAL_PROMPTS.read_text().splitlines()]
    chosen = [r for r in rows if r["id"] in ("fn/snake_to_camel", "fn/clamp", "chat/03")]
    assert len(chosen) == 3, "the test asks three prompts of the shipped file"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in chosen))
    out = tmp_path / "mix.jsonl"
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run(
        [sys.executable, "-m", "bbjcoder", "data", "distill-general", "--model", f"gguf:{qwen_real_gguf()}",
         "--out", str(out), "--prompts", str(prompts), "--max-new-tokens", "256"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = list(read_jsonl(out))
    rejected = sum(1 for line in done.stderr.splitlines() if line.startswith("rejected "))
    assert len(records) + rejected == 3 and len(records) >= 2, done.stderr
    assert f"{len(records)} of 3 answers accepted" in done.stderr
    by_id = {r["meta"]["id"]: r for r in records}
    if "general/fn/snake_to_camel" in by_id:
        answer = by_id["general/fn/snake_to_camel"]["messages"][-1]["content"]
        assert answer.startswith("```python") and answer.endswith("```")
        assert "def snake_to_camel(" in answer
