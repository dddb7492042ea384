"""Redaction finds a registered secret in every form a server or a report may show it."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus, urlencode

import pytest

from almmigrate.redaction import Redactor
from almmigrate.secrets import MASK, name_is_secret

SECRET = 'Pa\\ssw0rd"Leak-91'
SHORT = "Qz9"


@pytest.fixture
def redactor() -> Redactor:
    # Its own instance: nothing registered here reaches another test.
    found = Redactor(MASK, name_is_secret)
    found.add(SECRET, "alm_pass")
    found.add(SHORT, "alm_pass")
    return found


@pytest.mark.parametrize(
    "shown",
    [
        SECRET,
        repr({"alm_pass": SECRET}),
        json.dumps({"alm_pass": SECRET}),
        json.dumps(json.dumps({"alm_pass": SECRET})),  # JSON inside JSON
        repr(json.dumps({"alm_pass": SECRET})),  # JSON inside a repr
        repr(SECRET.encode()),
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        urlencode({"alm_user": "bob", "alm_pass": SECRET}),
        "&lt;td&gt;Pa\\ssw0rd&quot;Leak-91&lt;/td&gt;",
        "Authorization: Basic " + base64.b64encode(f"bob:{SECRET}".encode()).decode(),
        base64.urlsafe_b64encode(f"bob:{SECRET}".encode()).decode(),
    ],
)
def test_every_encoded_form_of_a_secret_is_hidden(redactor: Redactor, shown: str) -> None:
    scrubbed = redactor.scrub(f"400 Bad Request: {shown} (see log)")
    assert shown not in scrubbed and "ssw0rd" not in scrubbed, scrubbed
    assert scrubbed.startswith("400 Bad Request: ") and scrubbed.endswith(" (see log)")


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ('{"alm_pass":"Qz9"}', '{"alm_pass":"********"}'),
        ("{'alm_pass': 'Qz9', 'alm_user': 'Qz9'}", "{'alm_pass': '********', 'alm_user': 'Qz9'}"),
        ("alm_pass=Qz9&page=Qz9", "alm_pass=********&page=Qz9"),
        ('"{\\"alm_pass\\": \\"Qz9\\"}"', '"{\\"alm_pass\\": \\"********\\"}"'),
        # A secret-named field that did not carry it is hidden too; prose is not.
        ('{"api_token": "Qz9"}', '{"api_token": "********"}'),
        ("Qz9 is a project key; QZ9 and Qz99 too", "Qz9 is a project key; QZ9 and Qz99 too"),
        ("Basic " + base64.b64encode(b"bob:Qz9").decode(), "Basic ********"),
    ],
)
def test_a_short_secret_is_hidden_where_it_is_a_fields_value_only(
    redactor: Redactor, shown: str, expected: str
) -> None:
    assert redactor.scrub(shown) == expected


@pytest.mark.timeout(20)  # scanning every start of a long word was quadratic: hours for this
def test_long_runs_of_letters_are_scrubbed_in_one_pass(redactor: Redactor) -> None:
    # A server's page can hold hundreds of kilobytes of letters and digits (a base64 image).
    blob = "h1" * 100_000
    text = f'{blob} -alm_pass: "{SHORT}" 9alm_pass={SHORT} x.alm_pass: {SHORT} {blob}'
    assert redactor.scrub(text) == (
        f'{blob} -alm_pass: "{MASK}" 9alm_pass={MASK} x.alm_pass: {MASK} {blob}'
    )


def test_unrelated_text_and_other_base64_are_left_alone(redactor: Redactor) -> None:
    other = base64.b64encode(b"alice:something-else").decode()
    text = f"Unreachable host; request id {other}; passwords: 3 changed"
    assert redactor.scrub(text) == text


def test_values_registered_while_scrubbing_is_under_way_are_hidden_from_then_on() -> None:
    redactor = Redactor(MASK, name_is_secret)
    assert redactor.scrub("first-secret-value") == "first-secret-value"
    redactor.add("first-secret-value")
    redactor.add("another-secret-value")
    assert redactor.scrub("first-secret-value, another-secret-value") == f"{MASK}, {MASK}"


def test_a_longer_secret_holding_a_shorter_one_is_hidden_whole() -> None:
    redactor = Redactor(MASK, name_is_secret)
    redactor.add("hunter22")
    redactor.add("hunter22-and-more")
    assert redactor.scrub("pw hunter22-and-more") == f"pw {MASK}"


def test_a_copy_knows_what_the_original_knew_and_learns_on_its_own() -> None:
    original = Redactor(MASK, name_is_secret)
    original.add("long-secret-value-1")
    original.add("Qz9", "alm_pass")
    copy = original.copy()
    copy.add("copy-only-secret-2")
    shown = "long-secret-value-1 alm_pass=Qz9 copy-only-secret-2"
    assert copy.scrub(shown) == f"{MASK} alm_pass={MASK} {MASK}"
    assert original.scrub(shown) == f"{MASK} alm_pass={MASK} copy-only-secret-2"
