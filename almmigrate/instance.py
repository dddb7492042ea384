"""Reading an instance: open a client, check it, fetch what it holds.

Every command that reads an instance goes through here:

- :func:`read_instance` (settings -> :class:`~almmigrate.dataset.Snapshot`): plan,
  validate --url, verify, map-projects, migrate's source, the demo, the pandas interface;
- :func:`read_shaped` (through :func:`with_client`): export, which turns each
  connection into a file record as its page arrives (memory stays flat on 50,000
  connections);
- :func:`fetch_snapshot` for a client kept open to write afterwards (import, migrate).

A client is checked (reachable, token accepted, really SD Elements: see
:meth:`~almmigrate.client.SDEClient.check`) before anything is read; the check
is asked once per client, so checking again costs no request. :class:`Client`
is what the library needs of a client, wherever one is passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from almmigrate.dataset import CONNECTIONS, CONNECTORS, PROJECTS, Snapshot
from almmigrate.errors import InputError
from almmigrate.generation import ALM_GENERATION, Generation
from almmigrate.models import Application, BusinessUnit, Connection, Connector, Project
from almmigrate.schema import Plugin, bundled_plugins
from almmigrate.secrets import one_run, redact_url, worker_pool
from almmigrate.settings import ConnectionSettings
from almmigrate.vocabulary import translate_plugins

if TYPE_CHECKING:
    from almmigrate.client import RequestStats
    from almmigrate.ratecontrol import RateStatus

# Reading is the client talking to an instance: `-v` shows it under the client's name.
log = logging.getLogger("almmigrate.client")

_T = TypeVar("_T")
_Shaped = TypeVar("_Shaped")

# on_progress(what, objects read so far, total or None while unknown)
ProgressCallback = Callable[[str, int, int | None], None]


class Client(Protocol):
    """What the library needs of :class:`almmigrate.client.SDEClient` (tests pass stand-ins)."""

    settings: ConnectionSettings
    stats: RequestStats
    base: str  # the normalised API address: the run lock's key

    @property
    def generation(self) -> Generation: ...
    @property
    def workers(self) -> int: ...
    def check(self) -> Generation: ...
    def rate_status(self) -> RateStatus | None: ...
    def writes_sent(self) -> int: ...
    def iter_list(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        on_page: Callable[[int, int | None], None] | None = None,
    ) -> Iterator[dict[str, Any]]: ...
    def iter_objects(
        self,
        path: str,
        parse: Callable[[dict[str, Any]], _T],
        params: Mapping[str, Any] | None = None,
        *,
        on_page: Callable[[int, int | None], None] | None = None,
    ) -> Iterator[_T]: ...
    def list_plugins(self) -> dict[str, Plugin]: ...
    def list_connectors(self) -> list[Connector]: ...
    def list_connections(
        self, project: int | None = None, include_last_job: bool = False
    ) -> list[Connection]: ...
    def create_connector(self, body: Mapping[str, Any]) -> dict[str, Any]: ...
    def update_connector(self, connector_id: int, body: Mapping[str, Any]) -> dict[str, Any]: ...
    def create_connection(self, body: Mapping[str, Any]) -> dict[str, Any]: ...
    def update_connection(self, connection_id: int, body: Mapping[str, Any]) -> dict[str, Any]: ...
    def test_connector(self, body: Mapping[str, Any]) -> dict[str, Any]: ...
    def test_connection(self, body: Mapping[str, Any]) -> dict[str, Any]: ...


# ---------------------------------------------------------------- from settings


@one_run
def read_instance(
    settings: ConnectionSettings,
    *,
    only: str | None = None,
    projects: Iterable[int] | None = None,
    with_last_job: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Snapshot:
    """Open a client on `settings`, check it and read what the instance holds.

    only, projects, with_last_job, on_progress: as :func:`fetch_snapshot`.
    Raises ConnectionProblem when the instance cannot be reached or is not
    SD Elements, InputError for a bad URL or token, or a project it lacks.
    """
    return with_client(
        settings,
        lambda client: fetch_snapshot(
            client,
            only=only,
            projects=projects,
            with_last_job=with_last_job,
            on_progress=on_progress,
        ),
    )


def with_client(settings: ConnectionSettings, read: Callable[[Client], _T]) -> _T:
    """read(client) on a client opened on `settings`, closed afterwards.

    export: `with_client(settings, lambda client: read_shaped(client, shape, ...))`.
    """
    from almmigrate.client import SDEClient  # the network layer, only when reading

    with SDEClient(settings) as client:
        return read(client)


@dataclass
class ShapedRead(Generic[_Shaped]):
    """An instance read by :func:`read_shaped`: its connections already shaped."""

    snapshot: Snapshot  # everything but the connections (connections empty)
    connections: list[_Shaped]
    requests: int | None  # requests the read took (None: the client does not count)


_MAX_WAITING = 5_000


def read_shaped(
    client: Client,
    shape: Callable[[Snapshot], Callable[[Connection], _Shaped]],
    *,
    only: str | None = None,
    projects: list[int] | None = None,
    with_last_job: bool = False,
    on_progress: ProgressCallback | None = None,
) -> ShapedRead[_Shaped]:
    """Check the client and read its instance, each connection shaped by shape(context) as its page arrives.

    Holding only shaped connections rather than every Connection as the API
    returned it keeps memory flat on large instances (export). With `projects`,
    their ids are checked against the instance before any connection is read;
    otherwise the connection pages (the long part) start while the small lists load.
    """
    client.check()
    wanted = projects or []
    connections: list[_Shaped] = []
    if wanted or not needs_connections(only, wanted):
        snapshot = read_context(client, only=only, projects=wanted, on_progress=on_progress)
        if needs_connections(only, wanted):
            one = shape(snapshot)
            found = iter_connections(
                client, projects=wanted, with_last_job=with_last_job, on_progress=on_progress
            )
            connections = [one(c) for c in found]
    else:
        with worker_pool(1, thread_name_prefix="almmigrate-context") as pool:
            context = pool.submit(read_context, client, only=only, on_progress=on_progress)
            found = iter_connections(client, with_last_job=with_last_job, on_progress=on_progress)
            connections = _shape_alongside(context, found, shape)
        snapshot = context.result()
    return ShapedRead(snapshot, connections, _request_count(client))


def _shape_alongside(
    context: Future[Snapshot],
    found: Iterator[Connection],
    shape: Callable[[Snapshot], Callable[[Connection], _Shaped]],
) -> list[_Shaped]:
    """Shape connections as they arrive; those that come before the context is read wait.

    At most _MAX_WAITING wait (as the API returned them, the heavy form); then the
    connection pages pause until the context is there, so memory stays bounded.
    """
    waiting: list[Connection] = []
    records: list[_Shaped] = []
    one: Callable[[Connection], _Shaped] | None = None
    try:
        for connection in found:
            if one is None and not context.done() and len(waiting) < _MAX_WAITING:
                waiting.append(connection)
                continue
            if one is None:
                one = shape(context.result())
                records.extend(one(c) for c in waiting)
                waiting.clear()
            records.append(one(connection))
    finally:
        close = getattr(found, "close", None)
        if close is not None:
            close()  # stop fetching pages when the context failed
    if one is None:
        one = shape(context.result())
        records.extend(one(c) for c in waiting)
    return records


# ---------------------------------------------------------------- from a client


def fetch_snapshot(
    client: Client,
    *,
    only: str | None = None,
    projects: Iterable[int] | None = None,
    with_last_job: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Snapshot:
    """Check the client, then read what its instance holds.

    only: "connectors" skips connections (and projects unless `projects` is given);
        "connections" still reads connectors, which a connection's own params and
        connector name are computed from; "projects" reads only the project tree
        (projects, applications, business units).
    projects: project ids; connections and projects are limited to them. An id the
        instance does not have raises InputError before any connection is read.
    with_last_job: read connections with `include=last_job`.
    on_progress: called as pages arrive, with (what, objects so far, total or None).
    """
    client.check()
    wanted = unique_ids(projects)
    snapshot = read_context(client, only=only, projects=wanted, on_progress=on_progress)
    if only != PROJECTS and needs_connections(only, wanted):
        snapshot.connections = list(
            iter_connections(
                client, projects=wanted, with_last_job=with_last_job, on_progress=on_progress
            )
        )
    return snapshot


def needs_connections(only: str | None, projects: list[int]) -> bool:
    """Connections are read unless only connectors are wanted from the whole instance."""
    return only != CONNECTORS or bool(projects)


def read_context(
    client: Client,
    *,
    only: str | None = None,
    projects: list[int] | None = None,
    on_progress: ProgressCallback | None = None,
) -> Snapshot:
    """Everything but the connections: connectors, plugins and the project tree.

    The lists are read at the same time (the client's pool bounds the requests
    in flight), so their first pages do not queue up one behind another.
    only="projects": the project tree alone.
    """
    wanted = projects or []
    readers: dict[str, Callable[[], Any]] = {}
    if only != PROJECTS:
        readers["connectors"] = lambda: list(
            _read(client, CONNECTORS, Connector.from_api, on_progress)
        )
        # No fallback when the instance refuses: its schema says which fields are secret.
        readers["plugins"] = client.list_plugins
    if needs_connections(only, wanted):
        readers["business units"] = lambda: list(
            _read(client, "business units", BusinessUnit.from_api, on_progress)
        )
        readers["applications"] = lambda: list(
            _read(client, "applications", Application.from_api, on_progress)
        )
        readers["projects"] = lambda: list(_read(client, PROJECTS, Project.from_api, on_progress))
    with worker_pool(len(readers), thread_name_prefix="almmigrate-export") as pool:
        futures = {what: pool.submit(read) for what, read in readers.items()}
        found = {what: future.result() for what, future in futures.items()}
    gen = client_generation(client)
    snapshot = Snapshot(
        connectors=found.get("connectors", []),
        projects=found.get("projects", []),
        applications=found.get("applications", []),
        business_units=found.get("business units", []),
        url=_client_url(client),
        api=gen.api,
    )
    if "plugins" in found:
        systems = {c.system for c in snapshot.connectors}
        snapshot.plugins = _with_bundled(found["plugins"], systems, gen)
    if wanted:
        snapshot.projects = _only_projects(snapshot.projects, wanted, snapshot.url)
    return snapshot


def iter_connections(
    client: Client,
    *,
    projects: list[int] | None = None,
    with_last_job: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Iterator[Connection]:
    """Connections as their pages arrive: of the given projects, or all of them."""
    params: dict[str, Any] = {"include": "last_job"} if with_last_job else {}
    for scope in [{"project": p} for p in projects] if projects else [{}]:
        yield from _read(client, CONNECTIONS, Connection.from_api, on_progress, {**params, **scope})


def _read(
    client: Client,
    what: str,
    parse: Callable[[dict[str, Any]], _T],
    on_progress: ProgressCallback | None,
    params: Mapping[str, Any] | None = None,
) -> Iterator[_T]:
    """Every object of one list endpoint as a model, reporting progress as pages arrive."""

    def on_page(done: int, total: int | None) -> None:
        if on_progress is not None:
            on_progress(what, done, total)

    log.debug("reading %s", what)
    path = client_generation(client).list_path(what)
    return client.iter_objects(path, parse, dict(params or {}), on_page=on_page)


def unique_ids(projects: Iterable[int] | None) -> list[int]:
    """Project ids in the order given, each once."""
    return list(dict.fromkeys(int(p) for p in projects or ()))


def _only_projects(found: list[Project], wanted: list[int], url: str) -> list[Project]:
    by_id = {p.id: p for p in found}
    missing = [p for p in wanted if p not in by_id]
    if missing:
        ids = ", ".join(str(p) for p in missing)
        noun = "project" if len(missing) == 1 else "projects"
        raise InputError(f"no {noun} with id {ids} on {url or 'the instance'} (see --project)")
    return [by_id[p] for p in wanted]


def plugins_of(client: Client) -> dict[str, Plugin]:
    """The instance's plugin schemas; the bundled ones, in its names, for every system it lacks."""
    plugins = translate_plugins(bundled_plugins(), client_generation(client))
    plugins.update(client.list_plugins())
    return plugins


def client_generation(client: Client) -> Generation:
    """The generation a client's instance serves (a stand-in without one speaks ALM)."""
    found = getattr(client, "generation", None)
    return found if isinstance(found, Generation) else ALM_GENERATION


def _with_bundled(
    plugins: Mapping[str, Plugin], systems: set[str], gen: Generation
) -> dict[str, Plugin]:
    """The instance's plugin schemas, plus bundled ones (in its names) for systems it does not list."""
    found = dict(plugins)
    bundled = translate_plugins(bundled_plugins(), gen)
    for system in sorted(s for s in systems if s and s not in found):
        if system in bundled:
            log.info("the instance lists no plugin %r: using the bundled schema", system)
            found[system] = bundled[system]
    return found


def _client_url(client: Client) -> str:
    settings = getattr(client, "settings", None)
    url = getattr(settings, "url", "") if settings is not None else ""
    return redact_url(url) if url else ""


def _request_count(client: Client) -> int | None:
    stats = getattr(client, "stats", None)
    count = getattr(stats, "requests", None)
    return count if isinstance(count, int) else None
