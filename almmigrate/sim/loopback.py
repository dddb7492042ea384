"""`LoopbackServer`: any ASGI app served by uvicorn from a background thread.

The socket is bound here (port 0 gives a free port) before uvicorn starts,
so `url` is known at once and two servers never race for a port. The
simulator runs on it, and so do the small servers tests script themselves.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from almmigrate.errors import InputError

START_TIMEOUT = 10.0


class LoopbackServer:
    """An ASGI app on a real HTTP socket, served from a daemon thread until stop().

    host, port: where to listen; port 0 picks a free port.
    name: the serving thread's name.
    config: more uvicorn.Config options (ssl_certfile and ssl_keyfile serve https).
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "almmigrate-server",
        **config: Any,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self.config = {"log_level": "warning", "access_log": False, **config}
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The server's root, e.g. http://127.0.0.1:53211 (https when it has a certificate)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.config.get("ssl_certfile") else "http"
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> LoopbackServer:
        """Bind, start serving in a background thread, and return once it answers."""
        if self._thread is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto must say TCP: asyncio turns Nagle off only for sockets that do, and with
        # Nagle on, every keep-alive response waits 40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            raise InputError(
                f"cannot listen on {self.host}:{self.port}: {error.strerror}"
            ) from None
        sock.listen(128)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=2,
            **self.config,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._serve, name=f"{self.name}-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server on {self.host}:{self.port} did not start")
            time.sleep(0.002)
        return self

    def _serve(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        # uvicorn's own serve() polls for exit every 0.1 s and sleeps 0.1 s more on
        # shutdown; tests start and stop hundreds of servers, so stop on an event instead.
        server, sock = self._server, self._socket
        assert server is not None and sock is not None
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await server.startup(sockets=[sock])
        await self._stopping.wait()
        for listener in server.servers:
            listener.close()
        state = server.server_state
        for connection in list(state.connections):
            connection.shutdown()  # idle keep-alive connections close now, busy ones after replying
        deadline = self._loop.time() + 2.0
        while (state.connections or state.tasks) and self._loop.time() < deadline:
            await asyncio.sleep(0.005)
        for task in list(state.tasks):
            task.cancel()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        self._server = None
        self._socket = None
        self._loop = None
        self._stopping = None

    def wait(self) -> None:
        """Block until the server stops."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
