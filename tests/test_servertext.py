"""A server's error body read into a message and fields, cut short with no secret split by the cut."""

from __future__ import annotations

import json

import pytest

from almmigrate.secrets import MASK, redaction_scope, register_secret
from almmigrate.servertext import MESSAGE_LIMIT, parse_error_body


def test_parse_detail_error_message_in_that_order():
    assert parse_error_body({"detail": "Not found.", "error": "x"}).message == "Not found."
    assert parse_error_body({"error": "Bad thing"}).message == "Bad thing"
    assert parse_error_body({"message": "Oops"}).message == "Oops"


def test_parse_field_map_keeps_fields():
    body = parse_error_body(
        {"params": {"alm_method": ['"gopher" is not one of https, http']}, "name": ["required"]}
    )
    assert body.fields == {
        "params.alm_method": ['"gopher" is not one of https, http'],
        "name": ["required"],
    }
    assert "params.alm_method" in body.message


def test_parse_raw_text_when_not_json():
    assert parse_error_body(None, "<html>Bad Gateway</html>").message == "<html>Bad Gateway</html>"
    assert parse_error_body(None, "x" * 1000).message == "x" * 300 + "... (700 more characters)"


SECRET = 'Pa\\ss"w0rd-Leak-4711-ABCDEFGH'


@pytest.mark.parametrize("start", range(MESSAGE_LIMIT - len(SECRET) - 2, MESSAGE_LIMIT + 2))
@pytest.mark.parametrize("shown", ["raw", "repr", "json"])
def test_a_secret_the_cut_would_split_is_hidden_whole(start: int, shown: str) -> None:
    form = {"raw": SECRET, "repr": repr(SECRET)[1:-1], "json": json.dumps(SECRET)[1:-1]}[shown]
    text = "x" * start + form + " and more"
    with redaction_scope():
        register_secret(SECRET, "alm_pass")
        for message in (
            parse_error_body(None, text).message,
            parse_error_body({"detail": text}).message,
            parse_error_body({"params": {"alm_pass": [text]}}).message,
            parse_error_body({"params": {"alm_pass": [text]}}).fields["params.alm_pass"][0],
        ):
            kept = message.split("... (")[0]
            # Not even the first 4 characters of the secret, in the form it was shown in.
            assert form[:4] not in kept.removeprefix("x" * start), message


def test_a_text_already_cut_inside_a_secret_has_that_start_masked() -> None:
    # The server (or the byte cap on its answer) cut the text inside the secret, so
    # the whole secret is nowhere to be found; our own cut then ends on its start.
    with redaction_scope():
        register_secret(SECRET, "alm_pass")
        cut_inside = parse_error_body(None, "z" * (MESSAGE_LIMIT - 10) + SECRET[:10] + "!" * 5)
    assert cut_inside.message == "z" * (MESSAGE_LIMIT - 10) + MASK + "... (5 more characters)"
