"""`bbjcoder serve`: an OpenAI-compatible HTTP server for an exported GGUF (llama-cpp-python engine).

Loopback by default; binding any other address requires an API key, which every request must send.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bbjcoder.errors import DependencyError, ModelError, ServerError, UserError


@dataclass(frozen=True)
class ServeTarget:
    """The GGUF file to serve and the model name clients see in /v1/models."""

    gguf: Path
    alias: str


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: localhost, 127.0.0.0/8, ::1."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to expose the model beyond this machine without a usable API key."""
    if api_key is not None and api_key != api_key.strip():
        raise UserError(
            "the API key is blank or has spaces at its ends: no client could send it in a header",
            hint="pass --api-key KEY with a key of visible characters (or set BBJCODER_API_KEY)",
        )
    if not is_loopback(host) and not api_key:
        raise UserError(
            f"refusing to listen on {host} without an API key: anyone who can reach it could use the model",
            hint="pass --api-key KEY (or set BBJCODER_API_KEY), or keep the default --host 127.0.0.1",
        )


def default_threads() -> int:
    """$BBJCODER_THREADS when set, else all cores: one server is the only llama.cpp job on its
    machine (lower --threads to share it)."""
    from bbjcoder.config import llama_threads

    return llama_threads()


def resolve_target(spec: str, *, runs_dir: str | Path = "runs", progress: bool = True) -> ServeTarget:
    """`gguf:PATH` or `run:ID` (that run's exported GGUF, Q4_K_M preferred; exported first when missing)."""
    from bbjcoder.evaluate.generate import parse_spec

    parsed = parse_spec(spec)
    kind, value = parsed.kind, parsed.target
    if kind == "gguf":
        path = Path(value)
        if not path.is_file():
            raise ModelError("GGUF file not found", path=path)
        return ServeTarget(path, _alias_for(path))
    if kind == "run":
        from bbjcoder import export
        from bbjcoder.runs import resolve_run

        run = resolve_run(value, Path(runs_dir))
        # Q4_K_M when exported; else the export's other quant (re-exporting would replace it).
        found = [
            p for quant in ("q4_k_m", "q8_0", "f16") for p in sorted(run.export_dir.glob(f"*-{quant}.gguf"))
        ][:1]
        if not found:
            from rich.console import Console

            Console(stderr=True).print(
                f"run {run.id} has no exported Q4_K_M GGUF yet: exporting it first "
                f"(bbjcoder export {value}) ...",
                highlight=False,
                markup=False,
            )
            cfg = export.settings(run, quant="q4_k_m")
            if progress:
                with export.progress_bar() as bar:
                    manifest = export.run(cfg, run, progress=bar)
            else:
                manifest = export.run(cfg, run)
            found = [manifest.gguf_files["q4_k_m"]]
        return ServeTarget(found[0], _alias_for(found[0]))
    raise ModelError(f"bbjcoder serve takes gguf:PATH or run:ID, not {kind}:...", hint="see docs/serving.md")


def _alias_for(path: Path) -> str:
    # bbj-coder-q4_k_m.gguf -> bbj-coder: clients name the model, not the file's quantization.
    stem = path.stem
    for quant in ("-q4_k_m", "-q8_0", "-f16", "-f32"):
        if stem.endswith(quant):
            return stem[: -len(quant)]
    return stem


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            raise ServerError(
                f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick another --port"
            ) from exc


def load_app(
    target: ServeTarget, *, api_key: str | None = None, n_ctx: int = 4096, threads: int | None = None
) -> Any:
    """The FastAPI app of `serve`, with the model loaded (for `serve` and in-process use)."""
    try:
        from llama_cpp import Llama

        from bbjcoder.evaluate.llamacpp import LlamaEngine
        from bbjcoder.serve.app import ServedModel, create_app
    except ImportError as exc:
        raise DependencyError(
            "the server needs llama-cpp-python, fastapi and uvicorn",
            hint="pip install -e '.[export,serve]'",
        ) from exc
    from bbjcoder.data.convert import system_prompt

    n_threads = threads or default_threads()
    try:
        llm = Llama(
            model_path=str(target.gguf),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
        )
    except ValueError as exc:
        raise ModelError(f"llama.cpp could not load the model: {exc}", path=target.gguf) from exc
    # The Modelfile's system prompt (built on training's): a request without one gets it.
    served = ServedModel(LlamaEngine(llm), target.alias, system_prompt(), api_key or None)
    return create_app(served)


def serve(
    target: ServeTarget,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    n_ctx: int = 4096,
    threads: int | None = None,
) -> None:
    """Serve `target` at http://HOST:PORT/v1 until interrupted (blocking)."""
    check_bind(host, api_key)
    try:
        import uvicorn
    except ImportError as exc:
        raise DependencyError("the server needs uvicorn", hint="pip install -e '.[serve]'") from exc
    bind = host.strip("[]")  # "[::1]" is how a URL writes ::1; sockets want the bare address
    _check_port_free(bind, port)
    app = load_app(target, api_key=api_key, n_ctx=n_ctx, threads=threads)
    from rich.console import Console

    shown = f"[{bind}]" if ":" in bind else bind
    Console().print(
        f"serving {target.alias} ({target.gguf.name}) at http://{shown}:{port}/v1 "
        f"({threads or default_threads()} threads)",
        highlight=False,
        markup=False,
    )
    uvicorn.run(app, host=bind, port=port, log_level="warning")
