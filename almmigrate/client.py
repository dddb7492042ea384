"""The SD Elements API client: httpx, pagination, retries, a shared rate limit, typed errors.

Every command talks to an instance through :class:`SDEClient`. It is safe to
share between threads: each thread sends through its own connection pool
(:mod:`almmigrate.perthread`: httpcore's, shared, can close a connection under another
thread's request), one :class:`~almmigrate.ratelimit.RateLimiter` that every worker
goes through, and thread-safe :class:`RequestStats`.

Retries (tenacity): 429, any 5xx, connect errors and read timeouts, with
exponential backoff and jitter, `Retry-After` honoured (seconds or HTTP date),
capped by `settings.retries` attempts and `settings.max_wait` seconds of
waiting. A POST (create) is retried only when the server certainly did not act
(429, 503, a connection that never opened); otherwise it raises
:class:`~almmigrate.errors.OutcomeUnknown` (502, 504, no answer) or fails (500),
and is never re-sent blind.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from almmigrate import __version__
from almmigrate.discovery import Discovery
from almmigrate.errors import (
    ApiError,
    InputError,
    NotAnInstance,
    NotFound,
    Unreachable,
)
from almmigrate.generation import (
    API_PATH,
    APPLICATIONS_PATH,
    BUSINESS_UNITS_PATH,
    PROJECTS_PATH,
    ROOT_HINT,
    Generation,
    api_base,
    generation,
    is_loopback,
)
from almmigrate.models import Application, BusinessUnit, Connection, Connector, Project
from almmigrate.pages import MAX_PAGES, ListGuard, Page, planned_pages
from almmigrate.perthread import PerThread
from almmigrate.ratecontrol import MAX_IN_FLIGHT, AdaptiveRate, RateStatus
from almmigrate.ratelimit import RateLimiter
from almmigrate.requeststats import RequestStats
from almmigrate.responses import (
    Attempt,
    Retryable,
    decode,
    parse_retry_after,
    read_capped,
    status_error,
    too_large,
    transport_error,
)
from almmigrate.schema import Plugin
from almmigrate.secrets import redact_url, scrub, worker_pool
from almmigrate.settings import ConnectionSettings, sent_token, tls_verify

logger = logging.getLogger("almmigrate.client")

USER_AGENT = f"almmigrate/{__version__} httpx/{httpx.__version__}"
BACKOFF_CAP = 30.0  # seconds: no single backoff sleeps longer than this

T = TypeVar("T")


# ---------------------------------------------------------------- the client


class SDEClient:
    """A client for one SD Elements instance; use it as a context manager.

    settings: where the instance is and how to talk to it.
    transport, limiter, backoff, sleep: for tests (a mock transport for what no
    server can produce, a shared limiter, a short backoff base in seconds).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        token = sent_token(settings.token)  # first: registered before any message is built
        self.base = api_base(settings.url)
        parts = urlsplit(self.base)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.root = self.base[: -len(API_PATH)] or self.base
        if parts.scheme == "http" and not is_loopback(self.host) and not settings.allow_http:
            raise InputError(
                f"refusing to send the token over plain http to {self.host}: "
                "use an https:// URL, or pass --allow-http if this network is trusted"
            )
        self.stats = RequestStats()
        self.max_pages = MAX_PAGES
        self.discovery = Discovery(self, generation(settings.api) if settings.api else None)
        self._sent = threading.local()  # per worker thread: write requests sent
        if limiter is None:
            controller = (
                AdaptiveRate(settings.rate, concurrency=settings.concurrency)
                if settings.adapt
                else None
            )
            limiter = RateLimiter(settings.rate, controller=controller)
        self.limiter = limiter
        self._backoff_base = backoff
        self._sleep = sleep
        self._random = random.Random()
        workers = self.workers
        headers = {
            "Authorization": f"Token {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        # One TLS context for every thread's pool: httpx would load the CA bundle for each.
        verify = httpx.create_ssl_context(verify=tls_verify(settings.verify))

        def connections() -> httpx.Client:
            return httpx.Client(
                headers=headers,
                verify=verify,
                # No pool timeout: waiting for a free connection is not the server's fault.
                timeout=httpx.Timeout(settings.timeout, pool=None),
                limits=httpx.Limits(max_connections=workers, max_keepalive_connections=workers),
                follow_redirects=False,  # a redirect could carry the token to another host
                transport=transport,
            )

        # Each thread sends through its own connection pool: httpcore's, shared by
        # threads, can close a connection under another thread's request (perthread).
        self._connections = PerThread(connections)

    def __enter__(self) -> SDEClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._connections.close()

    def __repr__(self) -> str:
        return f"SDEClient({redact_url(self.root)!r})"

    @property
    def workers(self) -> int:
        """Threads worth running: --concurrency, or the most Little's law may ask for."""
        if self.settings.concurrency is None:
            return MAX_IN_FLIGHT if self.settings.adapt else 4
        return max(1, self.settings.concurrency)

    def rate_status(self) -> RateStatus | None:
        """The adaptive controller's view (rate, limit found, 429s), None with fixed pacing."""
        controller = self.limiter.controller
        return controller.status() if controller is not None else None

    # ------------------------------------------------------------ requests

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a path under /api/v2/ (or a full URL on this instance); the decoded JSON."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any, *, idempotent: bool = False) -> Any:
        """POST; retried after an unknown outcome only when `idempotent` (e.g. testalm)."""
        return self.request("POST", path, body=body, idempotent=idempotent)

    def patch(self, path: str, body: Any) -> Any:
        """PATCH (never PUT: a PUT would clear the fields not sent)."""
        return self.request("PATCH", path, body=body)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
        unreachable_retries: int | None = None,
    ) -> Any:
        """Send one request with retries; the decoded JSON body (None when empty).

        unreachable_retries: fewer retries than settings.retries when no connection
        opens at all (a first contact with a wrong --url should fail within seconds).

        Raises the ApiError subclasses of almmigrate.errors; one raised after every
        retry was spent has `gave_up` set (exit 3: the instance keeps failing).
        """
        method = method.upper()
        safe = method != "POST" if idempotent is None else idempotent
        url = self._url(path)
        retrying = Retrying(
            retry=retry_if_exception_type(Retryable),
            wait=self._wait,
            stop=self._stopper(self.settings.retries, unreachable_retries),
            before_sleep=self._before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(method, url, params, body, safe)
        except Retryable as final:
            error = final.error
            tries = int(retrying.statistics.get("attempt_number", 1))
            note = f"gave up after {tries} attempts" if tries > 1 else "not retried"
            wait = final.retry_after
            if wait is not None and wait + 1 > self.settings.max_wait:
                note += (
                    f"; the instance asked to wait {wait:.0f} s, more than "
                    f"--max-wait {self.settings.max_wait:g} s"
                )
            error.give_up(note)
            self.stats.add(failures=1)
            raise error from final.__cause__
        except ApiError:
            self.stats.add(failures=1)
            raise
        raise AssertionError("tenacity ended without an outcome")  # pragma: no cover

    def _attempt(
        self, method: str, url: str, params: Mapping[str, Any] | None, body: Any, safe: bool
    ) -> Any:
        shown = redact_url(str(httpx.URL(url, params=dict(params)) if params else url))
        attempt = Attempt(method, shown, safe, self.host, self.port, self.settings.timeout)
        with self.limiter.slot():
            self.limiter.acquire()
            return self._send(method, url, params, body, shown, attempt)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: Any,
        shown: str,
        attempt: Attempt,
    ) -> Any:
        controller = self.limiter.controller
        if method != "GET":
            self._sent.writes = self.writes_sent() + 1
        started = time.monotonic()
        http = self._connections.get()
        request = http.build_request(
            method, url, params=dict(params) if params else None, json=body
        )
        record = controller.sent() if controller is not None else None
        try:
            # Streamed and read with a cap: a 50 MB error page must not be held in memory.
            response, cut_short = read_capped(http.send(request, stream=True))
        except httpx.TransportError as exc:
            self.stats.add(requests=1)
            self.stats.mark(started, time.monotonic())
            logger.debug(
                "%s %s -> %s (%.3f s)",
                method,
                shown,
                type(exc).__name__,
                time.monotonic() - started,
            )
            raise transport_error(exc, attempt) from exc
        ended = time.monotonic()
        self.stats.add(requests=1, bytes=len(response.content))
        self.stats.mark(started, ended)
        status = response.status_code
        logger.debug("%s %s -> %d (%.3f s)", method, shown, status, ended - started)
        if status == 429:
            self.stats.add(throttled=1)
        if controller is not None and record is not None:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            controller.answered(record, status, retry_after=retry_after, headers=response.headers)
            if status == 429 or (status == 503 and retry_after is not None):
                # Over the limit for everyone: hold back every worker now, before the
                # others' requests are refused too (tenacity's own wait follows).
                self.limiter.pause_for(retry_after if retry_after is not None else 1.0)
        if 200 <= status < 300:
            if cut_short:
                raise too_large(attempt, status, self.root)
            return decode(response, attempt, self.root)
        raise status_error(response, attempt)

    def writes_sent(self) -> int:
        """Write requests (every attempt, retries included) this thread has sent so far."""
        return int(getattr(self._sent, "writes", 0))

    def _url(self, path: str) -> str:
        """A full URL for a path under /api/v2/, an absolute path, or a URL from `next`."""
        if "://" in path:
            # Pagination links carry the server's idea of its own address, which behind
            # a proxy may be plain http or another host: keep our scheme and host so the
            # token never leaves for somewhere the user did not name.
            link = urlsplit(path)
            ours = urlsplit(self.base)
            return urlunsplit((ours.scheme, ours.netloc, link.path, link.query, ""))
        if path.startswith("/"):
            return self.root + path
        return self.base + path

    # ------------------------------------------------------------ retries

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Retryable) and error.retry_after is not None:
            return error.retry_after
        return self._backoff(state.attempt_number)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, so workers spread out."""
        ceiling = min(BACKOFF_CAP, self._backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    def _stopper(
        self, retries: int, unreachable_retries: int | None
    ) -> Callable[[RetryCallState], bool]:
        def stop(state: RetryCallState) -> bool:
            if state.attempt_number > retries:
                return True
            if unreachable_retries is not None and state.attempt_number > unreachable_retries:
                error = state.outcome.exception() if state.outcome else None
                if isinstance(error, Retryable) and isinstance(error.error, Unreachable):
                    return True
            return state.idle_for + state.upcoming_sleep > self.settings.max_wait

        return stop

    def _before_sleep(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        self.stats.add(retries=1)
        if isinstance(error, Retryable):
            if error.error.status == 429 or (
                error.error.status == 503 and error.retry_after is not None
            ):
                # The server is over its limit for everyone: hold back every worker.
                self.limiter.pause_for(state.upcoming_sleep)
            logger.info(
                "retrying %s %s in %.1f s: %s",
                error.error.method,
                error.error.url,
                state.upcoming_sleep,
                error.error.status or type(error.__cause__).__name__,
            )

    # ------------------------------------------------------------ lists

    def check(self) -> Generation:
        """Make sure the instance answers, accepts the token and is SD Elements; its generation.

        Asks which connector path answers a list (Issue Tracker, then ALM), once
        per client (almmigrate.discovery); `settings.api` (--api) names it instead.
        Raises ConnectionProblem (Unreachable, AuthenticationFailed, NotAnInstance).
        """
        return self.discovery.generation()

    @property
    def generation(self) -> Generation:
        """The generation of the API this instance serves: --api's, else asked once, on first use."""
        return self.discovery.found or self.discovery.forced or self.check()

    def shown_url(self, path: str) -> str:
        """The full URL of a path, as it may be shown (user info and secrets redacted)."""
        return redact_url(self._url(path))

    def not_an_instance(
        self, detail: str, path: str, cause: ApiError | None = None
    ) -> NotAnInstance:
        """The error for an instance that does not answer like SD Elements at `path`."""
        return self._not_sde(detail, self.shown_url(path), cause)

    def _not_an_instance(self, what: str, cause: ApiError | None, path: str) -> NotAnInstance:
        shown = redact_url(self._url(path))
        return self._not_sde(f"{what} at GET {shown}", shown, cause)

    def _not_sde(self, detail: str, shown: str, cause: ApiError | None = None) -> NotAnInstance:
        return NotAnInstance(
            scrub(
                f"{redact_url(self.root)} does not look like an SD Elements instance ({detail}); "
                f"{ROOT_HINT}"
            ),
            method="GET",
            url=shown,
            status=cause.status if cause else None,
            server_message=cause.server_message if cause else None,
        )

    def iter_list(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        on_page: Callable[[int, int | None], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every object of a paginated list, in order, following `next` until it is null.

        Once the first page gives `count`, later pages are fetched concurrently
        (settings.concurrency workers, a bounded window) and yielded in order.
        on_page(done, total): objects received so far and the total (None if unknown).
        """
        query = dict(params or {})
        query.setdefault("page_size", self.settings.page_size)
        page = self._page(self.get(path, query), path)
        guard = ListGuard(self._list_problem(path), page, self.max_pages)
        guard.check(page)
        total = page.count
        if on_page:
            on_page(guard.done, total)
        yield from page.results
        next_url = page.next
        planned = planned_pages(page)
        if planned is not None:
            for page in self._fetch_pages(planned, path):
                guard.check(page)
                if on_page:
                    on_page(guard.done, total)
                yield from page.results
                next_url = page.next  # the list grew meanwhile: carry on below
        followed: set[str] = set()
        while next_url:
            if next_url in followed:
                # A proxy that drops query strings, or a broken server: never loop forever.
                raise guard.problem(f"gave the same next page twice (page {guard.pages})")
            followed.add(next_url)
            page = self._page(self.get(next_url), path)
            guard.check(page)
            done = guard.done
            if on_page:
                on_page(done, total if total is None or total >= done else done)
            yield from page.results
            next_url = page.next

    def _list_problem(self, path: str) -> Callable[[str], NotAnInstance]:
        """Builds the error for a list whose pages cannot be right (see almmigrate.pages.ListGuard)."""
        shown = redact_url(self._url(path))

        def problem(why: str) -> NotAnInstance:
            return NotAnInstance(
                scrub(
                    f"the list at GET {shown} {why}: its pagination is broken (a proxy that "
                    "ignores ?page=, or a server bug), so reading stopped; check --url and "
                    "any proxy in between"
                ),
                method="GET",
                url=shown,
            )

        return problem

    def iter_objects(
        self,
        path: str,
        parse: Callable[[dict[str, Any]], T],
        params: Mapping[str, Any] | None = None,
        *,
        on_page: Callable[[int, int | None], None] | None = None,
    ) -> Iterator[T]:
        """Every object of a list read by `parse` (a model's from_api), as pages arrive.

        Raises NotAnInstance when an object lacks what SD Elements always sends.
        """
        for item in self.iter_list(path, params, on_page=on_page):
            try:
                parsed = parse(item)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise self._unreadable(path, exc) from None
            yield parsed

    def _unreadable(self, path: str, exc: Exception) -> NotAnInstance:
        """An object the models cannot read; the message names the field, never a value."""
        if isinstance(exc, KeyError):
            why = f"an object without the field {str(exc.args[0] if exc.args else '')!r}"
        elif isinstance(exc, AttributeError | TypeError):
            why = "something other than the objects it documents"
        else:
            why = "a value of the wrong type"
        shown = redact_url(self._url(path))
        return self._not_sde(f"GET {shown} answered with {why}", shown)

    def _fetch_pages(self, urls: Iterable[str], path: str) -> Iterator[Page]:
        """Fetch pages on a thread pool, at most 2 x concurrency in flight, yielded in order."""
        workers = self.workers
        pending: deque[Future[Any]] = deque()
        remaining = iter(urls)
        with worker_pool(max_workers=workers, thread_name_prefix="almmigrate-page") as pool:
            try:
                for url in islice(remaining, 2 * workers):
                    pending.append(pool.submit(self.get, url))
                while pending:
                    try:
                        body = pending.popleft().result()
                    except NotFound:
                        # Objects were deleted while we read: this page is past the new end.
                        logger.info("%s ended early: the list shrank while being read", path)
                        yield Page([], None, None)
                        return
                    for url in islice(remaining, 1):
                        pending.append(pool.submit(self.get, url))
                    yield self._page(body, path)
            finally:
                for future in pending:
                    future.cancel()

    def _page(self, body: Any, path: str) -> Page:
        if isinstance(body, list):  # an unpaginated list: everything at once
            return Page([dict(item) for item in body], len(body), None)
        if not (isinstance(body, dict) and isinstance(body.get("results"), list)):
            raise self._not_an_instance("it did not answer with a paginated list", None, path)
        count = body.get("count")
        return Page(
            body["results"],
            count if isinstance(count, int) else None,
            body.get("next") or None,
        )

    def list_connectors(self) -> list[Connector]:
        return list(self.iter_objects(self.generation.connectors, Connector.from_api))

    def list_connections(
        self, project: int | None = None, include_last_job: bool = False
    ) -> list[Connection]:
        params: dict[str, Any] = {}
        if project is not None:
            params["project"] = project
        if include_last_job:
            params["include"] = "last_job"
        return list(self.iter_objects(self.generation.connections, Connection.from_api, params))

    def list_projects(self) -> list[Project]:
        return list(self.iter_objects(PROJECTS_PATH, Project.from_api))

    def list_applications(self) -> list[Application]:
        return list(self.iter_objects(APPLICATIONS_PATH, Application.from_api))

    def list_business_units(self) -> list[BusinessUnit]:
        return list(self.iter_objects(BUSINESS_UNITS_PATH, BusinessUnit.from_api))

    def list_plugins(self) -> dict[str, Plugin]:
        """The plugin schemas the instance publishes, in its generation's names.

        Tries the generation's plugin paths in order; none answering gives {}
        and a one-line notice (the caller falls back to the bundled schemas).
        """
        return self.discovery.plugins()

    def get_plugin(self, plugin_id: str) -> Plugin:
        """One system's schema from the first plugin path that serves it (NotFound otherwise)."""
        return self.discovery.plugin(plugin_id)

    # ------------------------------------------------------------ writes

    def create_connector(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.post(self.generation.connectors, dict(body)))

    def update_connector(self, connector_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.patch(self.generation.connector(connector_id), dict(body)))

    def create_connection(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.post(self.generation.connections, dict(body)))

    def update_connection(self, connection_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.patch(self.generation.connection(connection_id), dict(body)))

    def test_connector(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Run the connectivity test for a connector; the answer, e.g. {"success": true}.

        Raises NotAvailable when the instance does not serve the test endpoint.
        """
        return self.discovery.test(self.generation.test_connector, body)

    def test_connection(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Run the connectivity test for a connection; e.g. {"success": false, "error": "..."}."""
        return self.discovery.test(self.generation.test_connection, body)
