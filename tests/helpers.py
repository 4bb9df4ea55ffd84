"""Small helpers shared by tests that start servers on loopback or drive headless Chromium."""

from __future__ import annotations

import socket
from pathlib import Path

# Debian's chromium (installed by `make browser`), started the way this sandbox allows: no
# sandbox, no GPU, and none of Chromium's background network traffic.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HAVE_CHROMIUM = Path(CHROMIUM).exists()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
