"""Crafting a broken workbook from a good one: one member of its zip changed."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path


def copy_changing(
    source: Path,
    target: Path,
    member: str,
    change: Callable[[bytes], bytes],
    *,
    deflate: bool = False,
) -> Path:
    """A copy of the zip at source with change(data) for `member`, every member in its place.

    Each member keeps its own entry (so an .ods keeps its stored `mimetype` first),
    unless deflate: then every member is written compressed.
    """
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == member:
                data = change(data)
            if deflate:
                new.writestr(item.filename, data, zipfile.ZIP_DEFLATED)
            else:
                new.writestr(item, data)
    return target
