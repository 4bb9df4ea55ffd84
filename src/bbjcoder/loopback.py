"""Serve a local page (the data and eval review apps) on 127.0.0.1, blocking until interrupted.

Low in the layers so that both review pages, in `data` and in `evaluate`, can use it without
importing the `serve` stage above them.
"""

from __future__ import annotations

import socket
from typing import Any

from bbjcoder.errors import ServerError


def serve_on_loopback(app: Any, port: int) -> None:
    """Run a local page's ASGI `app` at http://127.0.0.1:PORT/ until interrupted (blocking); a port
    that cannot be bound becomes a ServerError that suggests another --port."""
    import uvicorn

    try:
        # uvicorn reports a bind failure itself and exits with status 3, so try the port first
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    except OSError as exc:
        raise ServerError(
            f"cannot serve on 127.0.0.1:{port}: {exc.strerror}", hint="pick another --port"
        ) from exc
