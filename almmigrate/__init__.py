"""almmigrate: move SD Elements ALM connectors and connections in bulk."""

from __future__ import annotations

__version__ = "0.1.0"
FORMAT_VERSION = "1"
