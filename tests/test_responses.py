"""almmigrate.responses on its own: each answer or transport failure -> the exact typed error.

In-memory httpx answers, no server: every status and failure the client can
meet, with the exact message, whether it may be retried, and that nothing
the server echoes (a token) reaches a message.
"""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

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
from almmigrate.responses import (
    ERROR_BODY_LIMIT,
    Attempt,
    Retryable,
    decode,
    in_chain,
    parse_retry_after,
    read_capped,
    server_message,
    status_error,
    too_large,
    transport_error,
)
from almmigrate.secrets import register_secret
from almmigrate.servertext import ErrorBody

URL = "https://sde.example.com/api/v2/connectors/"
ROOT = "https://sde.example.com"
GET = Attempt("GET", URL, True, "sde.example.com", 443, 2.0)
POST = Attempt("POST", URL, False, "sde.example.com", 443, 2.0)
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def answer(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None, kind: str = "json"
) -> httpx.Response:
    content_type = "application/json" if kind == "json" else f"text/{kind}"
    return httpx.Response(
        status,
        content=body,
        headers={"content-type": content_type, **(headers or {})},
        request=httpx.Request("GET", URL),
    )


def raised_from(outer: Exception, cause: BaseException) -> Exception:
    """outer, raised while handling cause (as httpx raises from the socket's error)."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except Exception as error:
        return error


def outcome(error: Exception) -> tuple[str, str, float | None, str]:
    """(kind of what is raised, kind of the error, retry_after, message)."""
    inner = error.error if isinstance(error, Retryable) else error
    retry_after = error.retry_after if isinstance(error, Retryable) else None
    return type(error).__name__, type(inner).__name__, retry_after, str(inner)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),  # never a negative wait
        ("nan", None),
        ("inf", None),
        ("Tue, 01 Dec 2026 12:00:30 GMT", 30.0),  # an HTTP date: from now
        ("Tue, 01 Dec 2026 11:59:00 GMT", 0.0),  # already past
        ("2026-12-01T12:00:30", None),  # ISO is not an HTTP date
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_as_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


WHERE = f"[GET {URL} -> "
STATUS_CASES: list[tuple[int, bytes, dict[str, str], tuple[str, str, float | None, str]]] = [
    (401, b'{"detail": "Invalid token."}', {}, ("AuthenticationFailed", "AuthenticationFailed", None,
     f"the instance refused the token: check SDE_TOKEN or --token {WHERE}401: Invalid token.]")),
    (403, b'{"detail": "Not allowed."}', {}, ("PermissionDenied", "PermissionDenied", None,
     "permission denied: the token's user may not do this; use a token of a user with the "
     f"needed permission {WHERE}403: Not allowed.]")),
    (404, b'{"detail": "Not found."}', {}, ("NotFound", "NotFound", None,
     f"not found {WHERE}404: Not found.]")),
    (429, b'{"detail": "Request was throttled."}', {"retry-after": "7"}, ("Retryable", "RateLimited", 7.0,
     "the instance is rate limiting requests: lower --rate or --concurrency, or try again later "
     f"{WHERE}429: Request was throttled.]")),
    (500, b"boom", {}, ("Retryable", "ServerError", None,
     f"the instance failed: try again later, or ask its administrator {WHERE}500: boom]")),
    (503, b"", {"retry-after": "3"}, ("Retryable", "ServerError", 3.0,
     f"the instance failed: try again later, or ask its administrator {WHERE}503: Service Unavailable]")),
    (418, b"teapot", {}, ("ApiError", "ApiError", None,
     f"the instance refused the request {WHERE}418: teapot]")),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "headers", "expected"), STATUS_CASES)
def test_each_status_is_its_own_error(
    status: int, body: bytes, headers: dict[str, str], expected: tuple[Any, ...]
) -> None:
    error = status_error(answer(status, body, headers), GET)
    assert outcome(error) == expected
    inner = error.error if isinstance(error, Retryable) else error
    assert isinstance(inner, ApiError)
    assert (inner.method, inner.url, inner.status) == ("GET", URL, status)


def test_a_400_keeps_the_field_errors_for_the_report() -> None:
    body = (
        b'{"name": ["This field is required."], "params": {"alm_server": ["Enter a valid URL."]}}'
    )
    error = status_error(answer(400, body), POST)
    assert isinstance(error, ApiValidationError)
    assert str(error) == (
        "the instance rejected the request: name: This field is required.; "
        f"params.alm_server: Enter a valid URL. [POST {URL}]"
    )
    assert error.fields == {
        "name": ["This field is required."],
        "params.alm_server": ["Enter a valid URL."],
    }


def test_a_redirect_is_not_followed_and_its_location_is_redacted() -> None:
    location = "https://user:pw@sso.example.com/login?token=abc"
    error = status_error(answer(302, headers={"location": location}), GET)
    assert isinstance(error, NotAnInstance)
    assert str(error) == (
        f"GET {URL} was redirected to https://sso.example.com/login?token=%2A%2A%2A%2A%2A%2A%2A%2A: "
        "give the address the instance answers on as --url (redirects are not followed, so "
        "the token stays where you sent it)"
    )


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (GET, ("Retryable", "ServerError", None,
               f"the instance failed: try again later, or ask its administrator {WHERE}502: "
               "an HTML page (502 Bad Gateway)]")),
        (POST, ("OutcomeUnknown", "OutcomeUnknown", None,
                "a gateway gave up waiting for the instance: it may or may not have acted on this "
                "POST, so it was not sent again; look the object up before retrying "
                f"[POST {URL} -> 502: an HTML page (502 Bad Gateway)]")),
    ],
)  # fmt: skip
def test_a_gateway_error_is_retried_only_when_the_request_may_be_repeated(
    attempt: Attempt, expected: tuple[Any, ...]
) -> None:
    page = b"<html><title>502 Bad Gateway</title></html>"
    assert outcome(status_error(answer(502, page, kind="html"), attempt)) == expected


def test_a_token_the_server_echoes_is_scrubbed_from_the_message() -> None:
    register_secret("tok-CANARY-123456", "token")
    body = b'{"detail": "bad header Authorization: Token tok-CANARY-123456"}'
    error = status_error(answer(400, body), GET)
    assert str(error) == (
        f"the instance rejected the request: bad header Authorization: Token ******** [GET {URL}]"
    )
    assert isinstance(error, ApiError) and error.server_message == (
        "bad header Authorization: Token ********"
    )


TRANSPORT_CASES: list[tuple[Exception, Attempt, tuple[str, str, float | None, str]]] = [
    (raised_from(httpx.ConnectError("x"), ConnectionRefusedError(111, "Connection refused")), GET,
     ("Retryable", "Unreachable", None, "sde.example.com:443 refused the connection: check --url "
      f"(host and port) and that the instance is up [GET {URL}]")),
    (raised_from(httpx.ConnectError("x"), socket.gaierror(-2, "Name or service not known")), GET,
     ("Retryable", "Unreachable", None, f"cannot find the host sde.example.com: check --url [GET {URL}]")),
    # The request never left: a create may be sent again.
    (httpx.ConnectTimeout("timed out"), POST,
     ("Retryable", "Unreachable", None, "no answer from sde.example.com:443 within 2 s: check --url, "
      f"your network or proxy, or raise --timeout [POST {URL}]")),
    (httpx.ReadTimeout("timed out"), GET,
     ("Retryable", "Unreachable", None, "no answer from sde.example.com within 2 s: raise --timeout, "
      f"or try again later [GET {URL}]")),
    # Sent, and no answer: the create may have been saved, so it is not sent twice.
    (httpx.ReadTimeout("timed out"), POST,
     ("OutcomeUnknown", "OutcomeUnknown", None, "no answer from sde.example.com within 2 s: the "
      "instance may or may not have acted on this POST, so it was not sent again; look the object "
      f"up before retrying [POST {URL}]")),
    (httpx.RemoteProtocolError("Server disconnected"), GET,
     ("Retryable", "Unreachable", None, "sde.example.com closed the connection without answering: "
      f"check the instance and any proxy in between, or try again later [GET {URL}]")),
    (raised_from(httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)"),
                 ssl.SSLError(1, "wrong version number")), GET,
     ("Unreachable", "Unreachable", None, "TLS handshake with sde.example.com failed: the server does "
      "not speak https on this port ([SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)): "
      f"check the scheme and port in --url [GET {URL}]")),
    (raised_from(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                    "self-signed certificate (_ssl.c:1000)"), ssl.SSLError(1, "x")), GET,
     ("Unreachable", "Unreachable", None, "TLS verification failed for sde.example.com (certificate "
      "verify failed: self-signed certificate (_ssl.c:1000)): if the instance uses a private "
      "certificate authority pass --ca-bundle FILE; --insecure skips verification (not "
      f"recommended) [GET {URL}]")),
    (httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."), GET,
     ("Unreachable", "Unreachable", None, "cannot talk to sde.example.com: Request URL has an "
      f"unsupported protocol 'ftp://'. [GET {URL}]")),
]  # fmt: skip


@pytest.mark.parametrize(("failure", "attempt", "expected"), TRANSPORT_CASES)
def test_each_transport_failure_says_what_to_check_and_whether_it_is_retried(
    failure: Exception, attempt: Attempt, expected: tuple[Any, ...]
) -> None:
    assert isinstance(failure, httpx.TransportError)
    error = transport_error(failure, attempt)
    assert outcome(error) == expected
    inner = error.error if isinstance(error, Retryable) else error
    assert isinstance(inner, Unreachable | OutcomeUnknown)
    assert (inner.method, inner.url, inner.status) == (attempt.method, URL, None)


def test_an_answer_too_large_to_read() -> None:
    assert outcome(too_large(GET, 200, ROOT)) == (
        "NotAnInstance", "NotAnInstance", None,
        f"{ROOT} answered with more than 64 MB, which was not read: SD Elements sends no answer "
        f"that big; --url should be the instance root, e.g. https://sde.example.com {WHERE}200]",
    )  # fmt: skip
    assert outcome(too_large(POST, 201, ROOT)) == (
        "OutcomeUnknown", "OutcomeUnknown", None,
        "the instance answered with more than 64 MB, which was not read: it may or may not have "
        f"acted on this POST; look the object up before retrying [POST {URL} -> 201]",
    )  # fmt: skip


def test_decode_reads_json_and_refuses_a_page() -> None:
    assert decode(answer(204), GET, ROOT) is None
    assert decode(answer(200), GET, ROOT) is None
    assert decode(answer(200, b'{"count": 1}'), GET, ROOT) == {"count": 1}
    page = answer(200, b"<html><title>Login</title></html>", kind="html")
    with pytest.raises(NotAnInstance) as not_sde:
        decode(page, GET, ROOT)
    assert str(not_sde.value) == (
        f"{ROOT} does not look like an SD Elements instance: GET {URL} answered with an HTML "
        "page; --url should be the instance root, e.g. https://sde.example.com"
    )
    with pytest.raises(OutcomeUnknown) as maybe_saved:
        decode(page, POST, ROOT)
    assert str(maybe_saved.value) == (
        f"POST {URL} answered 200 with an HTML page instead of JSON: the instance may or may "
        "not have acted on it, so it was not sent again; look the object up before retrying"
    )


@pytest.mark.parametrize(
    ("body", "kind", "said"),
    [
        (b'{"error": "bad thing"}', "json", ErrorBody("bad thing")),
        (b"<html><head><title>\n Welcome   to nginx! </title></head></html>", "html",
         ErrorBody("an HTML page (Welcome to nginx!)")),
        (b"<p>oops</p>", "plain", ErrorBody("an HTML page")),  # it starts like one
        (b"plain words", "plain", ErrorBody("plain words")),
        (b'[{"x": 1}]', "plain", ErrorBody("{'x': 1}")),  # JSON without saying so
    ],
)  # fmt: skip
def test_what_the_server_said(body: bytes, kind: str, said: ErrorBody) -> None:
    assert server_message(answer(500, body, kind=kind)) == said


def streamed(status: int, body: bytes) -> httpx.Response:
    return httpx.Response(
        status,
        stream=httpx.ByteStream(body),
        headers={"content-length": str(len(body)), "content-type": "application/json"},
        request=httpx.Request("GET", URL),
    )


def test_an_answer_is_read_up_to_its_limit_and_no_further() -> None:
    read, cut_short = read_capped(streamed(200, b"x" * 100), limit=10)
    assert (read.content, cut_short, read.headers.get("content-length")) == (b"x" * 10, True, "10")
    read, cut_short = read_capped(streamed(200, b"x" * 10), limit=10)
    assert (read.content, cut_short) == (b"x" * 10, False)
    # An error answer is read up to ERROR_BODY_LIMIT when no limit is given.
    read, cut_short = read_capped(streamed(500, b"e" * (ERROR_BODY_LIMIT + 5)))
    assert (len(read.content), cut_short) == (ERROR_BODY_LIMIT, True)


def test_in_chain_follows_causes() -> None:
    assert in_chain(raised_from(ValueError("a"), KeyError("b")), KeyError)
    assert not in_chain(ValueError("a"), KeyError)
    assert isinstance(raised_from(ValueError("a"), KeyError("b")).__cause__, KeyError)


def test_every_error_class_used_here_is_an_api_error() -> None:
    kinds = (AuthenticationFailed, PermissionDenied, NotFound, RateLimited, ServerError,
             NotAnInstance, OutcomeUnknown, Unreachable, ApiValidationError)  # fmt: skip
    assert all(issubclass(kind, ApiError) for kind in kinds)
