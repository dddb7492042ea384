"""Secrets: which params are secret, masking, and redaction of anything printed.

Two lines of defence. First, secret params are masked at the source (export,
plan, report) by :func:`mask`. Second, every token and secret value a run
learns is registered with the run's own Redactor, and :func:`scrub` (used by
the log filter, the reports and the CLI's error printer) replaces it, in every
encoded form (:mod:`almmigrate.redaction`), wherever it would otherwise be shown.

A run is one CLI invocation (:func:`redaction_scope`) or one library call
(:func:`one_run`); its Redactor lives in a context variable, shared with its
worker threads (:func:`worker_pool`), so runs in one process never see or
reset each other's secrets.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from almmigrate.errors import AlmMigrateError
from almmigrate.interrupts import Pool
from almmigrate.redaction import Redactor

if TYPE_CHECKING:
    from almmigrate.schema import Plugin

P = ParamSpec("P")
R = TypeVar("R")

MASK = "********"

# A param is secret when its name says so. Names are split on separators so that
# "alm_pass" and "password" match but "bypass_proxy" or "passive" do not.
_SECRET_WORDS = {
    "pass",
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "credential",
    "credentials",
}
_SECRET_PHRASES = ("apikey", "api_key", "privatekey", "private_key", "client_secret", "credential")


@lru_cache(maxsize=4096)  # the same few dozen param names repeat on every row
def name_is_secret(name: str) -> bool:
    """True when a param name says it holds a password, token, key or credential."""
    lowered = name.lower().replace("-", "_")
    words = set(re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()))
    if words & _SECRET_WORDS:
        return True
    squashed = lowered.replace("_", "")
    return any(p.replace("_", "") in squashed for p in _SECRET_PHRASES)


def mask(
    params: Mapping[str, Any],
    plugin: Plugin | None,
    *,
    include_secrets: bool = False,
    secret: Collection[str] = (),
) -> dict[str, Any]:
    """A copy of params with every secret value replaced by MASK, each one registered.

    A secret is a param the plugin types masked_string or whose name says
    password, token, key, ... (:func:`almmigrate.schema.is_secret`), or one named
    in `secret` (what a plan item already knows: PlanItem.secret_fields). Empty
    values stay empty: a mask would claim a secret exists where none does.
    include_secrets: keep the values in clear (`--include-secrets`); they are
    registered all the same, so no message, log or report shows them.
    """
    known = plugin.secret_names() if plugin is not None else frozenset()
    known = known | frozenset(secret)
    shown: dict[str, Any] = {}
    for name, value in params.items():
        if (name in known or name_is_secret(name)) and value not in (None, "") and value != MASK:
            register_secret(value, name)
            if not include_secrets:
                value = MASK
        shown[name] = value
    return shown


# The Redactor of the run under way in this context (None outside any run), and the
# one a context uses outside any run (a caller using the client or a reader directly).
# Context variables, not module state: two runs in one process (two threads of a
# library caller, two tests, two CLI invocations) never see each other's secrets.
_RUN: ContextVar[Redactor | None] = ContextVar("almmigrate_run_redactor", default=None)
_OUTSIDE: ContextVar[Redactor | None] = ContextVar("almmigrate_outside_redactor", default=None)


def _new() -> Redactor:
    return Redactor(MASK, name_is_secret)


def current_redactor() -> Redactor:
    """The Redactor that register_secret and scrub use here: the run's, or this context's own."""
    run = _RUN.get()
    if run is not None:
        return run
    outside = _OUTSIDE.get()
    if outside is None:
        outside = _new()
        _OUTSIDE.set(outside)
    return outside


@contextmanager
def redaction_scope() -> Iterator[Redactor]:
    """A run of its own, with nothing learnt: what it registers is forgotten when it ends.

    The CLI runs each invocation in one, as a separate process would be: it
    learns its secrets from its own tokens and files, and leaves the caller's
    alone. The run's worker threads share it (see :func:`worker_pool`).
    """
    with _running(_new()) as redactor:
        yield redactor


def in_run() -> bool:
    """True inside a run (a CLI invocation, a library call, a redaction_scope)."""
    return _RUN.get() is not None


@contextmanager
def secret_run() -> Iterator[Redactor]:
    """The run under way, or a new one for a library call made outside any.

    A new run knows what its caller's context registered outside any run (a
    secrets file or a client the caller made itself) and keeps the rest to
    itself: the next call starts without it.
    """
    if in_run():
        yield current_redactor()
        return
    outside = _OUTSIDE.get()
    with _running(outside.copy() if outside is not None else _new()) as redactor:
        try:
            yield redactor
        except AlmMigrateError as error:
            # The caller's redactor never learns this run's secrets: the error that
            # leaves the run is scrubbed by the run's own before the caller sees it.
            error.message = _scrubbed(redactor, error.message)
            error.args = tuple(
                _scrubbed(redactor, a) if isinstance(a, str) else a for a in error.args
            )
            raise


def one_run(function: Callable[P, R]) -> Callable[P, R]:
    """Run a library entry point (export, import_file, migrate, ...) inside secret_run()."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with secret_run():
            return function(*args, **kwargs)

    return run


@contextmanager
def _running(redactor: Redactor) -> Iterator[Redactor]:
    token = _RUN.set(redactor)
    try:
        yield redactor
    finally:
        _RUN.reset(token)


def worker_pool(max_workers: int, thread_name_prefix: str = "") -> ThreadPoolExecutor:
    """A thread pool whose workers register into and scrub with the calling run's Redactor.

    A new thread starts with no context of its own: without this a worker's log
    lines and error messages would not know the run's secrets. A ``with`` block over
    it that a Ctrl-C ends stops waiting for its threads at the next one (interrupts.Pool).
    """
    return Pool(
        max_workers,
        thread_name_prefix=thread_name_prefix,
        initializer=_RUN.set,
        initargs=(current_redactor(),),
    )


def register_secret(value: object, field: str | None = None) -> None:
    """Remember a secret value so that :func:`scrub` hides it from any output of this run.

    field: the param that carries it; a very short value is hidden only there
    (and in any field whose name says it is secret), in every encoded form.
    """
    current_redactor().add(value, field)


def scrub(text: str) -> str:
    """Text with every secret this run registered, in any encoding, and any `Token xyz` value hidden."""
    return _scrubbed(current_redactor(), text)


def cut(text: str, limit: int) -> str:
    """The text with this run's secrets hidden, then cut to `limit` characters, noting what was left out.

    Hidden before it is cut: a secret the cut splits in two is no longer
    recognisable, and its first part would be shown. A text that already ends in
    the start of a secret (cut short before it reached us) has that start masked.
    Only what may be shown is searched (the limit, and as far past it as the
    longest form of a secret reaches): a 2 MB error body is not scrubbed whole.
    """
    redactor = current_redactor()
    window = limit + 2 * redactor.reach() + _CUT_SLACK
    head = _scrubbed(redactor, text[:window])
    left = max(len(text) - window, 0)
    if left:
        head = redactor.mask_tail(head)  # the window's own cut, as any other
    if len(head) <= limit and not left:
        return head
    shown = redactor.mask_tail(head[:limit]) if len(head) > limit else head
    return f"{shown}... ({max(len(head) - limit, 0) + left} more characters)"


def error_reason(error: BaseException, limit: int = 200) -> str:
    """An exception as one line for a message: its type and the first line of its text,
    secrets hidden and cut to limit."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = type(error).__name__
    return f"{name}: {cut(text, limit)}" if text else name


# Past a cut, beyond the longest form of a secret: a `field: "value"` or a base64
# `user:password` around a short secret.
_CUT_SLACK = 64


def _scrubbed(redactor: Redactor, text: str) -> str:
    if not text:
        return text
    return _TOKEN_HEADER.sub(r"\1" + MASK, redactor.scrub(text))


# `Token <value>` as in the Authorization header. The value must look like a token (8+
# token characters with a digit) so that prose such as "check SDE_TOKEN or --token" or
# "the token stays" is left readable.
_TOKEN_HEADER = re.compile(r"(?i)(\btoken\s+)(?=[\w.~+/=-]*\d)[\w.~+/=-]{8,}")


_SENSITIVE_QUERY = re.compile(r"(?i)token|key|secret|pass|auth|signature")


def redact_url(url: str) -> str:
    """A URL fit for a message: no user info, no sensitive query values."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return scrub(str(url))
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode(
        [
            (k, MASK if _SENSITIVE_QUERY.search(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs secrets from every record's final message.

    redactor: the run whose secrets to hide, whichever thread logs; None: the
    run under way in the logging thread.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self._scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Handlers filter before they format: format the traceback now so it is scrubbed too.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self._scrub(record.stack_info)
        return True

    def _scrub(self, text: str) -> str:
        return _scrubbed(self.redactor or current_redactor(), text)


_TRACEBACKS = logging.Formatter()
