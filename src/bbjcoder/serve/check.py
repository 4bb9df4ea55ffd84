"""Ask a served model one question end to end: start `bbjcoder serve` on a GGUF (a subprocess on a
free loopback port), ask through the openai client, check the answer's BBj, stop the server.
The demo's serve stage; the verdict is compile@k's verdict on the answer's code."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO, TypedDict, cast

from bbjcoder.errors import UserError

WINDOW_PROMPT = (
    "Write a BBj program that creates a window with a button. When the button is clicked, "
    "display a message box saying 'Hello'."
)


class ServeCheck(TypedDict, total=False):
    """serve_check.json: how the server was started, what it was asked, what it answered."""

    command: str
    base_url: str
    prompt: str
    startup_s: float
    latency_s: float
    model: str
    answer: str
    code: str
    finish_reason: str | None
    completion_tokens: int | None
    compiles: bool
    diagnostics: list[object]  # compile@k's diagnostics of `code`: empty when it compiles
    server_exit_code: int | None
    server_stopped: bool


def read_check(path: Path) -> ServeCheck | None:
    """serve_check.json as `serve_and_ask`'s caller saved it, or None when missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return cast(ServeCheck, data) if isinstance(data, dict) else None


def summary(check: ServeCheck) -> str:
    """One line: how fast the server answered and whether the answer's code compiles."""
    n = len(check.get("diagnostics", []))
    verdict = "compiles" if check.get("compiles") else f"does not compile ({n} diagnostic{'s' * (n != 1)})"
    return f"answered in {check.get('latency_s', 0.0):.1f} s; {verdict}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_and_ask(
    gguf: Path, prompt: str, *, log: TextIO, max_tokens: int = 256, start_timeout_s: float = 120.0
) -> ServeCheck:
    """Start `bbjcoder serve` on `gguf` (subprocess, free loopback port), ask `prompt` with the
    openai client, check the answer's BBj, stop the server. Returns what happened."""
    from openai import OpenAI

    from bbjcoder.bbj import check_source
    from bbjcoder.data.convert import system_prompt
    from bbjcoder.evaluate.extract import extract_code
    from bbjcoder.evaluate.scoring import compile_diagnostics

    port = _free_port()
    cmd = [sys.executable, "-m", "bbjcoder.cli", "serve", "--model", f"gguf:{gguf}", "--port", str(port)]
    cmd += ["--n-ctx", "2048"]
    env = {k: v for k, v in os.environ.items() if k != "BBJCODER_API_KEY"}
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    out = ServeCheck(command=" ".join(cmd), base_url=base_url, prompt=prompt)
    try:
        client = OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=5.0)
        model = None
        while model is None:
            if proc.poll() is not None:
                raise UserError(
                    f"bbjcoder serve exited with status {proc.returncode} before answering",
                    path=Path(log.name),
                )
            if time.monotonic() - t0 > start_timeout_s:
                raise UserError(
                    f"bbjcoder serve did not start in {start_timeout_s:.0f} s", path=Path(log.name)
                )
            try:
                model = client.models.list().data[0].id
            except Exception:  # not listening yet
                time.sleep(0.5)
        out["startup_s"] = round(time.monotonic() - t0, 2)
        t1 = time.monotonic()
        reply = client.with_options(timeout=180.0).chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": system_prompt(["bbj-gui"])},
                {"role": "user", "content": prompt},
            ],
            max_tokens=max_tokens,
            temperature=0.0,
        )
        out["latency_s"] = round(time.monotonic() - t1, 2)
        answer = reply.choices[0].message.content or ""
        code = extract_code(answer, "bbj")
        diags = list(compile_diagnostics(code, check_source))  # the same verdict as compile@k
        out["model"], out["answer"], out["code"] = model, answer, code
        out["finish_reason"] = reply.choices[0].finish_reason
        out["completion_tokens"] = getattr(reply.usage, "completion_tokens", None)
        out["compiles"], out["diagnostics"] = not diags, list(diags)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out["server_exit_code"] = proc.returncode
        out["server_stopped"] = True
    return out
