"""The SD Elements objects almmigrate moves, as typed dataclasses.

`from_api` reads what the API returns; `to_api` builds what the API takes on
a write (a connection sends only its own params, never the derived `sde_*`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from almmigrate.schema import DERIVED_PARAMS


@dataclass
class BusinessUnit:
    id: int
    name: str
    slug: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> BusinessUnit:
        return cls(
            id=int(data["id"]), name=str(data.get("name") or ""), slug=str(data.get("slug") or "")
        )


@dataclass
class Application:
    id: int
    name: str
    slug: str = ""
    business_unit: BusinessUnit | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Application:
        unit = data.get("business_unit")
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            slug=str(data.get("slug") or ""),
            business_unit=BusinessUnit.from_api(unit) if isinstance(unit, Mapping) else None,
        )


@dataclass
class Project:
    id: int
    name: str
    slug: str = ""
    application: int | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Project:
        app = data.get("application")
        if isinstance(app, Mapping):
            app = app.get("id")
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            slug=str(data.get("slug") or ""),
            application=int(app) if app is not None else None,
        )


@dataclass
class Connector:
    name: str
    system: str
    params: dict[str, Any] = field(default_factory=dict)
    inaccessible: bool = False
    fields_editable_on_project: list[str] | None = None
    id: int | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Connector:
        system = data.get("system")
        editable = data.get("fields_editable_on_project")
        return cls(
            id=data.get("id"),
            name=str(data.get("name") or ""),
            system=str(system.get("id") if isinstance(system, Mapping) else system or ""),
            params=dict(data.get("params") or {}),
            inaccessible=bool(data.get("inaccessible")),
            fields_editable_on_project=list(editable) if editable is not None else None,
        )

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "system": {"id": self.system},
            "inaccessible": self.inaccessible,
            "params": dict(self.params),
        }
        if self.fields_editable_on_project is not None:
            body["fields_editable_on_project"] = list(self.fields_editable_on_project)
        return body


@dataclass
class Connection:
    alias: str
    connector: int | None
    project: int | None
    system: str = ""
    frequency: str = "manually"
    debug_mode: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    inaccessible: bool = False
    in_progress: bool = False
    command: str = ""
    last_job: dict[str, Any] | None = None
    id: int | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Connection:
        system = data.get("system")
        return cls(
            id=data.get("id"),
            alias=str(data.get("alias") or ""),
            connector=data.get("connector"),
            project=data.get("project"),
            system=str(system.get("id") if isinstance(system, Mapping) else system or ""),
            frequency=str(data.get("frequency") or "manually"),
            debug_mode=bool(data.get("debug_mode")),
            params=dict(data.get("params") or {}),
            inaccessible=bool(data.get("inaccessible")),
            in_progress=bool(data.get("in_progress")),
            command=str(data.get("command") or ""),
            last_job=dict(data["last_job"]) if isinstance(data.get("last_job"), Mapping) else None,
        )

    def own_params(self, connector_params: Mapping[str, Any]) -> dict[str, Any]:
        """The params this connection sets itself: not inherited, not derived."""
        return {
            name: value
            for name, value in self.params.items()
            if name not in DERIVED_PARAMS
            and not (name in connector_params and _same(connector_params[name], value))
        }

    def to_api(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "connector": self.connector,
            "project": self.project,
            "frequency": self.frequency,
            "debug_mode": self.debug_mode,
            "inaccessible": self.inaccessible,
            "params": {k: v for k, v in self.params.items() if k not in DERIVED_PARAMS},
        }


def _same(a: Any, b: Any) -> bool:
    """Equal with JSON types respected: 7 is not "7", True is not 1."""
    return type(a) is type(b) and a == b
