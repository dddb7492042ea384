"""The simulator's HTTP API: a Starlette app over a :class:`SimStore`.

Routes, token authentication, pagination and DRF-shaped error bodies; the
store holds the data and the rules.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from almmigrate.generation import (
    ALM_GENERATION,
    ALM_PLUGINS,
    APPLICATIONS_PATH,
    BUSINESS_UNITS_PATH,
    ISSUE_TRACKER_GENERATION,
    PROJECTS_PATH,
)
from almmigrate.sim.store import SimStore, SimValidationError
from almmigrate.sim.translate import read_only_problems

API = "/api/v2"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _not_allowed(request: Request, allowed: list[str]) -> JSONResponse:
    return _error(
        405,
        f'Method "{request.method}" not allowed.',
        {"Allow": ", ".join([*allowed, "HEAD", "OPTIONS"] if "GET" in allowed else allowed)},
    )


class SimApi:
    """Endpoint handlers bound to one store and one token."""

    def __init__(self, store: SimStore, token: str) -> None:
        self.store = store
        self.token = token

    # ------------------------------------------------------------ plumbing

    def _auth_problem(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "token" or not value.strip():
            return _error(
                401,
                "Authentication credentials were not provided.",
                {"WWW-Authenticate": "Token"},
            )
        # The API reference writes the header with quotes; accept both spellings.
        if value.strip().strip('"') != self.token:
            return _error(401, "Invalid token.", {"WWW-Authenticate": "Token"})
        return None

    def endpoint(self, methods: dict[str, Callable[..., Awaitable[Response]]]) -> Handler:
        """One route: authenticate, dispatch on method (405 otherwise), map store errors."""

        async def handle(request: Request) -> Response:
            problem = self._auth_problem(request)
            if problem is not None:
                return problem
            method = "GET" if request.method == "HEAD" else request.method
            func = methods.get(method)
            if func is None:
                return _not_allowed(request, list(methods))
            try:
                return await func(request, **request.path_params)
            except SimValidationError as error:
                return JSONResponse(error.errors, status_code=400)
            except _BadJson as error:
                return _error(400, f"JSON parse error - {error}")

        return handle

    # ------------------------------------------------------------ lists and objects

    def list_of(
        self, kind: str, filters: tuple[str, ...] = ()
    ) -> Callable[..., Awaitable[Response]]:
        async def listing(request: Request) -> Response:
            page, size = _paging(request)
            wanted = {f: request.query_params[f] for f in filters if f in request.query_params}
            include = "last_job" in request.query_params.get("include", "").split(",")
            count, results = self.store.page(kind, (page - 1) * size, size, wanted, include)
            if page > 1 and not results:
                return _error(404, "Invalid page.")
            return JSONResponse(_paginated(request, page, size, count, results))

        return listing

    def one_of(self, kind: str) -> Callable[..., Awaitable[Response]]:
        async def detail(request: Request, ident: int) -> Response:
            include = "last_job" in request.query_params.get("include", "").split(",")
            found = self.store.get(kind, ident, include)
            return JSONResponse(found) if found is not None else _error(404, "Not found.")

        return detail

    def create(self, func: Callable[[Any], dict[str, Any]]) -> Callable[..., Awaitable[Response]]:
        async def creating(request: Request) -> Response:
            body = await _json_body(request)
            refused = self._read_only(body)
            if refused is not None:
                return refused
            return JSONResponse(func(body), status_code=201)

        return creating

    def update(
        self, func: Callable[[int, Any], dict[str, Any] | None]
    ) -> Callable[..., Awaitable[Response]]:
        async def updating(request: Request, ident: int) -> Response:
            body = await _json_body(request)
            refused = self._read_only(body)
            if refused is not None:
                return refused
            updated = func(ident, body)
            return JSONResponse(updated) if updated is not None else _error(404, "Not found.")

        return updating

    def _read_only(self, body: Any) -> Response | None:
        """An Issue Tracker instance refuses params only it writes (last_successful_run)."""
        if self.store.generation is not ISSUE_TRACKER_GENERATION:
            return None
        problems = read_only_problems(body)
        return JSONResponse(problems, status_code=400) if problems is not None else None

    def action(self, func: Callable[[Any], dict[str, Any]]) -> Callable[..., Awaitable[Response]]:
        async def acting(request: Request) -> Response:
            return JSONResponse(func(await _json_body(request)))

        return acting

    async def plugins(self, request: Request) -> Response:
        page, size = _paging(request)
        every = self.store.plugin_list()
        results = every[(page - 1) * size : page * size]
        if page > 1 and not results:
            return _error(404, "Invalid page.")
        return JSONResponse(_paginated(request, page, size, len(every), results))

    async def plugin(self, request: Request, system: str) -> Response:
        found = self.store.plugins.get(system)
        return JSONResponse(found.to_api()) if found is not None else _error(404, "Not found.")

    # ------------------------------------------------------------ routes

    def routes(self) -> list[Route]:
        store = self.store
        gen = store.generation
        table: list[tuple[str, dict[str, Callable[..., Awaitable[Response]]]]] = [
            (
                "/" + gen.connectors,
                {"GET": self.list_of("connectors"), "POST": self.create(store.create_connector)},
            ),
            (
                "/" + gen.connectors + "{ident:int}/",
                {"GET": self.one_of("connectors"), "PATCH": self.update(store.update_connector)},
            ),
            (
                "/" + gen.connections,
                {
                    "GET": self.list_of("connections", ("project",)),
                    "POST": self.create(store.create_connection),
                },
            ),
            (
                "/" + gen.connections + "{ident:int}/",
                {"GET": self.one_of("connections"), "PATCH": self.update(store.update_connection)},
            ),
        ]
        if gen is ALM_GENERATION:
            # Where the newer generation serves schemas and tests is not known: an Issue
            # Tracker simulator serves neither, the harder case for the tool.
            table += [
                ("/" + gen.test_connector, {"POST": self.action(store.test_connector)}),
                ("/" + gen.test_connection, {"POST": self.action(store.test_connection)}),
                ("/" + ALM_PLUGINS, {"GET": self.plugins}),
                ("/" + ALM_PLUGINS + "{system}/", {"GET": self.plugin}),
            ]
        table += [
            ("/" + PROJECTS_PATH, {"GET": self.list_of("projects", ("application",))}),
            ("/" + PROJECTS_PATH + "{ident:int}/", {"GET": self.one_of("projects")}),
            (
                "/" + APPLICATIONS_PATH,
                {"GET": self.list_of("applications", ("business_unit",))},
            ),
            ("/" + APPLICATIONS_PATH + "{ident:int}/", {"GET": self.one_of("applications")}),
            ("/" + BUSINESS_UNITS_PATH, {"GET": self.list_of("business_units")}),
            ("/" + BUSINESS_UNITS_PATH + "{ident:int}/", {"GET": self.one_of("business_units")}),
        ]
        return [
            Route(API + path, self.endpoint(methods), methods=ALL_METHODS)
            for path, methods in table
        ]


class _BadJson(Exception):
    pass


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _BadJson(str(error)) from None


def _paging(request: Request) -> tuple[int, int]:
    """page (from 1) and page_size (default 25, at most 1000) of a list request."""
    try:
        page = int(request.query_params.get("page", "1"))
    except ValueError:
        page = 0
    if page < 1:
        raise HTTPException(404, "Invalid page.")
    try:
        size = int(request.query_params.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        size = DEFAULT_PAGE_SIZE
    if size < 1:
        size = DEFAULT_PAGE_SIZE
    return page, min(size, MAX_PAGE_SIZE)


def _paginated(
    request: Request, page: int, size: int, count: int, results: list[dict[str, Any]]
) -> dict[str, Any]:
    def link(number: int) -> str:
        return str(request.url.include_query_params(page=number))

    return {
        "count": count,
        "next": link(page + 1) if page * size < count else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": results,
    }


async def _http_error(request: Request, error: Exception) -> Response:
    """Starlette's own errors (unknown path, bad page) in DRF's shape."""
    status = getattr(error, "status_code", 500)
    detail = str(getattr(error, "detail", "") or "Error.")
    if status == 404 and detail != "Invalid page.":
        detail = "Not found."
    return _error(status, detail)


def create_app(store: SimStore, token: str) -> Starlette:
    """The ASGI app of one simulated instance (without the fault layer)."""
    api = SimApi(store, token)
    return Starlette(routes=api.routes(), exception_handlers={HTTPException: _http_error})
