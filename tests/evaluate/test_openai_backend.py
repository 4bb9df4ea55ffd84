"""The openai: backend against a real OpenAI-compatible server on loopback, and dead servers.

The server is ours, written here: FastAPI + uvicorn serving /v1/chat/completions from the tiny
hf model, so requests go through real HTTP, the real `openai` client and real JSON.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request

from bbjcoder.errors import ServerError
from bbjcoder.evaluate.generate import OpenAIBackend, SamplingParams
from bbjcoder.evaluate.prompts import Prompt

from ..helpers import free_port


class _Server:
    """uvicorn in a thread; `fail_next` makes the next N requests answer HTTP 503."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        import uvicorn
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        app = FastAPI()
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
            ids = tok.apply_chat_template(
                body["messages"], add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            torch.manual_seed(int(body.get("seed") or 0))
            with torch.inference_mode():
                out = model.generate(
                    **ids,
                    max_new_tokens=int(body.get("max_tokens") or 16),
                    do_sample=float(body.get("temperature", 0)) > 0,
                    temperature=float(body.get("temperature") or 1.0),
                    pad_token_id=tok.pad_token_id,
                )
            text = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
            return JSONResponse(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                }
            )

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[_Server]:
    with _Server(tiny_model) as srv:
        yield srv


def test_openai_backend_samples_from_a_real_server_and_retries_503(server: _Server) -> None:
    backend = OpenAIBackend("tiny", server.url, label="openai:tiny", backoff_s=0.01)
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=8, stop=("\nEND",), seed=3)
    server.fail_next = 2
    before = len(server.requests)
    texts = backend.generate([Prompt((("system", "s"), ("user", "Print hello")))], params, [11])
    assert len(texts) == 1 and isinstance(texts[0], str)
    sent = server.requests[before:]
    assert len(sent) == 3  # two 503s retried, then success
    assert sent[-1]["max_tokens"] == 8 and sent[-1]["seed"] == 11 and sent[-1]["stop"] == ["\nEND"]
    assert sent[-1]["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "Print hello"},
    ]


def test_eval_against_openai_server_writes_all_report_files(
    server: _Server, tiny_suite: Path, tmp_path: Path
) -> None:
    from bbjcoder.evaluate.runner import EvalSettings, run_eval

    settings = EvalSettings(params=SamplingParams(n=1, max_new_tokens=8), ks=(1,), forgetting_max=2)
    result = run_eval(f"openai:tiny@{server.url}", tiny_suite, out_dir=tmp_path, settings=settings)
    assert {p.name for p in result.paths.values()} == {"report.json", "report.md", "compile_at_k.png"}
    assert all(p.stat().st_size > 0 for p in result.paths.values())
    assert result.report.models[0].description["backend"] == "openai"
    assert len(result.report.cases) == 4 and len(result.report.general_cases) == 2


def test_dead_server_is_a_clear_error_after_bounded_retries() -> None:
    port = free_port()  # nothing listens here
    backend = OpenAIBackend(
        "m", f"http://127.0.0.1:{port}/v1", label="x", max_retries=2, backoff_s=0.01, timeout_s=2
    )
    t0 = time.monotonic()
    with pytest.raises(ServerError, match=r"failed 3 times: APIConnectionError"):
        backend.generate([Prompt((("user", "hi"),))], SamplingParams(n=1), [0])
    assert time.monotonic() - t0 < 10


def test_server_that_never_answers_times_out_instead_of_hanging() -> None:
    with socket.socket() as listener:  # accepts connections, never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        backend = OpenAIBackend(
            "m", f"http://127.0.0.1:{port}/v1", label="x", max_retries=1, backoff_s=0.01, timeout_s=0.5
        )
        t0 = time.monotonic()
        with pytest.raises(ServerError, match=r"did not answer within 0\.5 s"):
            backend.generate([Prompt((("user", "hi"),))], SamplingParams(n=1), [0])
        assert time.monotonic() - t0 < 10


def test_client_error_is_not_retried(server: _Server) -> None:
    backend = OpenAIBackend("m", server.url.replace("/v1", "/nope"), label="x", max_retries=3, backoff_s=0.01)
    with pytest.raises(ServerError, match="HTTP 404"):
        backend.generate([Prompt((("user", "hi"),))], SamplingParams(n=1), [0])
