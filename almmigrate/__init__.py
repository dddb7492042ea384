"""almmigrate: move SD Elements ALM connectors and connections in bulk."""

from __future__ import annotations

__version__ = "0.1.0"
FORMAT_VERSION = "1"  # of every file the tool writes (the JSON document, workbook _meta, templates)

# The pandas interface (almmigrate.frames), loaded on first use: the CLI never pays for pandas.
_FRAMES = (
    "dataset_to_frames",
    "export_frames",
    "import_frames",
    "plan_frames",
    "read_frames",
    "write_frames",
)
__all__ = ["FORMAT_VERSION", "__version__", *_FRAMES]


def __getattr__(name: str) -> object:
    if name in _FRAMES:
        from almmigrate import frames

        return getattr(frames, name)
    raise AttributeError(f"module 'almmigrate' has no attribute {name!r}")
