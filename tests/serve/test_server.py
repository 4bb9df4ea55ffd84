"""`bbjcoder serve`: an OpenAI-compatible server on the exported tiny model, loopback and keyed."""

from __future__ import annotations

import subprocess

import httpx
import openai
import pytest

from bbjcoder.errors import ModelError, UserError
from bbjcoder.records.export_manifest import ExportManifest
from bbjcoder.serve.server import check_bind, is_loopback, resolve_target

from .conftest import API_KEY, cli


def test_models_endpoint_lists_the_exported_model(model_server: str) -> None:
    client = openai.OpenAI(base_url=model_server, api_key=API_KEY)
    assert [m.id for m in client.models.list().data] == ["bbj-coder"]


def test_chat_completion_comes_from_the_exported_model(model_server: str) -> None:
    client = openai.OpenAI(base_url=model_server, api_key=API_KEY)
    reply = client.chat.completions.create(
        model="bbj-coder",
        messages=[
            {"role": "system", "content": "You write BBj."},
            {"role": "user", "content": "Print hello"},
        ],
        max_tokens=8,
        temperature=0.0,
    )
    assert reply.choices[0].message.role == "assistant"
    assert isinstance(reply.choices[0].message.content, str)
    assert reply.usage is not None and reply.usage.completion_tokens >= 1
    # The server rendered our ChatML template: the prompt holds the role markers as tokens.
    assert reply.usage.prompt_tokens >= 8


def test_requests_without_the_api_key_are_rejected(model_server: str) -> None:
    assert httpx.get(f"{model_server}/models", timeout=10).status_code == 401
    wrong = httpx.get(f"{model_server}/models", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401


def test_non_loopback_bind_without_key_is_refused(tiny_export: ExportManifest) -> None:
    proc = subprocess.run(
        cli(
            "serve", "--model", f"gguf:{tiny_export.gguf_files['q4_k_m']}", "--host", "0.0.0.0", "--port", "1"
        ),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert "API key" in proc.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_bind_allows_non_loopback_with_key() -> None:
    check_bind("0.0.0.0", "secret")
    with pytest.raises(UserError):
        check_bind("0.0.0.0", None)


def test_run_spec_serves_that_runs_q4_k_m_export(tiny_export: ExportManifest) -> None:
    run_dir = tiny_export.export_dir.parent
    target = resolve_target(f"run:{run_dir.name}", runs_dir=run_dir.parent)
    assert target.gguf == tiny_export.gguf_files["q4_k_m"]
    assert target.alias == "bbj-coder"


def test_bad_model_specs_are_model_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError):
        resolve_target(f"gguf:{tmp_path / 'missing.gguf'}")
    with pytest.raises(ModelError):
        resolve_target("hf:/some/dir")


def test_run_spec_exports_first_when_the_run_has_no_export(tiny_export: ExportManifest, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    run_dir = tmp_path / "fresh-run"
    shutil.copytree(tiny_export.export_dir.parent, run_dir, ignore=shutil.ignore_patterns("export"))
    target = resolve_target("run:fresh-run", runs_dir=tmp_path, progress=False)
    assert target.gguf == run_dir / "export" / "bbj-coder-q4_k_m.gguf"
    assert target.gguf.stat().st_size > 0 and (run_dir / "export" / "Modelfile").exists()
