"""One meaning of "the same object", for plan, apply, journal, report and verify.

A connector is known by its name; a connection by its target project and its
alias. Surrounding whitespace is not significant: SD Elements (Django REST
Framework's `CharField`) trims it on write, so an instance may hold
`" spaced name "` from before it trimmed, and the copy a migration makes of it
is `"spaced name"`. Both are the same object. Whitespace inside a name
(doubled spaces, a tab) is kept and significant, as the server keeps it.
"""

from __future__ import annotations

from typing import Any

ConnectionKey = tuple[int | None, str]


def name_key(name: Any) -> str:
    """A connector name or connection alias as matched (and as a trimming server stores it)."""
    return str(name or "").strip()


def same_name(a: Any, b: Any) -> bool:
    """Two names or aliases that mean the same object: a rename only if this is false."""
    return name_key(a) == name_key(b)


def connection_key(project: int | None, alias: Any) -> ConnectionKey:
    return (project, name_key(alias))


def connection_label(project: int | None, alias: Any) -> str:
    """The readable key of a connection ("project 44 / Sync 12"): plan, journal and report use it."""
    return f"project {project} / {name_key(alias)}"


def trimmed_on_write(name: Any) -> bool:
    """The target will store this name differently from the file: it trims surrounding whitespace."""
    return isinstance(name, str) and name != name_key(name)
