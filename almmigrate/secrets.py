"""Secrets: which params are secret, masking, and redaction of anything printed.

Two lines of defence. First, secret params are masked at the source (export,
plan, report). Second, every token and secret value the process learns is
registered here, and :func:`scrub` (used by the log filter, the reports and
the CLI's error printer) replaces it, in every encoded form
(:mod:`almmigrate.redaction`), wherever it would otherwise be shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from almmigrate.redaction import Redactor

if TYPE_CHECKING:
    from almmigrate.schema import Plugin

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
    params: Mapping[str, Any], plugin: Plugin | None, *, include_secrets: bool = False
) -> dict[str, Any]:
    """A copy of params with every secret value replaced by MASK, each one registered.

    A secret is a param the plugin types masked_string or whose name says
    password, token, key, ... (:func:`almmigrate.schema.is_secret`). Empty values
    stay empty: a mask would claim a secret exists where none does.
    include_secrets: keep the values in clear (`--include-secrets`); they are
    registered all the same, so no message, log or report shows them.
    """
    schema_secrets = plugin.secret_names() if plugin is not None else frozenset()
    shown: dict[str, Any] = {}
    for name, value in params.items():
        secret = name in schema_secrets or name_is_secret(name)
        if secret and value not in (None, "") and value != MASK:
            register_secret(value, name)
            if not include_secrets:
                value = MASK
        shown[name] = value
    return shown


class _Scope:
    """The Redactor of the run under way: one per CLI invocation (see redaction_scope)."""

    redactor = Redactor(MASK, name_is_secret)


@contextmanager
def redaction_scope() -> Iterator[Redactor]:
    """A run's own secrets: registered inside, forgotten when it ends.

    The CLI runs every command in one, so nothing learnt by a run outlives it,
    and tests get one each without resetting anything. An attribute, not a
    context variable: the run's worker threads must share it.
    """
    previous = _Scope.redactor
    _Scope.redactor = Redactor(MASK, name_is_secret)
    try:
        yield _Scope.redactor
    finally:
        _Scope.redactor = previous


def start_redaction() -> Redactor:
    """Begin a run with nothing learnt (the CLI, at each invocation); kept until the next.

    Not restored at the end, unlike redaction_scope: a worker still in a request as
    the process exits must keep hiding what the run learnt.
    """
    _Scope.redactor = Redactor(MASK, name_is_secret)
    return _Scope.redactor


def register_secret(value: object, field: str | None = None) -> None:
    """Remember a secret value so that :func:`scrub` hides it from any output.

    field: the param that carries it; a very short value is hidden only there
    (and in any field whose name says it is secret), in every encoded form.
    """
    _Scope.redactor.add(value, field)


def forget_secrets() -> None:
    """Forget every value the current scope registered (a new run in the same scope)."""
    _Scope.redactor.clear()


def scrub(text: str) -> str:
    """Text with every registered secret, in any encoding, and any `Token xyz` value hidden."""
    if not text:
        return text
    return _TOKEN_HEADER.sub(r"\1" + MASK, _Scope.redactor.scrub(text))


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
    """A logging filter that scrubs secrets from every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Handlers filter before they format: format the traceback now so it is scrubbed too.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()
