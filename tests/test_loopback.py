"""LoopbackServer: any ASGI app on 127.0.0.1 from a thread (what SimServer and test servers run on)."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from almmigrate.errors import InputError
from almmigrate.sim import LoopbackServer


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.url.path}")


APP = Starlette(routes=[Route("/{path:path}", hello)])


def test_it_serves_on_a_free_port_known_at_once_and_releases_it_on_stop() -> None:
    server = LoopbackServer(APP)
    assert server.port == 0
    with server:
        port = server.port
        assert port > 0 and server.url == f"http://127.0.0.1:{port}"
        answer = httpx.get(f"{server.url}/a/b", timeout=10)
        assert (answer.status_code, answer.text) == (200, "hello /a/b")
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # free again: the server let it go


def test_a_busy_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(InputError) as caught:
            LoopbackServer(APP, port=port).start()
    assert str(caught.value) == f"cannot listen on 127.0.0.1:{port}: Address already in use"


def test_a_certificate_makes_it_https() -> None:
    server = LoopbackServer(APP, ssl_certfile="cert.pem", ssl_keyfile="key.pem")
    assert server.url == "https://127.0.0.1:0"  # not started: the port is not chosen yet
