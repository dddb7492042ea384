"""Files shipped with the tool: samples, templates and plugin schemas.

In a wheel they live under `almmigrate/_bundled/`; in a source checkout
(editable install) they are the repository's `samples/` and `templates/`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    inside = _PACKAGE / "_bundled" / name
    if inside.is_dir():
        return inside
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"the bundled {name}/ folder is missing from this installation")


def samples_dir() -> Path:
    return _bundled("samples")


def templates_dir() -> Path:
    return _bundled("templates")


def readme_path() -> Path | None:
    """The project's README.md in a source checkout; None in an installed wheel."""
    checkout = _PACKAGE.parent / "README.md"
    return checkout if not (_PACKAGE / "_bundled").is_dir() and checkout.is_file() else None
