"""The runner's dashboard port: 8000 unless it is taken; a port asked for and taken is refused."""

from __future__ import annotations

import socket

import pytest

from mmtasks.run.children import web_port
from mmtasks.run.defaults import DEFAULT_WEB_PORT


def hold(port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_the_default_port_is_used_when_free_and_another_when_taken() -> None:
    try:
        held = hold(DEFAULT_WEB_PORT)
    except OSError:
        pytest.skip(f"port {DEFAULT_WEB_PORT} is in use by something else here")
    with held:
        fallback = web_port(None)
        assert fallback != DEFAULT_WEB_PORT
        with hold(fallback):  # it really was free
            pass


def test_a_port_asked_for_and_taken_is_refused_with_the_way_out() -> None:
    with hold(0) as held:
        taken = held.getsockname()[1]
        with pytest.raises(SystemExit, match=f"--web-port {taken}: the port is taken"):
            web_port(taken)
    assert web_port(0) > 0
