"""`SimServer`: the simulator served on loopback (a `LoopbackServer` in a background thread)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from almmigrate.errors import InputError
from almmigrate.sim.app import create_app
from almmigrate.sim.faults import FaultMiddleware, Faults, Hold, SimStats
from almmigrate.sim.loopback import LoopbackServer
from almmigrate.sim.store import SimStore


class SimServer:
    """A simulated SD Elements instance on a real HTTP socket.

    data: a data-file path or a dict in the same format.
    token: the API token it accepts; default is the data's "token".
    faults: latency, rate limit and failures to inject (changeable with set_faults).
    host, port: where to listen; port 0 picks a free port.
    api: "alm" (default) or "issue-tracker": the generation of the API it serves.
    """

    def __init__(
        self,
        data: str | Path | Mapping[str, Any],
        token: str | None = None,
        faults: Faults | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api: str | None = None,
    ) -> None:
        self.stats = SimStats()
        self.state = SimStore(data, on_write=lambda: self.stats.count("writes"), api=api)
        token = token if token is not None else self.state.token
        if not token:
            raise InputError('the simulator needs a token: pass one, or put "token" in the data')
        self.token: str = token
        self._faults_layer = FaultMiddleware(create_app(self.state, token), self.stats, faults)
        self._server = LoopbackServer(
            self._faults_layer, host=host, port=port, name="almmigrate-sim"
        )

    @property
    def faults(self) -> Faults:
        return self._faults_layer.faults

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        """The port it listens on (known once started when asked for port 0)."""
        return self._server.port

    @property
    def url(self) -> str:
        """The instance root, e.g. http://127.0.0.1:53211 (the API is under /api/v2/)."""
        return self._server.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v2/"

    def set_faults(self, faults: Faults) -> None:
        """Change the injected faults while the server runs."""
        self._faults_layer.set_faults(faults)

    def hold(self, when: Callable[[], bool]) -> Hold:
        """Stop answering from the first request that finds when() true, until the Hold's
        release() (stop() releases it too). when() runs in the server's thread."""
        hold = Hold(when)
        self._faults_layer.hold = hold
        return hold

    # ------------------------------------------------------------ lifecycle

    def start(self) -> SimServer:
        """Bind, start serving in a background thread, and return once it answers."""
        try:
            self._server.start()
        except RuntimeError:
            raise RuntimeError("the simulator did not start") from None
        return self

    def stop(self) -> None:
        """Stop serving and release the port (and any answers held)."""
        if self._faults_layer.hold is not None:
            self._faults_layer.hold.release()
        self._server.stop()

    def wait(self) -> None:
        """Block until the server stops (the CLI waits here until Ctrl-C)."""
        self._server.wait()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimServer(url={self.url!r}, {self.stats!r})"
