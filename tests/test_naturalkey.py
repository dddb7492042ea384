"""One natural key: surrounding whitespace is not significant, inner whitespace is."""

from __future__ import annotations

from almmigrate.naturalkey import (
    connection_key,
    connection_label,
    name_key,
    same_name,
    trimmed_on_write,
)


def test_surrounding_whitespace_is_not_significant() -> None:
    assert name_key(" spaced name ") == "spaced name"
    assert name_key("\tGitHub\n") == "GitHub"
    assert name_key(None) == ""
    assert same_name(" leading space #108", "leading space #108")
    assert connection_key(44, " Sync 12\n") == (44, "Sync 12")
    assert connection_label(44, " Sync 12 ") == "project 44 / Sync 12"


def test_inner_whitespace_and_case_are_significant() -> None:
    assert not same_name("Double  space", "Double space")
    assert not same_name("tab\tinside", "tab inside")
    assert not same_name("Jira", "jira")


def test_a_trimming_target_stores_some_names_differently() -> None:
    assert trimmed_on_write(" spaced name ")
    assert not trimmed_on_write("Doubled  spaces")
    assert not trimmed_on_write(None)
