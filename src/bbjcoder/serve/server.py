"""`bbjcoder serve`: an OpenAI-compatible HTTP server for an exported GGUF (llama-cpp-python engine).

Loopback by default; binding any other address requires an API key, which every request must send.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

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
    """Refuse to expose the model beyond this machine without an API key."""
    if not is_loopback(host) and not api_key:
        raise UserError(
            f"refusing to listen on {host} without an API key: anyone who can reach it could use the model",
            hint="pass --api-key KEY (or set BBJCODER_API_KEY), or keep the default --host 127.0.0.1",
        )


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
        from bbjcoder.export import resolve_run

        paths = resolve_run(value, runs_dir)
        # Q4_K_M when exported; else the export's other quant (re-exporting would replace it).
        found = [
            p for quant in ("q4_k_m", "q8_0", "f16") for p in sorted(paths.export_dir.glob(f"*-{quant}.gguf"))
        ][:1]
        if not found:
            from rich.console import Console

            from bbjcoder.export import export_run

            Console(stderr=True).print(
                f"run {paths.run_dir.name} has no exported Q4_K_M GGUF yet: exporting it first "
                f"(bbjcoder export {value}) ...",
                highlight=False,
                markup=False,
            )
            result = export_run(paths.run_dir, "q4_k_m", progress=progress, runs_dir=runs_dir)
            found = [result.gguf["q4_k_m"]]
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
        from llama_cpp.server.app import create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as exc:
        raise DependencyError(
            "the server needs llama-cpp-python[server] and uvicorn",
            hint="pip install -e '.[export,serve]'",
        ) from exc
    _check_port_free(host, port)
    n_threads = threads or max(1, (os.cpu_count() or 2) // 2)
    model_settings = ModelSettings(
        model=str(target.gguf),
        model_alias=target.alias,
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        # No chat_format: llama-cpp-python then renders the chat template embedded in the GGUF.
        chat_format=None,
        verbose=False,
    )
    server_settings = ServerSettings(host=host, port=port, api_key=api_key)
    app = create_app(server_settings=server_settings, model_settings=[model_settings])
    from rich.console import Console

    Console().print(
        f"serving {target.alias} ({target.gguf}) at http://{host}:{port}/v1", highlight=False, markup=False
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
