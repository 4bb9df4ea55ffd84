"""Eval under faults: resume only with the settings the samples were drawn with, one eval per
output directory, a silent server fails with its URL and the timeout, a truncated GGUF is named."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bbjcoder.errors import ModelError, ServerError, UserError
from bbjcoder.evaluate.generate import OpenAIBackend, SamplingParams
from bbjcoder.evaluate.prompts import Prompt
from bbjcoder.evaluate.runner import EvalSettings, run_eval
from bbjcoder.fileio import DirectoryInUse


def _settings(**params: object) -> EvalSettings:
    base = {"n": 1, "temperature": 0.0, "max_new_tokens": 8, "batch_size": 4, "seed": 7}
    return EvalSettings(params=SamplingParams(**{**base, **params}), ks=(1,), forgetting_suite=None)


def test_rerun_with_other_sampling_settings_is_refused_then_fresh_resamples(
    tiny_model: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = run_eval(f"hf:{tiny_model}", tiny_suite, out_dir=out, settings=_settings())
    assert first.generated == 4
    for change in ({"temperature": 0.9}, {"max_new_tokens": 16}, {"seed": 8}):
        with pytest.raises(UserError, match="drawn with other settings") as exc:
            run_eval(f"hf:{tiny_model}", tiny_suite, out_dir=out, settings=_settings(**change))
        assert "--fresh" in (exc.value.hint or "")
    again = run_eval(
        f"hf:{tiny_model}", tiny_suite, out_dir=out, settings=_settings(max_new_tokens=16), fresh=True
    )
    assert again.generated == 4
    assert again.report.config.max_new_tokens == 16
    # same settings as the last run: resumes, nothing generated
    assert (
        run_eval(f"hf:{tiny_model}", tiny_suite, out_dir=out, settings=_settings(max_new_tokens=16)).generated
        == 0
    )


def test_more_samples_per_case_reuse_the_drawn_ones(
    tiny_model: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_eval(f"hf:{tiny_model}", tiny_suite, out_dir=out, settings=_settings(temperature=0.8))
    # sample i has its own seed: -n 2 keeps sample 0 (the same draw) and adds sample 1
    assert (
        run_eval(
            f"hf:{tiny_model}", tiny_suite, out_dir=out, settings=_settings(temperature=0.8, n=2)
        ).generated
        == 4
    )


def test_second_eval_into_a_locked_output_directory_exits_naming_the_holder(
    tiny_model: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from bbjcoder.fileio import DirLock; "
            f"lock = DirLock({str(out)!r}).acquire(); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(DirectoryInUse, match=f"eval output directory is in use .*pid {holder.pid}"):
            run_eval(f"hf:{tiny_model}", tiny_suite, out_dir=out, settings=_settings())
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server on loopback that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    stop.set()
    t.join()
    for c in held:
        c.close()
    sock.close()


def test_silent_server_fails_with_url_timeout_and_hint(silent_server: str) -> None:
    logged: list[str] = []
    backend = OpenAIBackend("m", silent_server, label="m", timeout_s=1, backoff_s=0, log=logged.append)
    t0 = time.monotonic()
    with pytest.raises(ServerError, match=r"did not answer within 1 s") as exc:
        backend.generate([Prompt((("user", "hi"),))], SamplingParams(n=1, max_new_tokens=4), [1])
    assert time.monotonic() - t0 < 15  # two timed-out tries, not five with backoff
    assert silent_server in exc.value.message
    assert "--request-timeout" in (exc.value.hint or "")
    assert any("timeout 1 s" in m for m in logged)
    assert any("no answer" in m for m in logged)


def test_truncated_gguf_is_named_with_what_is_wrong(tiny_gguf: Path, tmp_path: Path) -> None:
    from bbjcoder.evaluate.generate import GGUFBackend

    cut = tmp_path / "cut.gguf"
    data = tiny_gguf.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ModelError, match="truncated") as exc:
        GGUFBackend(cut, label="cut")
    assert exc.value.path == str(cut)
    GGUFBackend(tiny_gguf, label="whole").close()  # an intact file passes the same check
