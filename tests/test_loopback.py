"""The local-page server both review apps use: loopback only, a taken port is a clear error."""

from __future__ import annotations

import socket

import pytest

from bbjcoder.errors import ServerError
from bbjcoder.loopback import serve_on_loopback


def test_a_local_page_on_a_taken_port_is_a_server_error_naming_the_port() -> None:
    from fastapi import FastAPI

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(ServerError, match=rf"cannot serve on 127\.0\.0\.1:{port}: ") as info:
            serve_on_loopback(FastAPI(), port)
    assert info.value.hint == "pick another --port"
