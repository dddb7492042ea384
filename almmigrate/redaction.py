"""Redaction: hide registered secret values in any text, in every form they travel in.

A server that refuses a request often echoes it back: as JSON (`\\"` and `\\\\`
escaped), as a Python repr (`'Pa\\\\ss'`), URL-encoded in a query or form body,
HTML-escaped in an error page, or inside an `Authorization: Basic` value
(base64 of `user:pass`). Matching only the exact value misses all of those, so
each registered value is searched for in each of its encoded forms, nested
two deep (JSON inside a repr, ...).

A very short secret (under :data:`MIN_FREE_LENGTH` characters, such as `Qz9`)
would blank unrelated text wherever it occurs, so it is hidden only where it
is the whole value of a field: `"alm_pass": "Qz9"`, `'alm_pass': 'Qz9'`,
`alm_pass=Qz9`, or the password half of a base64 `user:pass`.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

# Shorter values are hidden only as the whole value of a field (see the module docstring).
MIN_FREE_LENGTH = 4
_NESTING = 2  # a JSON-escaped repr, a URL-encoded JSON string, ...

# A run of base64 (standard or URL-safe alphabet) long enough to hold `u:pw`.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{6,}={0,2}")
_ANCHOR = re.compile(r"[A-Za-z0-9]{3,}")
# key, separator, then a quoted value (escape-aware, quotes possibly JSON-escaped) or a bare one.
# A key is looked for only from the start of a run of key characters (digits, dots and dashes
# before its first letter are passed over) and takes the whole run (no separator starts with a
# key character, so a shorter key never matches): trying every position of a long run of
# letters, each scanned to the run's end, took seconds for a few kilobytes.
_FIELD_VALUE = re.compile(
    r"""(?<![\w.-])[\d.-]*(?P<key>[A-Za-z_][\w.-]*+)(?P<sep>(?:\\?["'])?\s*[:=]\s*)"""
    r"""(?:(?P<q>\\?["'])(?P<quoted>(?:\\.|[^\\\n])*?)(?P=q)|(?P<bare>[^\s"'&,;)}\]\\]+))"""
)


def encoded_forms(value: str) -> set[str]:
    """The value as it may appear in text: raw, JSON-escaped, repr, URL-encoded, HTML-escaped.

    Forms of forms are included, two deep, so an escaped value inside another
    escaped document is found too.
    """
    forms = {value}
    for _ in range(_NESTING):
        for form in list(forms):
            forms.update(_one_level(form))
    forms.discard("")
    return forms


def _one_level(text: str) -> Iterable[str]:
    yield json.dumps(text)[1:-1]
    yield json.dumps(text, ensure_ascii=False)[1:-1]
    yield repr(text)[1:-1]
    yield repr(text.encode("utf-8"))[2:-1]
    yield quote(text, safe="")
    yield quote(text)
    yield quote_plus(text)
    yield html.escape(text)


@dataclass
class _Index:
    """What :meth:`Redactor.scrub` searches for; grows as values are registered."""

    # anchor (an ASCII run every textual form keeps) -> forms, longest first; "" for no anchor
    anchored: dict[str, list[str]] = field(default_factory=dict)
    raw_long: list[str] = field(default_factory=list)  # values hidden wherever they occur
    short_forms: set[str] = field(default_factory=set)  # forms of values hidden as a field's value
    short_raw: set[str] = field(default_factory=set)
    short_fields: set[str] = field(default_factory=set)  # field names that carried a short value

    def add(self, value: str, field_name: str | None) -> None:
        # Every attribute is replaced, never changed in place: a scrub running in
        # another thread keeps reading the objects it started with.
        forms = encoded_forms(value)
        if len(value) < MIN_FREE_LENGTH:
            self.short_forms = self.short_forms | forms
            self.short_raw = self.short_raw | {value}
            if field_name:
                self.short_fields = self.short_fields | {field_name}
            return
        runs = _ANCHOR.findall(value)
        anchor = max(runs, key=len) if runs else ""
        known = self.anchored.get(anchor, [])
        # Longest first: a value that contains another is replaced whole.
        longest_first = sorted(set(known) | forms, key=len, reverse=True)
        self.anchored = {**self.anchored, anchor: longest_first}
        self.raw_long = sorted([*self.raw_long, value], key=len, reverse=True)


class Redactor:
    """The secret values one run has learnt, and :meth:`scrub` that hides them.

    Thread-safe: workers register and scrub at the same time.
    """

    def __init__(self, mask: str, secret_name: Callable[[str], bool]) -> None:
        self.mask = mask
        self._secret_name = secret_name
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str | None]] = set()
        self._pending: list[tuple[str, str | None]] = []
        self._index = _Index()

    def add(self, value: object, field_name: str | None = None) -> None:
        """Remember a secret value (and the field that carries it) so scrub hides it."""
        if value is None or isinstance(value, bool):
            return
        text = str(value)
        if not text or text == self.mask:
            return
        key = (text, field_name if len(text) < MIN_FREE_LENGTH else None)
        with self._lock:
            if key not in self._seen:
                self._seen.add(key)
                self._pending.append(key)

    def copy(self) -> Redactor:
        """A new Redactor that knows every value this one knows, and learns on its own."""
        other = Redactor(self.mask, self._secret_name)
        with self._lock:
            other._seen = set(self._seen)
        other._pending = list(other._seen)
        return other

    def scrub(self, text: str) -> str:
        """Text with every form of every registered value replaced by the mask."""
        if not text:
            return text
        index = self._current_index()
        anchored, raw_long, short_raw = index.anchored, index.raw_long, index.short_raw
        for anchor, forms in anchored.items():
            if anchor and anchor not in text:
                continue
            for form in forms:
                if form in text:
                    text = text.replace(form, self.mask)
        if short_raw:
            text = _FIELD_VALUE.sub(lambda m: self._field_value(m, index), text)
        if raw_long or short_raw:
            text = _BASE64_RUN.sub(lambda m: self._base64(m.group(0), index), text)
        return text

    def reach(self) -> int:
        """The length of the longest form of a registered value (0 when none is)."""
        index = self._current_index()
        return max((len(form) for forms in index.anchored.values() for form in forms), default=0)

    def mask_tail(self, text: str) -> str:
        """Text cut short with the start of a registered value at its very end masked.

        Only the end of a text cut short can hold a secret's first part alone;
        :meth:`scrub` hides whole values, this hides what a cut left of one
        (MIN_FREE_LENGTH characters or more, in any of its encoded forms).
        """
        index = self._current_index()
        longest = 0
        for forms in index.anchored.values():
            for form in forms:
                longest = max(longest, _tail_overlap(text, form, longest))
        return text[: len(text) - longest] + self.mask if longest else text

    def _current_index(self) -> _Index:
        with self._lock:
            # Forms are worked out when first needed, not on every registration.
            for value, field_name in self._pending:
                self._index.add(value, field_name)
            self._pending.clear()
            return self._index

    def _field_value(self, match: re.Match[str], index: _Index) -> str:
        key = match.group("key")
        if key not in index.short_fields and not self._secret_name(key):
            return match.group(0)
        part = "quoted" if match.group("q") else "bare"
        if match.group(part) not in index.short_forms:
            return match.group(0)
        start, end = (i - match.start() for i in match.span(part))
        whole = match.group(0)
        return whole[:start] + self.mask + whole[end:]

    def _base64(self, run: str, index: _Index) -> str:
        decoded = _decode_base64(run)
        if decoded is None:
            return run
        if any(value in decoded for value in index.raw_long):
            return self.mask
        _, colon, password = decoded.partition(":")
        if colon and password in index.short_raw:
            return self.mask
        return run


def _tail_overlap(text: str, form: str, at_least: int) -> int:
    """The length of the longest start of `form` that ends `text` (longer than at_least), else 0."""
    for length in range(min(len(form), len(text)), max(at_least, MIN_FREE_LENGTH - 1), -1):
        if text.endswith(form[:length]):
            return length
    return 0


def _decode_base64(run: str) -> str | None:
    body = run.rstrip("=")
    if len(body) % 4 == 1:
        return None
    padded = body + "=" * (-len(body) % 4)
    altchars = b"-_" if ("-" in body or "_" in body) else None
    try:
        raw = base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", errors="replace")
