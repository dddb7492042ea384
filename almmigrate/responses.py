"""Turning what an instance answered (or failed to answer) into almmigrate's typed errors.

The client calls these for every attempt. Each returns the exception to raise:
an :class:`~almmigrate.errors.ApiError` subclass, or a :class:`Retryable`
wrapping one when the attempt may be repeated. Every message names the method
and the redacted URL, says what to do, and goes through
:func:`almmigrate.secrets.scrub` so no token can reach it.
"""

from __future__ import annotations

import math
import re
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from almmigrate.errors import (
    ApiError,
    ApiValidationError,
    AuthenticationFailed,
    NotAnInstance,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unreachable,
)
from almmigrate.generation import ROOT_HINT
from almmigrate.secrets import cut, redact_url, scrub
from almmigrate.servertext import ErrorBody, parse_error_body

# How much of an answer is read. An error needs a few lines; a page of 1000 objects
# with their last jobs is a few MB. A server sending more is stopped, not buffered.
ERROR_BODY_LIMIT = 256 * 1024
ANSWER_LIMIT = 64 * 1024 * 1024


class Retryable(Exception):
    """One failed attempt that may be tried again; carries the error to raise if it is not."""

    def __init__(self, error: ApiError, *, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    """What one request was, for messages: method, redacted URL, and whether it may be repeated."""

    method: str
    shown: str  # the URL, already redacted
    safe: bool  # idempotent: may be sent again after an unknown outcome
    host: str
    port: int
    timeout: float

    def info(self, status: int | None = None, server_message: str | None = None) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.shown,
            "status": status,
            "server_message": server_message,
        }


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header given as seconds or as an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# ---------------------------------------------------------------- no answer


def transport_error(exc: httpx.TransportError, attempt: Attempt) -> Exception:
    """The error for a request that got no HTTP answer."""
    where = f"[{attempt.method} {attempt.shown}]"
    info = attempt.info()
    if isinstance(exc, httpx.ConnectError) and in_chain(exc, ssl.SSLError):
        return Unreachable(scrub(f"{tls_message(exc, attempt.host)} {where}"), **info)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        # The request never left: safe to send again, even a create.
        return Retryable(Unreachable(scrub(f"{connect_message(exc, attempt)} {where}"), **info))
    if isinstance(exc, httpx.TimeoutException):
        reason = f"no answer from {attempt.host} within {attempt.timeout:g} s"
        hint = "raise --timeout, or try again later"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        reason = f"{attempt.host} closed the connection without answering"
        hint = "check the instance and any proxy in between, or try again later"
    else:
        return Unreachable(scrub(f"cannot talk to {attempt.host}: {exc} {where}"), **info)
    if not attempt.safe:
        return OutcomeUnknown(
            scrub(
                f"{reason}: the instance may or may not have acted on this {attempt.method}, "
                f"so it was not sent again; look the object up before retrying {where}"
            ),
            **info,
        )
    return Retryable(Unreachable(scrub(f"{reason}: {hint} {where}"), **info))


def connect_message(exc: httpx.TransportError, attempt: Attempt) -> str:
    """Why a connection could not be opened, and what to check."""
    host, port = attempt.host, attempt.port
    if in_chain(exc, socket.gaierror) or re.search(
        r"name or service not known|nodename nor servname|name resolution|getaddrinfo",
        str(exc),
        re.I,
    ):
        return f"cannot find the host {host}: check --url"
    if in_chain(exc, ConnectionRefusedError) or "refused" in str(exc).lower():
        return (
            f"{host}:{port} refused the connection: check --url (host and port) "
            "and that the instance is up"
        )
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"no answer from {host}:{port} within {attempt.timeout:g} s: "
            "check --url, your network or proxy, or raise --timeout"
        )
    return f"cannot connect to {host}:{port} ({exc or type(exc).__name__}): check --url"


def tls_message(exc: httpx.TransportError, host: str) -> str:
    text = str(exc)
    if re.search(r"wrong.version.number|record.layer|unknown protocol|http request", text, re.I):
        return (
            f"TLS handshake with {host} failed: the server does not speak https on this port "
            f"({text}): check the scheme and port in --url"
        )
    reason = re.sub(r"^\[SSL: [A-Z_]+\]\s*", "", text)
    return (
        f"TLS verification failed for {host} ({reason}): if the instance uses a private "
        "certificate authority pass --ca-bundle FILE; --insecure skips verification "
        "(not recommended)"
    )


def in_chain(exc: BaseException, kind: type[BaseException]) -> bool:
    """True when exc, or anything it was raised from, is a `kind`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


# ---------------------------------------------------------------- an answer


def read_capped(response: httpx.Response, limit: int | None = None) -> tuple[httpx.Response, bool]:
    """Read a streamed answer up to `limit` bytes (by status when None); (the answer, cut short).

    The body is decompressed as it streams, so a compressed bomb stops at the
    limit too. The answer returned holds what was read, already decoded.
    """
    if limit is None:
        limit = ANSWER_LIMIT if 200 <= response.status_code < 300 else ERROR_BODY_LIMIT
    chunks: list[bytes] = []
    size = 0
    cut_short = False
    try:
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                cut_short = True
                break
    finally:
        response.close()
    content = b"".join(chunks)[:limit]
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    read = httpx.Response(
        response.status_code, headers=headers, content=content, request=response.request
    )
    return read, cut_short


def too_large(attempt: Attempt, status: int, root: str) -> ApiError:
    """The error for a 2xx answer longer than ANSWER_LIMIT: no SD Elements page is that big."""
    where = f"[{attempt.method} {attempt.shown} -> {status}]"
    size = f"more than {ANSWER_LIMIT // (1024 * 1024)} MB"
    if not attempt.safe:
        return OutcomeUnknown(
            scrub(
                f"the instance answered with {size}, which was not read: it may or may not "
                f"have acted on this {attempt.method}; look the object up before retrying {where}"
            ),
            **attempt.info(status),
        )
    return NotAnInstance(
        scrub(
            f"{redact_url(root)} answered with {size}, which was not read: SD Elements "
            f"sends no answer that big; {ROOT_HINT} {where}"
        ),
        **attempt.info(status),
    )


def status_error(response: httpx.Response, attempt: Attempt) -> Exception:
    """The error for an answer outside 2xx."""
    status = response.status_code
    server = _scrubbed(server_message(response))
    said = server.message or response.reason_phrase or "no message"
    where = f"[{attempt.method} {attempt.shown} -> {status}: {said}]"
    info = attempt.info(status, server.message)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 401:
        return AuthenticationFailed(
            scrub(f"the instance refused the token: check SDE_TOKEN or --token {where}"), **info
        )
    if status == 403:
        return PermissionDenied(
            scrub(
                "permission denied: the token's user may not do this; use a token of a user "
                f"with the needed permission {where}"
            ),
            **info,
        )
    if status == 404:
        return NotFound(scrub(f"not found {where}"), **info)
    if 300 <= status < 400:
        location = redact_url(response.headers.get("location", "elsewhere"))
        return NotAnInstance(
            scrub(
                f"{attempt.method} {attempt.shown} was redirected to {location}: give the "
                "address the instance answers on as --url (redirects are not followed, so "
                "the token stays where you sent it)"
            ),
            **info,
        )
    if status == 400:
        return ApiValidationError(
            scrub(f"the instance rejected the request: {said} [{attempt.method} {attempt.shown}]"),
            fields=server.fields,
            **info,
        )
    if status == 429:
        limited = RateLimited(
            scrub(
                "the instance is rate limiting requests: lower --rate or --concurrency, "
                f"or try again later {where}"
            ),
            **info,
        )
        return Retryable(limited, retry_after=retry_after)
    if status in (502, 504) and not attempt.safe:
        return OutcomeUnknown(
            scrub(
                "a gateway gave up waiting for the instance: it may or may not have acted on "
                f"this {attempt.method}, so it was not sent again; look the object up before "
                f"retrying {where}"
            ),
            **info,
        )
    if status >= 500:
        failed = ServerError(
            scrub(f"the instance failed: try again later, or ask its administrator {where}"),
            **info,
        )
        # A request safe to repeat (a read, a PATCH) is tried again after any 5xx: the
        # instance may answer it next time. A POST only after a 503, which says the
        # instance did not act; after a 500 it may have created the object.
        if attempt.safe or status == 503:
            return Retryable(failed, retry_after=retry_after)
        return failed
    return ApiError(scrub(f"the instance refused the request {where}"), **info)


def _scrubbed(body: ErrorBody) -> ErrorBody:
    # A server may echo what it was sent (headers included): never keep a token from it.
    fields = {scrub(name): [scrub(m) for m in messages] for name, messages in body.fields.items()}
    return ErrorBody(scrub(body.message), fields)


def decode(response: httpx.Response, attempt: Attempt, root: str) -> Any:
    """The JSON of a 2xx answer (None when empty); NotAnInstance when it is not JSON."""
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        kind = "an HTML page" if is_html(response) else "text that is not JSON"
        if not attempt.safe:
            # A proxy's page in place of the API's answer: the create may well have been saved.
            raise OutcomeUnknown(
                scrub(
                    f"{attempt.method} {attempt.shown} answered {response.status_code} with "
                    f"{kind} instead of JSON: the instance may or may not have acted on it, so "
                    "it was not sent again; look the object up before retrying"
                ),
                **attempt.info(response.status_code),
            ) from None
        raise NotAnInstance(
            scrub(
                f"{redact_url(root)} does not look like an SD Elements instance: "
                f"{attempt.method} {attempt.shown} answered with {kind}; {ROOT_HINT}"
            ),
            **attempt.info(response.status_code),
        ) from None


def is_html(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").lower()
    return "html" in kind or response.text.lstrip()[:1] == "<"


def server_message(response: httpx.Response) -> ErrorBody:
    """What the server said, from a DRF body, an HTML page or raw text."""
    text = response.text
    starts = text.lstrip()[:1]
    if "json" in response.headers.get("content-type", "").lower() or (starts and starts in "{["):
        try:
            return parse_error_body(response.json(), text)
        except ValueError:
            pass
    if text.strip() and is_html(response):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        label = cut(re.sub(r"\s+", " ", title.group(1)).strip(), 120) if title else ""
        return ErrorBody(f"an HTML page ({label})" if label else "an HTML page")
    return parse_error_body(None, text)
