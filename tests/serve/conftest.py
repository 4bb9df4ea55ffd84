"""Fixtures for the serve tests: an exported tiny run, `bbjcoder serve` on it, and a scripted model.

The scripted model is a loopback OpenAI-compatible server that replays fixed replies; it exists only
to make the MCP repair loop deterministic (the tiny model writes random tokens).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bbjcoder import export
from bbjcoder.config import ExportSection
from bbjcoder.records.export_manifest import ExportManifest
from bbjcoder.runs import resolve_run
from bbjcoder.train.tiny import build_tiny_model

from ..helpers import free_port, stop_process

TEXTS = [
    '10 PRINT "Hello, world"\n20 END\n',
    'OPEN (1)"customers.dat"\nREAD RECORD (1,KEY="0001",ERR=NOT_FOUND)cust$\nCLOSE (1)\n',
    'window! = BBjAPI().getSysGui().addWindow(100,100,400,300,"Orders")\n',
]
API_KEY = "test-key-123"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bbjcoder.cli", *args]


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> ExportManifest:
    """A tiny run (base + zero-initialised LoRA adapter) exported to GGUF."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    runs = tmp_path_factory.mktemp("runs")
    run = runs / "serve-run"
    build_tiny_model(run / "model", TEXTS * 10, hidden_size=64, num_layers=2, vocab_size=600)
    base = AutoModelForCausalLM.from_pretrained(run / "model")
    get_peft_model(base, LoraConfig(r=4, target_modules="all-linear")).save_pretrained(run / "adapter")
    (run / "run.json").write_text(json.dumps({"id": "serve-run", "base_model_path": "model"}))
    return export.run(ExportSection(quant="q4_k_m", name="bbj-coder"), resolve_run(run, runs))


@contextlib.contextmanager
def running_server(
    gguf: Path, *extra: str, env: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> Iterator[str]:
    """`bbjcoder serve` on `gguf` in a subprocess until the block ends; yields its /v1 base URL."""
    port = free_port()
    proc = subprocess.Popen(
        cli("serve", "--model", f"gguf:{gguf}", "--host", host, "--port", str(port), *extra),
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    bare = host.strip("[]")
    url = f"http://{host}:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"bbjcoder serve exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                with socket.create_connection((bare, port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("bbjcoder serve did not start in 90 s") from None
                time.sleep(0.3)
        yield url
    finally:
        stop_process(proc, 15)


@pytest.fixture(scope="session")
def model_server(tiny_export: ExportManifest) -> Iterator[str]:
    """`bbjcoder serve` on the exported Q4_K_M GGUF with an API key; yields its base URL."""
    with running_server(
        tiny_export.gguf_files["q4_k_m"], "--threads", "1", env={"BBJCODER_API_KEY": API_KEY}
    ) as url:
        yield url


class ScriptedModel:
    """A loopback /v1/chat/completions that answers with `replies` in turn (the last one repeats)."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                text = outer.replies[min(len(outer.requests), len(outer.replies)) - 1]
                payload = {
                    "id": f"chatcmpl-{len(outer.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "scripted"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedModel:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
