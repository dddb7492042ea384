"""What a server says when it refuses: a DRF-shaped error body reduced to a message and fields.

A server's text is shortened once, where it is read (a 2 MB error body must not
be repeated on every failed row of a report or of stderr), and always through
:func:`almmigrate.secrets.cut`: the run's secrets are hidden before the text is
cut, because a secret split by the cut is no longer recognisable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from almmigrate.secrets import cut

MESSAGE_LIMIT = 300  # characters kept of one message
FIELD_NAME_LIMIT = 100
FIELDS_LIMIT = 20  # field errors kept from one answer


@dataclass
class ErrorBody:
    """What a DRF-shaped error body says, reduced to a message and field errors."""

    message: str
    fields: dict[str, list[str]] = field(default_factory=dict)


def parse_error_body(body: Any, raw_text: str = "") -> ErrorBody:
    """Read a DRF-shaped error body: `detail`, then `error`, then `message`, then fields, then text.

    Every message is cut to MESSAGE_LIMIT characters (secrets hidden first) and at
    most FIELDS_LIMIT fields are kept.
    """
    if isinstance(body, dict):
        for key in ("detail", "error", "message"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return ErrorBody(cut(value.strip(), MESSAGE_LIMIT))
            if isinstance(value, list) and value:
                return ErrorBody(cut("; ".join(str(v) for v in value), MESSAGE_LIMIT))
        fields: dict[str, list[str]] = {}
        _flatten_fields(body, "", fields)
        if fields:
            kept = {
                cut(name, FIELD_NAME_LIMIT): [
                    cut(m, MESSAGE_LIMIT) for m in messages[:FIELDS_LIMIT]
                ]
                for name, messages in list(fields.items())[:FIELDS_LIMIT]
            }
            summary = "; ".join(f"{k}: {' '.join(v)}" for k, v in kept.items())
            if len(fields) > FIELDS_LIMIT:
                summary += f"; and {len(fields) - FIELDS_LIMIT} more fields"
            return ErrorBody(cut(summary, MESSAGE_LIMIT), kept)
    if isinstance(body, list) and body:
        return ErrorBody(cut("; ".join(str(v) for v in body), MESSAGE_LIMIT))
    return ErrorBody(cut(raw_text.strip(), MESSAGE_LIMIT))


def _flatten_fields(body: dict[str, Any], prefix: str, out: dict[str, list[str]]) -> None:
    for key, value in body.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten_fields(value, f"{name}.", out)
        elif isinstance(value, list):
            out[name] = [str(v) for v in value]
        elif value is not None:
            out[name] = [str(value)]
