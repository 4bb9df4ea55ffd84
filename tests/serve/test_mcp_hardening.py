"""`bbjcoder mcp` hardening: the right key goes to the right server, every request line gets a
JSON-RPC answer, and the request timeout and token cap are settable (with size-aware defaults)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from bbjcoder.serve.mcp_server import default_limits, endpoint_from_spec, jsonrpc_error_for

FIXED = 'Done:\n```bbj\nPRINT "Hello"\nEND\n```\n'


class RecordingModel:
    """A loopback chat-completions server that records each request's headers and body."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.seen.append((dict(self.headers.items()), body))
                data = json.dumps(
                    {
                        "id": "c",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "m",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": FIXED},
                                "finish_reason": "stop",
                            }
                        ],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recording() -> Iterator[RecordingModel]:
    model = RecordingModel()
    yield model
    model.close()


def _env(**extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), **extra}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def _generate(model: RecordingModel, env: dict[str, str], *extra: str) -> Any:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "bbjcoder.cli", "mcp", "--model", f"openai:bbj-coder@{model.url}", *extra],
        env=env,
    )

    async def go() -> Any:
        async with Client(params, read_timeout_seconds=60) as client:
            return await client.call_tool("generate_bbj_code", {"prompt": "Print hello"})

    return anyio.run(go)


def test_openai_key_never_goes_to_a_bbjcoder_server(recording: RecordingModel) -> None:
    env = _env(OPENAI_API_KEY="sk-openai-secret", BBJCODER_API_KEY="bbj-key")
    result = _generate(recording, env)
    assert not result.is_error
    [(headers, _)] = recording.seen
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == "Bearer bbj-key"
    assert "sk-openai-secret" not in json.dumps(recording.seen)


def test_openai_key_alone_is_not_a_fallback_for_a_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.delenv("BBJCODER_API_KEY", raising=False)
    assert endpoint_from_spec("openai:m@http://127.0.0.1:8000/v1").api_key == "none"
    assert endpoint_from_spec("openai:gpt-4o@https://api.openai.com/v1").api_key == "sk-openai-secret"


def test_timeout_and_max_tokens_are_settable_from_the_command_line(recording: RecordingModel) -> None:
    result = _generate(recording, _env(BBJCODER_API_KEY="k"), "--timeout", "33", "--max-tokens", "77")
    assert not result.is_error
    [(_, body)] = recording.seen
    assert body["max_tokens"] == 77
    assert endpoint_from_spec(f"openai:m@{recording.url}", timeout_s=33).timeout_s == 33


def test_default_limits_follow_model_size_and_hardware() -> None:
    local = "http://127.0.0.1:8000/v1"
    assert default_limits("bbj-coder", "https://api.example.com/v1", gpu=False) == (120.0, 1024)
    assert default_limits("qwen2.5-coder-14b", local, gpu=True) == (120.0, 1024)
    assert default_limits("qwen2.5-coder-0.5b", local, gpu=False) == (120.0, 1024)
    assert default_limits("qwen2.5-coder-7b", local, gpu=False) == (280.0, 512)
    assert default_limits("qwen2.5-coder-14b", local, gpu=False) == (560.0, 512)


@pytest.mark.parametrize(
    ("line", "code", "msg_id"),
    [
        ("{bad json", -32700, None),
        (
            '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"code":"\\ud800"}}}',
            -32600,
            7,
        ),
        ('{"jsonrpc":"2.0","id":"a","nonsense":true}', -32600, "a"),
        ("[1, 2]", -32600, None),
    ],
)
def test_bad_request_lines_get_a_json_rpc_error(line: str, code: int, msg_id: Any) -> None:
    error = jsonrpc_error_for(line)
    assert error is not None
    assert error["error"]["code"] == code and error["id"] == msg_id


def test_valid_request_lines_pass_unchanged() -> None:
    assert jsonrpc_error_for('{"jsonrpc":"2.0","id":1,"method":"tools/list"}') is None


def test_server_process_answers_malformed_and_lone_surrogate_requests() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bbjcoder", "mcp", "--model", "openai:m@http://127.0.0.1:9/v1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    lines = [
        json.dumps(init),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        "{bad json",
        '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"validate_bbj_syntax","arguments":{"code":"\\ud800"}}}',
    ]
    try:
        proc.stdin.write(("\n".join(lines) + "\n").encode())
        proc.stdin.flush()
        replies = [json.loads(proc.stdout.readline()) for _ in range(3)]
    finally:
        proc.kill()
        proc.wait()
    assert replies[0]["id"] == 1 and "result" in replies[0]
    assert replies[1] == {"jsonrpc": "2.0", "id": None, "error": replies[1]["error"]}
    assert replies[1]["error"]["code"] == -32700
    assert replies[2]["id"] == 7 and replies[2]["error"]["code"] == -32600
