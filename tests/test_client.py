"""SDEClient over real HTTP: the simulator, plus small servers for what the simulator cannot do.

The scripted server (Starlette on the simulator's LoopbackServer) answers each request with
whatever the test's handler returns and records what it saw, so tests can
produce every error shape (DRF `detail`/`error`/`message`/field maps, raw
text, HTML) and check exactly what the client sent. The raw server reads a
request and then drops the connection or never answers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from clocks import StoppedClock
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from almmigrate import __version__
from almmigrate.client import SDEClient, api_base, is_loopback
from almmigrate.errors import (
    ApiError,
    ApiValidationError,
    AuthenticationFailed,
    ConnectionProblem,
    InputError,
    NotAnInstance,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unreachable,
)
from almmigrate.models import Connection, Connector
from almmigrate.ratelimit import RateLimiter
from almmigrate.responses import parse_retry_after
from almmigrate.settings import ConnectionSettings
from almmigrate.sim import Faults, LoopbackServer

TOKEN = "CANARY-token-5f1e2d3c4b"
ALL_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
# Generous bounds for what a loaded machine may take: they only end a test that hangs.
WAIT = 60


# ---------------------------------------------------------------- test servers


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float  # time.monotonic() when the request arrived
    body: bytes = b""


@dataclass
class Scripted:
    """A real HTTP server whose answers the test scripts; it records every request."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    handler: Callable[[Request, Seen], Any] = lambda request, seen: JSONResponse({})

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


def _scripted_app(script: Scripted) -> Starlette:
    async def endpoint(request: Request) -> Response:
        seen = Seen(
            request.method,
            request.url.path,
            dict(request.query_params),
            dict(request.headers),
            time.monotonic(),
            await request.body(),
        )
        script.seen.append(seen)
        answer = script.handler(request, seen)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=ALL_METHODS)])


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    script = Scripted()
    with LoopbackServer(_scripted_app(script), log_level="error") as server:
        script.url = server.url
        yield script


@pytest.fixture
def kept_alive() -> Iterator[Scripted]:
    """`scripted`, keeping idle connections for WAIT s (uvicorn's 5 s, not a busy machine's)."""
    script = Scripted()
    app = _scripted_app(script)
    with LoopbackServer(app, log_level="error", timeout_keep_alive=WAIT) as server:
        script.url = server.url
        yield script


class RawServer:
    """Reads each HTTP request in full, then drops the connection ("drop") or never answers ("hang")."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.count = 0  # requests read in full so far: see requests()
        self._done = threading.Event()
        self._changed = threading.Condition()
        self._accepted: list[int] = []  # the client port of each connection, in accept order
        self._reading = 0  # connections accepted whose request is not read yet
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def requests(self) -> int:
        """The requests sent to this server so far, once it has read every one of them.

        A client that gives up waiting (a 0.3 s timeout) may do so before this server's
        threads even got to its request on a busy machine: `count` read at once would
        then be short. A connection of our own, accepted after every earlier one (the
        listen queue is first in, first out), says when all of them are accepted.
        """
        with socket.create_connection(self._sock.getsockname()[:2], timeout=WAIT) as probe:
            mine = probe.getsockname()[1]
            with self._changed:
                assert self._changed.wait_for(lambda: mine in self._accepted, WAIT)
        with self._changed:  # closed: its handler reads no request and ends
            assert self._changed.wait_for(lambda: self._reading == 0, WAIT)
            return self.count

    def _accept(self) -> None:
        while not self._done.is_set():
            try:
                conn, peer = self._sock.accept()
            except TimeoutError:
                continue
            with self._changed:
                self._accepted.append(peer[1])
                self._reading += 1
                self._changed.notify_all()
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                complete = self._read(conn)
            finally:
                with self._changed:
                    self.count += int(complete)
                    self._reading -= 1
                    self._changed.notify_all()
            if complete and self.mode == "hang":
                self._done.wait(10)

    @staticmethod
    def _read(conn: socket.socket) -> bool:
        """Read one request in full: False when the connection ends before it does."""
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            body += chunk
        return True

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[str], RawServer]]:
    servers: list[RawServer] = []

    def make(mode: str) -> RawServer:
        servers.append(RawServer(mode))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def finish(*threads: threading.Thread) -> None:
    """Join threads, failing the test if one is still running (a bare join(timeout) returns
    all the same, and the assertions after it would then read a half-done run)."""
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), f"{thread.name} still running after {WAIT} s"


def settings(url: str, token: str = TOKEN, **overrides: Any) -> ConnectionSettings:
    # A 30 s read timeout: one slow answer on a busy machine must not become a retry, or
    # an unknown outcome for a create (tests of timeouts set their own, short).
    values: dict[str, Any] = {"timeout": 30.0, "retries": 2, "max_wait": 30.0}
    values.update(overrides)
    return ConnectionSettings(url=url, token=token, **values)


def client_for(url: str, token: str = TOKEN, **overrides: Any) -> SDEClient:
    return SDEClient(settings(url, token, **overrides), backoff=0.01)


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("https://sde.example.com", "https://sde.example.com/api/v2/"),
        ("https://sde.example.com/", "https://sde.example.com/api/v2/"),
        ("https://sde.example.com/api/v2", "https://sde.example.com/api/v2/"),
        ("https://sde.example.com/api/v2/", "https://sde.example.com/api/v2/"),
        ("  HTTPS://sde.example.com:8443//  ", "https://sde.example.com:8443/api/v2/"),
        ("sde.example.com", "https://sde.example.com/api/v2/"),
        ("https://example.com/sde/api/v2/", "https://example.com/sde/api/v2/"),
        ("https://me:pw@sde.example.com/?x=1#top", "https://sde.example.com/api/v2/"),
        ("http://[::1]:8000", "http://[::1]:8000/api/v2/"),
    ],
)
def test_url_is_normalised_to_the_api_base(given: str, base: str) -> None:
    assert api_base(given) == base


@pytest.mark.parametrize(
    "given", ["ftp://sde.example.com", "https://", "https:///api/v2", "http://h:99999"]
)
def test_a_url_that_is_not_http_is_bad_input(given: str) -> None:
    with pytest.raises(InputError) as caught:
        api_base(given)
    assert caught.value.exit_code == 2
    assert "--url" in str(caught.value)


@pytest.mark.parametrize("suffix", ["", "/", "/api/v2", "/api/v2/"])
def test_every_url_form_reaches_the_simulator(source_sim: Any, suffix: str) -> None:
    with client_for(source_sim.url + suffix, source_sim.token) as client:
        client.check()
        projects = client.list_projects()
    assert [p.id for p in projects] == [p["id"] for p in source_sim.state.snapshot()["projects"]]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("sde.example.com", False),
        ("localhost.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_token_is_not_sent_over_plain_http_to_another_host() -> None:
    with pytest.raises(InputError) as caught:
        SDEClient(settings("http://sde.example.com"))
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "plain http" in message and "https://" in message and "--allow-http" in message
    assert TOKEN not in message
    # Allowed when the user says so, and always on loopback (no request is sent here).
    SDEClient(settings("http://sde.example.com", allow_http=True)).close()
    for url in ("http://localhost:9", "http://127.0.0.2:9", "http://[::1]:9"):
        SDEClient(settings(url)).close()


@pytest.mark.parametrize("token", ["", "   ", "abc def", "abc\ndef", "tökén-1234"])
def test_a_malformed_token_is_bad_input_and_not_shown(token: str) -> None:
    with pytest.raises(InputError) as caught:
        SDEClient(settings("https://sde.example.com", token=token))
    assert "SDE_TOKEN" in str(caught.value)
    if token.strip():
        assert token not in str(caught.value)


def test_requests_carry_the_token_header_and_a_user_agent(scripted: Scripted) -> None:
    scripted.handler = lambda request, seen: json_answer(200, {"ok": True})
    with client_for(scripted.url, token=f"  Token {TOKEN}\n") as client:
        assert client.get("connectors/alm/1/") == {"ok": True}
    (seen,) = scripted.seen
    assert seen.path == "/api/v2/connectors/alm/1/"
    assert seen.headers["authorization"] == f"Token {TOKEN}"
    assert seen.headers["user-agent"].startswith(f"almmigrate/{__version__}")
    assert seen.headers["accept"] == "application/json"


def test_repr_of_client_and_settings_hide_the_token(scripted: Scripted) -> None:
    with client_for(scripted.url) as client:
        assert TOKEN not in repr(client) and TOKEN not in repr(client.settings)


# ---------------------------------------------------------------- pagination


def test_pagination_yields_every_object_once_in_order(source_sim: Any) -> None:
    expected = [c["id"] for c in source_sim.state.snapshot()["connections"]]
    assert len(expected) > 100
    progress: list[tuple[int, int | None]] = []
    with client_for(source_sim.url, source_sim.token, page_size=7, concurrency=4) as client:
        listed = list(
            client.iter_list("connections/alm/", on_page=lambda d, t: progress.append((d, t)))
        )
        pages = math.ceil(len(expected) / 7)
        assert client.stats.requests == pages
    assert [c["id"] for c in listed] == expected
    assert len(progress) == pages
    assert progress[-1] == (len(expected), len(expected))
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert source_sim.stats.requests == pages


def test_list_helpers_return_models(source_sim: Any) -> None:
    snapshot = source_sim.state.snapshot()
    project = snapshot["connections"][0]["project"]
    with client_for(source_sim.url, source_sim.token, page_size=5) as client:
        connectors = client.list_connectors()
        connections = client.list_connections(project=project, include_last_job=True)
        units = client.list_business_units()
        applications = client.list_applications()
        plugins = client.list_plugins()
        jira = client.get_plugin("jira")
    assert all(isinstance(c, Connector) for c in connectors)
    assert [c.id for c in connectors] == [c["id"] for c in snapshot["connectors"]]
    assert connections and all(isinstance(c, Connection) for c in connections)
    assert {c.project for c in connections} == {project}
    assert [c.id for c in connections] == [
        c["id"] for c in snapshot["connections"] if c["project"] == project
    ]
    assert len(units) == len(snapshot["business_units"])
    assert all(a.business_unit is not None for a in applications)
    assert {"jira", "github", "rally", "trac"} <= set(plugins)
    assert jira.id == "jira" and jira.fields


def _numbered_pages(total: int, per_page: int, url: Callable[[], str]) -> Callable[..., Any]:
    """A handler serving items 1..total in page-numbered pages with absolute next links."""

    def handler(request: Request, seen: Seen) -> Response:
        page = int(seen.query.get("page", "1"))
        start = (page - 1) * per_page
        items = [{"id": i} for i in range(start + 1, min(total, start + per_page) + 1)]
        more = start + per_page < total
        nxt = f"{url()}{seen.path}?page={page + 1}&page_size={per_page}" if more else None
        return json_answer(200, {"count": total, "next": nxt, "previous": None, "results": items})

    return handler


def test_later_pages_are_fetched_concurrently(scripted: Scripted) -> None:
    page_three_arrived = asyncio.Event()
    inner = _numbered_pages(40, 5, lambda: scripted.url)

    async def handler(request: Request, seen: Seen) -> Response:
        page = seen.query.get("page")
        if page == "3":
            page_three_arrived.set()
        if page == "2":
            # Fetched one at a time, page 3 would never arrive while page 2 waits. Fetched
            # together, it comes as soon as a worker runs: WAIT is only for a busy machine,
            # where the old 5 s could pass first.
            try:
                await asyncio.wait_for(page_three_arrived.wait(), WAIT)
            except TimeoutError:
                return json_answer(500, {"detail": "page 2 was not fetched alongside page 3"})
        return inner(request, seen)

    scripted.handler = handler
    # Page 2 is answered within WAIT (its read timeout is longer) and a 500 is not retried.
    options = {"concurrency": 4, "page_size": 5, "timeout": 2 * WAIT, "retries": 0}
    with client_for(scripted.url, **options) as client:
        ids = [item["id"] for item in client.iter_list("things/")]
    assert ids == list(range(1, 41))


def test_pages_in_flight_are_bounded(scripted: Scripted) -> None:
    scripted.handler = _numbered_pages(500, 2, lambda: scripted.url)
    with client_for(scripted.url, concurrency=3, page_size=2) as client:
        items = client.iter_list("things/")
        assert [next(items)["id"] for _ in range(3)] == [1, 2, 3]  # into page 2
        time.sleep(0.3)  # give a runaway prefetch the chance to show itself
        # page 1, then a window of 2 x 3 pages, refilled once when page 2 was taken
        assert len(scripted.seen) <= 1 + 2 * 3 + 1
        items.close()
    assert len(scripted.seen) < 250


def test_cursor_pagination_is_followed_one_page_at_a_time(scripted: Scripted) -> None:
    def handler(request: Request, seen: Seen) -> Response:
        cursor = int(seen.query.get("cursor", "0"))
        items = [{"id": cursor * 10 + i} for i in range(3)]
        nxt = f"{scripted.url}{seen.path}?cursor={cursor + 1}" if cursor < 4 else None
        return json_answer(200, {"count": 15, "next": nxt, "results": items})

    scripted.handler = handler
    with client_for(scripted.url) as client:
        ids = [item["id"] for item in client.iter_list("things/")]
    assert ids == [c * 10 + i for c in range(5) for i in range(3)]
    assert [s.query.get("cursor") for s in scripted.seen] == [None, "1", "2", "3", "4"]


def test_a_next_link_that_repeats_is_an_error_not_an_endless_loop(scripted: Scripted) -> None:
    # A server whose cursor never moves: new objects, but the same next page for ever.
    def handler(request: Request, seen: Seen) -> Response:
        nxt = f"{scripted.url}{seen.path}?cursor=abc"
        return json_answer(200, {"next": nxt, "results": [{"id": len(scripted.seen)}]})

    scripted.handler = handler
    with client_for(scripted.url) as client, pytest.raises(NotAnInstance) as caught:
        list(client.iter_list("connectors/alm/"))
    assert str(caught.value) == broken_list(scripted.url, "gave the same next page twice (page 2)")
    assert caught.value.exit_code == 3
    assert len(scripted.seen) == 2  # the first page and the next one, which names itself again


def broken_list(url: str, why: str) -> str:
    return (
        f"the list at GET {url}/api/v2/connectors/alm/ {why}: its pagination is broken (a "
        "proxy that ignores ?page=, or a server bug), so reading stopped; check --url and "
        "any proxy in between"
    )


def test_a_proxy_that_ignores_the_page_parameter_is_stopped_at_the_first_repeat(
    scripted: Scripted,
) -> None:
    # Page 1 comes back for every ?page=, each time naming page+1 as next, count unknown.
    def handler(request: Request, seen: Seen) -> Response:
        number = int(seen.query.get("page", "1"))
        nxt = f"{scripted.url}{seen.path}?page={number + 1}&page_size=3"
        return json_answer(200, {"next": nxt, "results": [{"id": 1}, {"id": 2}, {"id": 3}]})

    scripted.handler = handler
    with client_for(scripted.url) as client, pytest.raises(NotAnInstance) as caught:
        list(client.iter_list("connectors/alm/"))
    assert str(caught.value) == broken_list(
        scripted.url, "gave the object with id 1 twice (page 2)"
    )
    assert len(scripted.seen) == 2


def test_more_objects_than_the_count_promised_is_an_error(scripted: Scripted) -> None:
    # A proxy ignoring ?page= on a counted list: every planned page is page 1 again, new ids aside.
    def handler(request: Request, seen: Seen) -> Response:
        number = int(seen.query.get("page", "1"))
        nxt = f"{scripted.url}{seen.path}?page={number + 1}&page_size=2"
        ids = [number * 10, number * 10 + 1]
        return json_answer(200, {"count": 4, "next": nxt, "results": [{"id": i} for i in ids]})

    scripted.handler = handler
    with client_for(scripted.url, page_size=2) as client, pytest.raises(NotAnInstance) as caught:
        list(client.iter_list("connectors/alm/"))
    assert str(caught.value) == broken_list(
        scripted.url, "gave 6 objects after saying it held 4 (page 3)"
    )


def test_a_cursor_that_never_ends_stops_at_the_page_budget(scripted: Scripted) -> None:
    # No count, a new cursor and new objects on every page: only a budget can stop it.
    def handler(request: Request, seen: Seen) -> Response:
        cursor = int(seen.query.get("cursor", "0"))
        nxt = f"{scripted.url}{seen.path}?cursor={cursor + 1}"
        return json_answer(200, {"next": nxt, "results": [{"id": cursor}]})

    scripted.handler = handler
    with client_for(scripted.url) as client, pytest.raises(NotAnInstance) as caught:
        client.max_pages = 25
        list(client.iter_list("connectors/alm/"))
    assert str(caught.value) == broken_list(scripted.url, "gave more than 25 pages (25 objects)")
    assert len(scripted.seen) == 26


def test_next_links_to_another_host_stay_on_the_instance(scripted: Scripted) -> None:
    # A proxy may make the server advertise http:// or an internal name: the token must not follow.
    scripted.handler = _numbered_pages(9, 3, lambda: "http://internal.example.com:1")
    with client_for(scripted.url) as client:
        ids = [item["id"] for item in client.iter_list("things/")]
    assert ids == list(range(1, 10))
    assert len(scripted.seen) == 3


def test_a_list_that_grows_while_read_is_followed_to_its_end(scripted: Scripted) -> None:
    inner = _numbered_pages(12, 3, lambda: scripted.url)

    def handler(request: Request, seen: Seen) -> Response:
        answer = inner(request, seen)
        if seen.query.get("page", "1") == "1":  # the first page still says 9
            return json_answer(200, {**_json(answer), "count": 9})
        return answer

    scripted.handler = handler
    with client_for(scripted.url) as client:
        ids = [item["id"] for item in client.iter_list("things/")]
    assert ids == list(range(1, 13))


def _json(response: Response) -> dict[str, Any]:
    import json

    return dict(json.loads(bytes(response.body)))


def test_a_list_endpoint_without_the_list_shape_is_not_an_instance(scripted: Scripted) -> None:
    scripted.handler = lambda request, seen: json_answer(200, {"hello": "world"})
    with client_for(scripted.url) as client, pytest.raises(NotAnInstance) as caught:
        list(client.iter_list("connectors/alm/"))
    assert caught.value.exit_code == 3


# ---------------------------------------------------------------- error shapes


@pytest.mark.parametrize(
    ("status", "body", "kind", "said", "fields"),
    [
        (401, {"detail": "Invalid token."}, AuthenticationFailed, "Invalid token.", {}),
        (
            403,
            {"detail": "You do not have permission."},
            PermissionDenied,
            "You do not have permission.",
            {},
        ),
        (404, {"detail": "Not found."}, NotFound, "Not found.", {}),
        (400, {"error": "Connector is in use"}, ApiValidationError, "Connector is in use", {}),
        (400, {"message": "Bad alias"}, ApiValidationError, "Bad alias", {}),
        (400, ["Project is archived"], ApiValidationError, "Project is archived", {}),
        (
            400,
            {
                "name": ["This field is required."],
                "params": {"alm_method": ['"gopher" is not one of https, http']},
            },
            ApiValidationError,
            "name: This field is required.",
            {
                "name": ["This field is required."],
                "params.alm_method": ['"gopher" is not one of https, http'],
            },
        ),
        (405, {"detail": 'Method "PUT" not allowed.'}, ApiError, 'Method "PUT" not allowed.', {}),
        (500, "Internal Server Error", ServerError, "Internal Server Error", {}),
        (
            500,
            "<html><head><title>Server Error (500)</title></head><body>oops</body></html>",
            ServerError,
            "an HTML page (Server Error (500))",
            {},
        ),
    ],
)
def test_error_shapes_become_typed_errors(
    scripted: Scripted,
    status: int,
    body: Any,
    kind: type[ApiError],
    said: str,
    fields: dict[str, list[str]],
) -> None:
    def handler(request: Request, seen: Seen) -> Response:
        if isinstance(body, str):
            media = "text/html" if body.startswith("<") else "text/plain"
            return Response(body, status_code=status, media_type=media)
        return json_answer(status, body)

    scripted.handler = handler
    with client_for(scripted.url) as client, pytest.raises(ApiError) as caught:
        client.get("connectors/alm/7/", {"page": 2})
    error = caught.value
    assert type(error) is kind
    assert error.status == status
    assert error.method == "GET"
    assert error.url == f"{scripted.url}/api/v2/connectors/alm/7/?page=2"
    assert said in str(error)
    assert error.server_message and said in error.server_message
    assert error.fields == fields
    # A 5xx is tried again (every retry spent), none of the others is.
    assert len(scripted.seen) == (client.settings.retries + 1 if status >= 500 else 1)


def test_401_says_to_check_the_token(scripted: Scripted) -> None:
    scripted.handler = lambda request, seen: json_answer(401, {"detail": "Invalid token."})
    with client_for(scripted.url) as client, pytest.raises(AuthenticationFailed) as caught:
        client.check()
    assert str(caught.value).startswith(
        "the instance refused the token: check SDE_TOKEN or --token"
    )
    assert caught.value.exit_code == 3


def test_wrong_token_on_the_simulator(source_sim: Any) -> None:
    with client_for(source_sim.url, "not-the-token") as client, pytest.raises(AuthenticationFailed):
        client.check()


def test_validation_error_from_the_simulator_carries_fields(source_sim: Any) -> None:
    with client_for(source_sim.url, source_sim.token) as client:
        with pytest.raises(ApiValidationError) as caught:
            client.create_connector({"system": {"id": "jira"}, "params": {}})
        with pytest.raises(NotFound):
            client.update_connector(999999, {"name": "x"})
    assert "name" in caught.value.fields
    assert caught.value.status == 400 and caught.value.method == "POST"


@pytest.mark.parametrize(
    ("status", "body", "media", "what"),
    [
        (200, "<!doctype html><html><title>Welcome</title></html>", "text/html", "an HTML page"),
        (200, "hello", "text/plain", "text that is not JSON"),
        (200, '{"hello": "world"}', "application/json", "did not answer with a list"),
        (404, "<html><title>404</title></html>", "text/html", "answered 404"),
        (405, '{"detail": "no"}', "application/json", "answered 405"),
    ],
)
def test_a_url_that_is_not_sd_elements(
    scripted: Scripted, status: int, body: str, media: str, what: str
) -> None:
    scripted.handler = lambda request, seen: Response(body, status_code=status, media_type=media)
    with client_for(scripted.url) as client, pytest.raises(NotAnInstance) as caught:
        client.check()
    message = str(caught.value)
    assert "does not look like an SD Elements instance" in message
    assert what in message and "--url should be the instance root" in message
    assert caught.value.exit_code == 3


def test_redirects_are_not_followed(scripted: Scripted) -> None:
    scripted.handler = lambda request, seen: Response(
        status_code=302, headers={"location": "https://login.example.com/sso?token=abc"}
    )
    with client_for(scripted.url) as client, pytest.raises(NotAnInstance) as caught:
        client.check()
    assert "redirected to https://login.example.com/sso?token=%2A%2A" in str(caught.value)
    assert "token=abc" not in str(caught.value)
    assert len(scripted.seen) == 1


# ---------------------------------------------------------------- retries


def _sequence(*answers: Callable[[], Response]) -> Callable[[Request, Seen], Response]:
    """Answer with each in turn, then repeat the last one."""
    calls = {"n": 0}

    def handler(request: Request, seen: Seen) -> Response:
        index = min(calls["n"], len(answers) - 1)
        calls["n"] += 1
        return answers[index]()

    return handler


def ok() -> Response:
    return json_answer(200, {"ok": True})


def created() -> Response:
    return json_answer(201, {"id": 42})


def status(code: int, **headers: str) -> Callable[[], Response]:
    return lambda: json_answer(code, {"detail": f"status {code}"}, headers)


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_get_is_retried_on_every_server_error(scripted: Scripted, code: int) -> None:
    scripted.handler = _sequence(status(code), status(code), ok)
    with client_for(scripted.url, retries=3) as client:
        assert client.get("x/") == {"ok": True}
        assert client.stats.snapshot()["retries"] == 2
        assert client.stats.requests == 3 and client.stats.failures == 0
    assert len(scripted.seen) == 3


def test_retries_are_capped(scripted: Scripted) -> None:
    scripted.handler = _sequence(status(503))
    with client_for(scripted.url, retries=2) as client, pytest.raises(ServerError) as caught:
        client.get("x/")
    assert len(scripted.seen) == 3
    assert "gave up after 3 attempts" in str(caught.value)
    assert client.stats.failures == 1 and client.stats.retries == 2


def test_retry_after_in_seconds_is_honoured(scripted: Scripted) -> None:
    scripted.handler = _sequence(status(429, **{"Retry-After": "1"}), ok)
    with client_for(scripted.url) as client:
        assert client.get("x/") == {"ok": True}
        assert client.stats.throttled == 1 and client.stats.retries == 1
    first, second = scripted.seen
    assert second.at - first.at >= 1.0


def test_retry_after_as_an_http_date_is_honoured(scripted: Scripted) -> None:
    when = math.ceil(time.time()) + 1  # 1 to 2 s ahead, on a whole second as HTTP dates are
    wall_to_mono = time.monotonic() - time.time()
    scripted.handler = _sequence(status(503, **{"Retry-After": formatdate(when, usegmt=True)}), ok)
    with client_for(scripted.url) as client:
        assert client.get("x/") == {"ok": True}
    second = scripted.seen[1]
    assert second.at >= when + wall_to_mono - 0.05


def test_retry_after_parsing() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 2.5 ", now) == 2.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("-3", now) == 0.0
    for bad in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(bad, now) is None


def test_a_wait_longer_than_max_wait_gives_up_at_once(scripted: Scripted) -> None:
    scripted.handler = _sequence(status(429, **{"Retry-After": "3600"}))
    with client_for(scripted.url, max_wait=5.0) as client, pytest.raises(RateLimited) as caught:
        client.get("x/")
    assert len(scripted.seen) == 1
    message = str(caught.value)
    assert "lower --rate or --concurrency" in message
    assert "asked to wait 3600 s, more than --max-wait 5 s" in message
    assert caught.value.status == 429


def test_an_instance_that_keeps_failing_is_exit_3_with_the_real_number_of_attempts(
    scripted: Scripted,
) -> None:
    # The first contact too: an instance that answers gets every retry --retries allows.
    scripted.handler = _sequence(status(503))
    with client_for(scripted.url, retries=3) as client, pytest.raises(ServerError) as caught:
        client.check()
    assert len(scripted.seen) == 4
    assert str(caught.value).endswith("(gave up after 4 attempts)")
    assert caught.value.gave_up and caught.value.exit_code == 3


def test_a_wait_longer_than_max_wait_at_first_contact_is_exit_3(scripted: Scripted) -> None:
    scripted.handler = _sequence(status(429, **{"Retry-After": "100000"}))
    with client_for(scripted.url, max_wait=600.0) as client, pytest.raises(RateLimited) as caught:
        client.check()
    assert len(scripted.seen) == 1
    assert str(caught.value).endswith(
        "(not retried; the instance asked to wait 100000 s, more than --max-wait 600 s)"
    )
    assert caught.value.exit_code == 3


def _streamed(status_code: int, size: int, content_type: str = "application/json") -> Response:
    from starlette.responses import StreamingResponse

    async def body() -> Any:
        yield b'{"detail": "'
        chunk = b"x" * 65536
        for _ in range(size // len(chunk)):
            yield chunk
        yield b'"}'

    return StreamingResponse(body(), status_code=status_code, media_type=content_type)


def test_a_huge_error_body_is_read_only_up_to_the_cap(scripted: Scripted) -> None:
    from almmigrate.responses import ERROR_BODY_LIMIT

    scripted.handler = lambda request, seen: _streamed(500, 50 * 1024 * 1024)
    with client_for(scripted.url, retries=0) as client, pytest.raises(ServerError) as caught:
        client.patch("connectors/alm/1/", {"name": "A"})
    assert client.stats.bytes == ERROR_BODY_LIMIT
    assert caught.value.server_message == '{"detail": "' + "x" * 288 + (
        f"... ({ERROR_BODY_LIMIT - 300} more characters)"
    )
    assert len(str(caught.value)) < 600


def test_a_long_error_message_is_cut_once(scripted: Scripted) -> None:
    scripted.handler = lambda request, seen: json_answer(400, {"detail": "y" * 200_000})
    with client_for(scripted.url) as client, pytest.raises(ApiValidationError) as caught:
        client.patch("connectors/alm/1/", {"name": "A"})
    assert caught.value.server_message == "y" * 300 + "... (199700 more characters)"
    assert str(caught.value).count("more characters") == 1


def test_an_answer_bigger_than_any_page_is_refused(
    scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("almmigrate.responses.ANSWER_LIMIT", 1024 * 1024)
    scripted.handler = lambda request, seen: _streamed(200, 3 * 1024 * 1024)
    with client_for(scripted.url) as client, pytest.raises(NotAnInstance) as caught:
        client.get("connectors/alm/")
    assert "answered with more than 1 MB, which was not read" in str(caught.value)
    assert client.stats.bytes == 1024 * 1024


def test_a_create_answered_with_an_html_page_is_an_unknown_outcome(scripted: Scripted) -> None:
    scripted.handler = lambda request, seen: Response(
        "<html><title>Welcome</title></html>", status_code=200, media_type="text/html"
    )
    with client_for(scripted.url, api="alm") as client, pytest.raises(OutcomeUnknown) as caught:
        client.create_connector({"name": "A"})
    assert "answered 200 with an HTML page instead of JSON" in str(caught.value)
    assert len(scripted.seen) == 1  # never re-sent blind


@pytest.mark.parametrize("code", [400, 401, 403, 404])
def test_other_statuses_are_not_retried(scripted: Scripted, code: int) -> None:
    scripted.handler = _sequence(status(code), ok)
    with client_for(scripted.url) as client, pytest.raises(ApiError):
        client.get("x/")
    assert len(scripted.seen) == 1


@pytest.mark.parametrize("first", [status(429, **{"Retry-After": "0"}), status(503)])
def test_a_create_is_retried_when_the_server_certainly_did_not_act(
    scripted: Scripted, first: Callable[[], Response]
) -> None:
    scripted.handler = _sequence(first, created)
    with client_for(scripted.url, api="alm") as client:
        assert client.create_connector({"name": "A"}) == {"id": 42}
    assert [s.method for s in scripted.seen] == ["POST", "POST"]


def test_a_create_answered_500_is_not_sent_again(scripted: Scripted) -> None:
    # The instance may have created the object before failing: never re-sent blind.
    scripted.handler = _sequence(status(500), created)
    with (
        client_for(scripted.url, retries=5, api="alm") as client,
        pytest.raises(ServerError) as caught,
    ):
        client.create_connector({"name": "A"})
    assert len(scripted.seen) == 1
    assert caught.value.status == 500 and not caught.value.gave_up


@pytest.mark.parametrize("code", [502, 504])
def test_a_create_behind_a_failing_gateway_is_an_unknown_outcome(
    scripted: Scripted, code: int
) -> None:
    scripted.handler = _sequence(status(code), created)
    with (
        client_for(scripted.url, retries=5, api="alm") as client,
        pytest.raises(OutcomeUnknown) as caught,
    ):
        client.create_connection({"alias": "A"})
    assert len(scripted.seen) == 1
    assert caught.value.status == code and caught.value.method == "POST"
    assert "may or may not have acted" in str(caught.value)


def test_a_dropped_create_is_never_re_sent(raw_server: Callable[[str], RawServer]) -> None:
    server = raw_server("drop")
    with (
        client_for(server.url, retries=5, api="alm") as client,
        pytest.raises(OutcomeUnknown) as caught,
    ):
        client.create_connector({"name": "A"})
    assert server.requests() == 1
    assert "closed the connection without answering" in str(caught.value)


def test_a_create_that_times_out_is_never_re_sent(raw_server: Callable[[str], RawServer]) -> None:
    server = raw_server("hang")
    with (
        client_for(server.url, retries=5, timeout=0.3) as client,
        pytest.raises(OutcomeUnknown) as caught,
    ):
        client.post("connectors/alm/", {"name": "A"})
    assert server.requests() == 1
    assert "no answer from 127.0.0.1 within 0.3 s" in str(caught.value)


def test_dropped_create_on_the_simulator_is_committed_once(
    make_sim: Any, source_data: dict[str, Any]
) -> None:
    sim = make_sim(source_data, faults=Faults(drop_rate=1.0, seed=1))
    before = len(sim.state.snapshot()["connectors"])
    github = next(c for c in source_data["connectors"] if c["system"] == "github")
    body = {"name": "Dropped once", "system": {"id": "github"}, "params": dict(github["params"])}
    with client_for(sim.url, sim.token, retries=5) as client, pytest.raises(OutcomeUnknown):
        client.create_connector(body)
    after = sim.state.snapshot()["connectors"]
    assert len(after) == before + 1
    assert [c["name"] for c in after].count("Dropped once") == 1


@pytest.mark.parametrize("how", ["patch", "idempotent post", "get"])
def test_idempotent_requests_are_retried_after_a_drop(
    raw_server: Callable[[str], RawServer], how: str
) -> None:
    server = raw_server("drop")
    with client_for(server.url, retries=2) as client, pytest.raises(Unreachable) as caught:
        if how == "patch":
            client.update_connection(3, {"alias": "B"})
        elif how == "idempotent post":
            client.test_connector({"name": "A"})
        else:
            client.get("x/")
    assert server.requests() == 3
    assert "gave up after 3 attempts" in str(caught.value)


def test_a_get_that_times_out_is_retried(raw_server: Callable[[str], RawServer]) -> None:
    server = raw_server("hang")
    with (
        client_for(server.url, retries=1, timeout=0.2) as client,
        pytest.raises(Unreachable) as caught,
    ):
        client.get("x/")
    assert server.requests() == 2
    assert "raise --timeout" in str(caught.value)


# ---------------------------------------------------------------- cannot connect


def test_connection_refused_is_retried_then_unreachable(closed_port: int) -> None:
    port = closed_port
    with (
        client_for(f"http://127.0.0.1:{port}", retries=2) as client,
        pytest.raises(Unreachable) as caught,
    ):
        client.check()
    message = str(caught.value)
    assert message.startswith(f"127.0.0.1:{port} refused the connection: check --url")
    assert caught.value.exit_code == 3
    assert client.stats.requests == 3 and client.stats.retries == 2


def test_a_create_is_retried_when_the_connection_never_opened(closed_port: int) -> None:
    with (
        client_for(f"http://127.0.0.1:{closed_port}", retries=1) as client,
        pytest.raises(Unreachable),
    ):
        client.create_connector({"name": "A"})
    assert client.stats.requests == 2


def test_https_to_a_plain_http_server_is_a_tls_error(scripted: Scripted) -> None:
    url = scripted.url.replace("http://", "https://")
    with client_for(url) as client, pytest.raises(Unreachable) as caught:
        client.check()
    message = str(caught.value)
    assert message.startswith("TLS handshake with 127.0.0.1 failed")
    assert "check the scheme and port in --url" in message
    assert scripted.seen == [] and client.stats.requests == 1  # not retried: it would not help


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_scripted(self_signed: tuple[Path, Path]) -> Iterator[Scripted]:
    cert, key = self_signed
    script = Scripted()
    script.handler = lambda request, seen: json_answer(
        200, {"count": 0, "next": None, "results": []}
    )
    app = _scripted_app(script)
    tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    with LoopbackServer(app, log_level="error", **tls) as server:
        script.url = server.url
        yield script


def test_an_untrusted_certificate_fails_with_a_hint(tls_scripted: Scripted) -> None:
    with client_for(tls_scripted.url) as client, pytest.raises(Unreachable) as caught:
        client.check()
    message = str(caught.value)
    assert message.startswith("TLS verification failed for 127.0.0.1")
    assert "--ca-bundle FILE" in message and "--insecure" in message
    assert tls_scripted.seen == []


def test_ca_bundle_and_insecure_let_the_client_in(
    tls_scripted: Scripted, self_signed: tuple[Path, Path]
) -> None:
    cert, _ = self_signed
    with client_for(tls_scripted.url, verify=str(cert)) as client:
        client.check()
    with client_for(tls_scripted.url, verify=False) as client:
        client.check()
    assert len(tls_scripted.seen) == 2


def test_an_unreadable_ca_bundle_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bundle.pem"
    bad.write_text("not a certificate")
    with pytest.raises(InputError) as caught:
        SDEClient(settings("https://sde.example.com", verify=str(bad)))
    assert "cannot use the CA bundle" in str(caught.value)


def _failing_transport(error: Exception) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        raise error

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            "cannot find the host sde.example.com: check --url",
        ),
        (httpx.ConnectTimeout("timed out"), "no answer from sde.example.com:443 within 5 s"),
        (httpx.ConnectError("Network is unreachable"), "cannot connect to sde.example.com:443"),
    ],
)
def test_messages_for_what_no_local_server_can_produce(error: Exception, expected: str) -> None:
    # DNS failures and connect timeouts need the outside world: a mock transport stands in.
    client = SDEClient(
        settings("https://sde.example.com", retries=1, timeout=5.0),
        transport=_failing_transport(error),
        backoff=0.01,
    )
    with client, pytest.raises(Unreachable) as caught:
        client.check()
    assert str(caught.value).startswith(expected)
    assert client.stats.requests == 2  # connect failures are retried


# ---------------------------------------------------------------- rate limit and 429s


def test_a_connection_is_never_handed_from_one_thread_to_another(kept_alive: Scripted) -> None:
    # httpcore's pool, shared by threads, could close a connection under a request another
    # thread had just begun on it ([Errno 9] Bad file descriptor, or a read waiting out its
    # timeout): one in 6 exports of a fresh simulator hit it. Each thread has its own pool.
    used: list[tuple[str, int]] = []

    def handler(request: Request, seen: Seen) -> Response:
        assert request.client is not None
        used.append((seen.query["by"], request.client.port))
        return ok()

    kept_alive.handler = handler
    with client_for(kept_alive.url) as client:
        client.get("x/", {"by": "main"})
        worker = threading.Thread(target=client.get, args=("x/", {"by": "worker"}))
        worker.start()
        finish(worker)
        client.get("x/", {"by": "main"})
    ports = {by: {port for who, port in used if who == by} for by in ("main", "worker")}
    assert len(ports["main"]) == 1  # kept alive for its own thread's next request
    assert len(ports["worker"]) == 1 and ports["main"].isdisjoint(ports["worker"])


def test_a_thread_after_another_has_ended_goes_on_with_its_connection(
    kept_alive: Scripted,
) -> None:
    # Each stage of a run has its own worker threads: a new connection (a TLS handshake)
    # for each of them would be wasted when the last stage's threads are gone.
    ports: list[int] = []

    def handler(request: Request, seen: Seen) -> Response:
        assert request.client is not None
        ports.append(request.client.port)
        return ok()

    kept_alive.handler = handler
    with client_for(kept_alive.url) as client:
        for _ in range(3):
            worker = threading.Thread(target=client.get, args=("x/",))
            worker.start()
            finish(worker)
    assert len(ports) == 3 and len(set(ports)) == 1


def test_the_rate_limit_is_shared_by_every_worker(source_sim: Any) -> None:
    # On a stopped clock (tests/clocks.py): on the real one a worker that took its slot
    # a few microseconds late failed a bound on the span (0.759996 s instead of 0.76).
    rate, workers, each = 25.0, 4, 5
    with client_for(source_sim.url, source_sim.token, rate=rate) as built:
        assert built.limiter.rate == rate and built.limiter.controller is None  # --rate 25
    clock = StoppedClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    shown = settings(source_sim.url, source_sim.token, rate=rate, concurrency=workers)
    with SDEClient(shown, limiter=limiter, backoff=0.01) as client:
        threads = [
            threading.Thread(target=lambda: [client.get("business-units/") for _ in range(each)])
            for _ in range(workers)
        ]
        for thread in threads:
            thread.start()
        finish(*threads)
        assert client.stats.requests == workers * each
    assert source_sim.stats.requests == workers * each
    granted = workers * each
    assert limiter.stats().granted == granted
    # One schedule for every worker: each slot after the first, one interval apart,
    # waited for exactly once (two workers in one slot, or a worker of its own, show here).
    assert sorted(clock.sleeps) == pytest.approx([k / rate for k in range(1, granted)])


def test_a_429_pauses_every_worker(scripted: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    throttled_at: list[float] = []

    def handler(request: Request, seen: Seen) -> Response:
        if seen.path.endswith("/slow/") and not throttled_at:
            throttled_at.append(seen.at)
            return json_answer(429, {"detail": "Request was throttled."}, {"Retry-After": "1"})
        return ok()

    scripted.handler = handler
    with client_for(scripted.url, concurrency=2) as client:
        paused = threading.Event()
        pause_until = client.limiter.pause_until

        def pause_then_say_so(deadline: float) -> None:
            pause_until(deadline)
            paused.set()

        monkeypatch.setattr(client.limiter, "pause_until", pause_then_say_so)
        worker = threading.Thread(target=client.get, args=("slow/",))
        worker.start()
        # However long the first worker takes to get its 429 (the old 10 s deadline could
        # pass on a loaded machine, and "other" then went unpaused and failed the test).
        assert paused.wait(WAIT), "the 429 never paused the limiter"
        # Another worker, which never saw the 429, must wait for the Retry-After too.
        assert client.get("other/") == {"ok": True}
        finish(worker)
        assert client.stats.throttled == 1
    other = next(s for s in scripted.seen if s.path.endswith("/other/"))
    assert other.at >= throttled_at[0] + 1.0
    assert [s.path for s in scripted.seen].count("/api/v2/slow/") == 2


def test_listing_through_a_rate_limited_simulator(
    make_sim: Any, source_data: dict[str, Any]
) -> None:
    sim = make_sim(source_data, faults=Faults(rate_limit=40, seed=3))
    expected = [c["id"] for c in source_data["connections"]]
    with client_for(sim.url, sim.token, page_size=5, concurrency=4, retries=8) as client:
        ids = [c["id"] for c in client.iter_list("connections/alm/")]
        stats = client.stats.snapshot()
    assert ids == expected
    assert stats["throttled"] == sim.stats.throttled
    assert stats["requests"] == sim.stats.requests
    assert stats["retries"] == stats["throttled"]


def test_retry_after_dates_from_the_simulator(make_sim: Any, source_data: dict[str, Any]) -> None:
    sim = make_sim(source_data, faults=Faults(rate_limit=5, retry_after_date=True))
    with client_for(sim.url, sim.token, concurrency=4, retries=10) as client:
        threads = [
            threading.Thread(target=lambda: [client.get("business-units/") for _ in range(4)])
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        finish(*threads)
        stats = client.stats.snapshot()
    assert sim.stats.throttled > 0
    assert stats["throttled"] == sim.stats.throttled
    assert stats["requests"] - stats["throttled"] == 16  # every call got through
    assert stats["failures"] == 0


def test_stats_snapshot(source_sim: Any) -> None:
    with client_for(source_sim.url, source_sim.token, api="alm") as client:
        client.check()
        snapshot = client.stats.snapshot()
    assert set(snapshot) == {
        "requests",
        "retries",
        "throttled",
        "failures",
        "bytes",
        "elapsed",
        "rate",
    }
    assert snapshot["requests"] == 1 and snapshot["bytes"] > 0 and snapshot["failures"] == 0


# ---------------------------------------------------------------- no token anywhere


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def client_log() -> Iterator[ListHandler]:
    """Records of the "almmigrate.client" logger (the CLI may have stopped propagation)."""
    logger = logging.getLogger("almmigrate.client")
    handler, level = ListHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_no_message_or_log_line_contains_the_token(
    scripted: Scripted,
    raw_server: Callable[[str], RawServer],
    client_log: ListHandler,
    closed_port: int,
) -> None:
    # A hostile or careless server echoes the token back; it must not reach the user.
    def echo(code: int) -> Callable[[Request, Seen], Response]:
        return lambda request, seen: json_answer(
            code, {"detail": f"bad header {seen.headers.get('authorization')}", TOKEN: [TOKEN]}
        )

    messages: list[str] = []
    for code in (400, 401, 403, 404, 500):
        scripted.handler = echo(code)
        with client_for(scripted.url, retries=0) as client, pytest.raises(ApiError) as caught:
            client.get(f"x/?token={TOKEN}")
        messages += [
            str(caught.value),
            repr(caught.value),
            str(caught.value.url),
            str(caught.value.server_message),
        ]
    scripted.handler = lambda request, seen: Response(
        f"<html><title>{TOKEN}</title></html>", media_type="text/html"
    )
    failing: list[Callable[[], Any]] = [
        lambda: client_for(scripted.url).check(),
        lambda: client_for(scripted.url.replace("http:", "https:")).check(),
        lambda: client_for(f"http://127.0.0.1:{closed_port}", retries=0).check(),
        lambda: client_for(raw_server("drop").url).create_connector({"name": "A"}),
    ]
    for call in failing:
        with pytest.raises((ConnectionProblem, OutcomeUnknown)) as caught_problem:
            call()
        messages.append(str(caught_problem.value))
    # httpx's own log lines are scrubbed by the CLI's log filter (see test_cli_errors).
    logged = [r.getMessage() for r in client_log.records]
    assert any(" -> 401 " in line for line in logged)
    assert TOKEN not in "\n".join(messages + logged)


def test_check_gives_up_quickly_on_a_wrong_address(closed_port: int) -> None:
    # A first contact that fails is most often a typo in --url: fail in seconds, not minutes.
    with client_for(f"http://127.0.0.1:{closed_port}", retries=5) as client:
        with pytest.raises(Unreachable):
            client.check()
        assert client.stats.requests == 3
        with pytest.raises(Unreachable):
            client.get("connectors/alm/")  # later requests get every retry
        assert client.stats.requests == 3 + 6


def test_a_server_that_caps_page_size_is_still_read_to_the_end(scripted: Scripted) -> None:
    inner = _numbered_pages(23, 3, lambda: scripted.url)

    def handler(request: Request, seen: Seen) -> Response:
        body = _json(inner(request, seen))
        if body["next"]:  # the link keeps the page_size we asked for, as DRF does
            body["next"] = body["next"].replace("page_size=3", "page_size=5")
        return json_answer(200, body)

    scripted.handler = handler
    with client_for(scripted.url, page_size=5) as client:
        ids = [item["id"] for item in client.iter_list("things/")]
    assert ids == list(range(1, 24))
    assert len(scripted.seen) == 8


def test_a_list_that_shrinks_while_read_ends_without_error(scripted: Scripted) -> None:
    inner = _numbered_pages(30, 5, lambda: scripted.url)

    def handler(request: Request, seen: Seen) -> Response:
        if int(seen.query.get("page", "1")) > 4:
            return json_answer(404, {"detail": "Invalid page."})
        return inner(request, seen)

    scripted.handler = handler
    with client_for(scripted.url, page_size=5) as client:
        ids = [item["id"] for item in client.iter_list("things/")]
    assert ids == list(range(1, 21))
