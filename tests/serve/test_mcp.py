"""`bbjcoder mcp`: the real MCP server process, driven by the MCP SDK's stdio client."""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from bbjcoder.serve.mcp_server import MAX_CODE_CHARS, MAX_PROMPT_CHARS

from ..helpers import free_port
from .conftest import API_KEY, ScriptedModel

BROKEN = 'Here is the program:\n```bbj\nPRINT "Hello, world\nEND\n```\n'
FIXED = 'Fixed:\n```bbj\nPRINT "Hello, world"\nEND\n```\n'


def mcp_params(model: str, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "bbjcoder.cli", "mcp", "--model", model, *extra],
        env={
            "PATH": os.environ.get("PATH", ""),
            "BBJCODER_API_KEY": API_KEY,
            # the code under test (a worktree's src/ when PYTHONPATH names it)
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        },
    )


def call(params: StdioServerParameters, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    """Run the MCP server once and make `calls` in order; returns the CallToolResults."""

    async def go() -> list[Any]:
        async with Client(params, read_timeout_seconds=120) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert tools == {"generate_bbj_code", "validate_bbj_syntax"}
            return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(go)


def test_generate_repairs_code_with_checker_diagnostics() -> None:
    with ScriptedModel([BROKEN, FIXED]) as model:
        (result,) = call(
            mcp_params(f"openai:scripted@{model.url}", "--max-repairs", "2"),
            ("generate_bbj_code", {"prompt": "Print hello", "generation": "character"}),
        )
        assert not result.is_error
        out = result.structured_content
        assert out["ok"] is True and out["diagnostics"] == []
        assert out["attempts_used"] == 2
        assert out["code"] == 'PRINT "Hello, world"\nEND\n'
        assert out["generation"] == "character"
        # The second request carried the broken answer and the checker's diagnostic back to the model.
        second = model.requests[1]["messages"]
        assert second[-2] == {"role": "assistant", "content": BROKEN}
        assert "line 1" in second[-1]["content"] and "unterminated string" in second[-1]["content"]
        assert "character-mode" in model.requests[0]["messages"][1]["content"]
        # every request names the chat's end tokens (a Base-style server config knows only one)
        assert all(r["stop"] == ["<|im_end|>", "<|endoftext|>"] for r in model.requests)


def test_generate_stops_after_max_repairs_and_reports_diagnostics() -> None:
    with ScriptedModel([BROKEN]) as model:
        (result,) = call(
            mcp_params(f"openai:scripted@{model.url}", "--max-repairs", "1"),
            ("generate_bbj_code", {"prompt": "Print hello"}),
        )
        out = result.structured_content
        assert out["ok"] is False and out["attempts_used"] == 2 and len(model.requests) == 2
        assert out["diagnostics"][0]["line"] == 1
        assert out["generation"] == "dwc"  # new code defaults to the DWC


def test_validate_and_input_limits_and_model_errors_are_mcp_errors_not_crashes() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here
    results = call(
        mcp_params(f"openai:nobody@{dead}", "--max-repairs", "0"),
        ("validate_bbj_syntax", {"code": 'PRINT "ok"\nEND\n'}),
        ("validate_bbj_syntax", {"code": "x = (1 +\n"}),
        ("validate_bbj_syntax", {"code": "REM x\n" * (MAX_CODE_CHARS // 6 + 1)}),
        ("generate_bbj_code", {"prompt": "x" * (MAX_PROMPT_CHARS + 1)}),
        ("generate_bbj_code", {"prompt": "Print hello", "generation": "cobol"}),
        ("generate_bbj_code", {"prompt": "Print hello"}),
        ("validate_bbj_syntax", {"code": "END\n"}),  # still alive after the errors
    )
    ok, bad, huge, long_prompt, bad_generation, server_down, alive = results
    assert ok.structured_content == {"ok": True, "diagnostics": []}
    assert bad.structured_content["ok"] is False and bad.structured_content["diagnostics"][0]["line"] == 1
    for res, needle in (
        (huge, "limit"),
        (long_prompt, "limit"),
        (bad_generation, "generation"),
        (server_down, "model server"),
    ):
        assert res.is_error, needle
        assert needle in res.content[0].text
    assert alive.structured_content["ok"] is True


def test_generate_against_the_served_tiny_model(model_server: str) -> None:
    (result,) = call(
        mcp_params(f"openai:bbj-coder@{model_server}", "--max-repairs", "1"),
        ("generate_bbj_code", {"prompt": "Print hello", "context_code": '10 PRINT "a"\n20 END\n'}),
    )
    assert not result.is_error
    out = result.structured_content
    assert 1 <= out["attempts_used"] <= 2
    assert out["ok"] is (out["diagnostics"] == [])
