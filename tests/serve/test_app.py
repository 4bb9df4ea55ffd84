"""`bbjcoder serve` behaves like the model we trained and measured, and leaks nothing (issues 15, 17).

Real server processes on loopback, on the exported tiny model (and the real Qwen GGUF when
BBJCODER_REAL_GGUF names it, else fetched with the project's own `bbjcoder.models.fetch`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bbjcoder.data.convert import system_prompt
from bbjcoder.data.fim import fim_prompt
from bbjcoder.errors import UserError
from bbjcoder.records.export_manifest import ExportManifest
from bbjcoder.serve.app import usable_stops
from bbjcoder.serve.server import check_bind, default_threads

from .conftest import API_KEY, cli, running_server

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _post(url: str, path: str, body: Any, **kw: Any) -> httpx.Response:
    if isinstance(body, str):
        return httpx.post(f"{url}{path}", content=body, headers={**AUTH, "Content-Type": "application/json"},
                          timeout=60, **kw)  # fmt: skip
    return httpx.post(f"{url}{path}", json=body, headers=AUTH, timeout=60, **kw)


def _is_openai_error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) >= {"message", "type", "code"} and err["message"]
    for leak in (".py", "Traceback", "site-packages", str(Path.home())):
        assert leak not in resp.text
    return dict(err)


def _tokens(gguf: Path, text: str) -> int:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    try:
        return len(llm.tokenize(text.encode(), add_bos=False, special=True))
    finally:
        llm.close()


def test_unknown_model_name_is_404_in_openai_format(model_server: str) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    err = _is_openai_error(_post(model_server, "/chat/completions", body), 404)
    assert err["code"] == "model_not_found" and "bbj-coder" in err["message"]
    err = _is_openai_error(_post(model_server, "/completions", {"model": "x", "prompt": "a"}), 404)
    assert err["param"] == "model"


def test_reply_names_the_served_model_not_its_path(model_server: str) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "temperature": 0}
    reply = _post(model_server, "/chat/completions", body).json()
    assert reply["model"] == "bbj-coder"
    parts = {**body, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    same = _post(model_server, "/chat/completions", parts).json()  # content parts, as some editors send
    assert same["usage"]["prompt_tokens"] == reply["usage"]["prompt_tokens"]


def test_bbj_system_prompt_is_sent_unless_the_request_has_one(model_server: str) -> None:
    def prompt_tokens(messages: list[dict[str, str]]) -> int:
        body = {"messages": messages, "max_tokens": 1, "temperature": 0}
        return int(_post(model_server, "/chat/completions", body).json()["usage"]["prompt_tokens"])

    user = {"role": "user", "content": "Write a BBj window."}
    bare = prompt_tokens([user])
    explicit = prompt_tokens([{"role": "system", "content": system_prompt()}, user])
    own = prompt_tokens([{"role": "system", "content": "Be short."}, user])
    assert bare == explicit  # the BBj system prompt was added, exactly
    assert bare > own + 100  # and a request's own system prompt replaces it


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/models"])
def test_every_route_needs_the_key(model_server: str, path: str) -> None:
    base = model_server.removesuffix("/v1") if path != "/models" else model_server
    _is_openai_error(httpx.get(f"{base}{path}", timeout=10), 401)
    assert httpx.get(f"{base}{path}", headers=AUTH, timeout=10).status_code == 200


@pytest.mark.parametrize(
    "body", ["{bad json", '{"messages":"hi"}', "{}", '{"messages": []}', '{"messages":[{"role":"user"}]}']
)
def test_bad_bodies_are_400_in_openai_format(model_server: str, body: str) -> None:
    t0 = time.monotonic()
    _is_openai_error(_post(model_server, "/chat/completions", body), 400)
    assert time.monotonic() - t0 < 5  # refused, not generated


def test_huge_prompt_is_refused_before_generating(model_server: str) -> None:
    body = {"messages": [{"role": "user", "content": "print 1\n" * 650_000}], "max_tokens": 200}  # ~5 MB
    t0 = time.monotonic()
    err = _is_openai_error(_post(model_server, "/chat/completions", body), 400)
    assert err["code"] == "context_length_exceeded"
    assert time.monotonic() - t0 < 3


def test_fim_completion_renders_the_training_fim_prompt(
    model_server: str, tiny_export: ExportManifest
) -> None:
    prefix, suffix = 'x = 1\nprint "', '"\nend\n'
    body = {"prompt": prefix, "suffix": suffix, "max_tokens": 4, "temperature": 0}
    reply = _post(model_server, "/completions", body).json()
    assert reply["object"] == "text_completion" and reply["model"] == "bbj-coder"
    gguf = tiny_export.gguf_files["q4_k_m"]
    assert reply["usage"]["prompt_tokens"] == _tokens(gguf, fim_prompt(prefix, suffix))
    plain = _post(model_server, "/completions", {"prompt": prefix, "max_tokens": 1}).json()
    assert plain["usage"]["prompt_tokens"] == _tokens(gguf, prefix)


def test_stop_strings_cut_the_reply_and_foreign_control_tokens_are_dropped(model_server: str) -> None:
    body: dict[str, Any] = {"prompt": "print", "max_tokens": 24, "temperature": 0}
    full = _post(model_server, "/completions", body).json()["choices"][0]["text"]
    assert len(full) > 6
    stop = full[3:6]
    cut = _post(model_server, "/completions", {**body, "stop": [stop]}).json()["choices"][0]
    assert cut["text"] == full[: full.index(stop)] and cut["finish_reason"] == "stop"
    assert usable_stops(["</s>", "<|eot_id|>", "[/INST]", "\n\n", "```", ""]) == ["\n\n", "```"]
    assert usable_stops("</s>") == []


def test_streaming_chat_sends_chunks_and_done(model_server: str) -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "temperature": 0,
        "stream": True,
    }
    with httpx.stream("POST", f"{model_server}/chat/completions", json=body, headers=AUTH, timeout=60) as r:
        lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) >= 3
    assert '"finish_reason": "length"' in lines[-2] or '"finish_reason": "stop"' in lines[-2]


def test_blank_api_key_is_refused_and_default_threads_use_all_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="blank"):
        check_bind("0.0.0.0", " ")
    with pytest.raises(UserError):
        check_bind("127.0.0.1", " key")
    monkeypatch.delenv("BBJCODER_THREADS", raising=False)
    assert default_threads() == (os.cpu_count() or 1)
    monkeypatch.setenv("BBJCODER_THREADS", "1")
    assert default_threads() == 1


def test_blank_api_key_on_all_interfaces_exits_2(tiny_export: ExportManifest) -> None:
    proc = subprocess.run(
        cli(
            "serve",
            "--model",
            f"gguf:{tiny_export.gguf_files['q4_k_m']}",
            "--host",
            "0.0.0.0",
            "--api-key",
            " ",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "blank" in proc.stderr


def _have_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _have_ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_bracketed_ipv6_loopback_host_serves(tiny_export: ExportManifest) -> None:
    with running_server(tiny_export.gguf_files["q4_k_m"], "--threads", "1", host="[::1]") as url:
        resp = httpx.get(f"{url}/models", timeout=10)
    assert resp.status_code == 200 and resp.json()["data"][0]["id"] == "bbj-coder"


# --- the real model ---------------------------------------------------------------------------------

WINDOW_PROMPT = "Write a BBj program that opens a window with a button; clicking it shows a message box."


@pytest.mark.slow
def test_real_model_answers_in_bbj_with_and_without_a_system_message() -> None:
    from tests.models.conftest import qwen_real_gguf

    with running_server(qwen_real_gguf(), "--threads", "2") as url:
        replies = []
        for messages in (
            [{"role": "user", "content": WINDOW_PROMPT}],
            [{"role": "system", "content": system_prompt()}, {"role": "user", "content": WINDOW_PROMPT}],
        ):
            body = {"messages": messages, "max_tokens": 160, "temperature": 0}
            replies.append(httpx.post(f"{url}/chat/completions", json=body, timeout=600).json())
    for r in replies:
        print(r["usage"], r["choices"][0]["message"]["content"][:400].replace("\n", " | "))
    without, with_ = replies
    assert without["usage"]["prompt_tokens"] == with_["usage"]["prompt_tokens"]
    assert without["choices"][0]["message"]["content"] == with_["choices"][0]["message"]["content"]
    assert "```bbj" in without["choices"][0]["message"]["content"].lower()
