"""Plugin schemas: the params an ALM system takes, their types, and their rules.

One schema drives masking (which params are secret), validation (required by
scope, options, booleans, max_length), type coercion of spreadsheet cells, and
templates. The simulator validates writes with the same functions, so the tool
and its rehearsal server agree on what is valid.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from typing import Any

from almmigrate.files.cells import MAX_EXACT_INT
from almmigrate.secrets import MASK, name_is_secret

SYSTEM = "system"
PROJECT = "project"

# Params the server derives from the project; never written by a client.
DERIVED_PARAMS = frozenset({"sde_project", "sde_application", "sde_businessunit"})

CHOICE_TYPES = frozenset({"radio", "select"})
TEXT_TYPES = frozenset({"string", "masked_string", "text", "textarea", "url", "password"})


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    disabled: bool = False


@dataclass(frozen=True)
class Field:
    """One param of a plugin, as `/api/v2/plugins/alm/` describes it."""

    name: str
    label: str = ""
    field_type: str = "string"
    required: bool = False
    default: Any = None
    options: tuple[Option, ...] = ()
    max_length: int | None = None
    scope: tuple[str, ...] = (SYSTEM,)
    help_text: str = ""
    description: str = ""
    placeholder: str | None = None
    readonly: bool = False
    deprecated: bool = False
    section: str | None = None

    @property
    def is_secret(self) -> bool:
        return self.field_type == "masked_string" or name_is_secret(self.name)

    @property
    def choices(self) -> tuple[str, ...]:
        """The values a person may choose (disabled options excluded)."""
        return tuple(o.value for o in self.options if not o.disabled)

    def in_scope(self, scope: str) -> bool:
        return scope in self.scope

    @classmethod
    def from_api(cls, data: Mapping[str, Any], section: str | None = None) -> Field:
        return cls(
            name=str(data["name"]),
            label=str(data.get("label") or ""),
            field_type=str(data.get("field_type") or "string"),
            required=bool(data.get("required")),
            default=data.get("default"),
            options=tuple(
                Option(str(o.get("value")), str(o.get("label") or ""), bool(o.get("disabled")))
                for o in data.get("options") or ()
            ),
            max_length=data.get("max_length"),
            scope=tuple(data.get("scope") or (SYSTEM,)),
            help_text=str(data.get("help_text") or ""),
            description=str(data.get("description") or ""),
            placeholder=data.get("placeholder"),
            readonly=bool(data.get("readonly")),
            deprecated=bool(data.get("deprecated")),
            section=section,
        )


@dataclass(frozen=True)
class Plugin:
    """The schema of one ALM system."""

    id: str
    name: str
    short_name: str = ""
    command: str = ""
    fields: tuple[Field, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def field(self, name: str) -> Field | None:
        return self._by_name().get(name)

    def _by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def fields_in_scope(self, scope: str) -> list[Field]:
        return [f for f in self.fields if f.in_scope(scope)]

    def secret_names(self) -> frozenset[str]:
        return self._secret_names

    @cached_property
    def _secret_names(self) -> frozenset[str]:
        # Asked for every row an export masks: worked out once per plugin.
        return frozenset(f.name for f in self.fields if f.is_secret)

    def project_editable(self) -> set[str]:
        """Params a connection may set when its connector does not say otherwise."""
        return {f.name for f in self.fields if f.in_scope(PROJECT)}

    def to_api(self) -> dict[str, Any]:
        return dict(self.raw)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Plugin:
        fields = tuple(
            Field.from_api(f, section.get("label"))
            for section in data.get("sections") or ()
            for f in section.get("fields") or ()
        )
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or data["id"]),
            short_name=str(data.get("short_name") or ""),
            command=str(data.get("command") or ""),
            fields=fields,
            raw=dict(data),
        )


@cache
def bundled_plugins() -> dict[str, Plugin]:
    """The plugin schemas shipped with the tool, by system id."""
    folder = resources.files("almmigrate") / "data" / "plugins"
    plugins = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            plugin = Plugin.from_api(json.loads(entry.read_text(encoding="utf-8")))
            plugins[plugin.id] = plugin
    return plugins


def is_secret(name: str, plugin: Plugin | None = None) -> bool:
    """A param is secret when the schema types it masked_string or its name says so."""
    if name_is_secret(name):
        return True
    found = plugin.field(name) if plugin else None
    return bool(found and found.is_secret)


# ---------------------------------------------------------------- validation


def check_value(spec: Field, value: Any) -> str | None:
    """Why a typed (API) value is not valid for a field, or None when it is."""
    if value is None:
        return None
    kind = spec.field_type
    if kind == "boolean":
        return None if isinstance(value, bool) else "Must be a valid boolean."
    if kind == "integer":
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value))
        ):
            return "A valid integer is required."
        return None
    if kind in CHOICE_TYPES and spec.options:
        if isinstance(value, bool) or str(value) not in spec.choices:
            return f'"{value}" is not one of {", ".join(spec.choices)}'
        return None
    if kind == "checkbox" and spec.options:
        if not isinstance(value, str):
            return "Must be a comma-separated list of values."
        bad = [v for v in split_checkbox(value) if v not in spec.choices]
        if bad:
            return f'"{bad[0]}" is not one of {", ".join(spec.choices)}'
        return None
    if kind in TEXT_TYPES or kind == "checkbox":
        if is_number(value):
            return None  # params are JSON: instances hold numbers in text fields, and keep them
        if not isinstance(value, str):
            return "Not a valid string."
        if spec.max_length is not None and len(value) > spec.max_length:
            return f"Ensure this field has no more than {spec.max_length} characters."
    return None


def is_number(value: Any) -> bool:
    """An int or float, not a bool (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def split_checkbox(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def validate_params(
    plugin: Plugin,
    params: Mapping[str, Any],
    *,
    scope: str,
    creating: bool,
    inherited: Mapping[str, Any] | None = None,
) -> dict[str, list[str]]:
    """Problems with params written to one object, as DRF-style `{param: [message]}`.

    scope: SYSTEM for a connector, PROJECT for a connection.
    creating: when true, required params in scope must be present (here or inherited).
    inherited: for a connection, its connector's params (they satisfy "required").
    Only what is certainly wrong is here (a value its field cannot hold, a
    required param missing on a create); what the schema merely doubts is
    :func:`param_doubts`, and unknown params are for callers to warn about.
    """
    problems: dict[str, list[str]] = {}
    for name, value in params.items():
        spec = plugin.field(name)
        if spec is None or name in DERIVED_PARAMS:
            continue
        message = check_value(spec, value)
        if message:
            problems.setdefault(name, []).append(message)
    if creating:
        present = dict(inherited or {})
        present.update(params)
        for spec in plugin.fields_in_scope(scope):
            if spec.required and _is_blank(present.get(spec.name)):
                problems.setdefault(spec.name, []).append("This field is required.")
    return problems


CONNECTOR_SCOPE_DOUBT = (
    "the plugin schema sets this param on the connector, not on a connection; "
    "it will be sent as is and the target decides"
)
READ_ONLY_DOUBT = "the plugin schema marks this param read-only; it will be sent as is"
DEPRECATED_DOUBT = "the plugin schema marks this param deprecated; it will be sent as is"


def param_doubts(
    plugin: Plugin,
    params: Mapping[str, Any],
    *,
    scope: str,
    editable: set[str] | None = None,
) -> dict[str, list[str]]:
    """What the schema doubts about params that a real instance may well hold.

    A connection holding its own value for a connector-scope param, a
    read-only or a deprecated param: older instances carry all of these, so
    they are warnings (sent as the source holds them), never refusals.
    editable: for a connection, its connector's fields_editable_on_project
    (default: the plugin's project-scope fields).
    """
    doubts: dict[str, list[str]] = {}
    allowed = editable if editable is not None else plugin.project_editable()
    for name in params:
        spec = plugin.field(name)
        if spec is None or name in DERIVED_PARAMS:
            continue
        if scope == PROJECT and name not in allowed and not spec.in_scope(PROJECT):
            doubts.setdefault(name, []).append(CONNECTOR_SCOPE_DOUBT)
        if spec.readonly:
            doubts.setdefault(name, []).append(READ_ONLY_DOUBT)
        if spec.deprecated:
            doubts.setdefault(name, []).append(DEPRECATED_DOUBT)
    return doubts


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


# ---------------------------------------------------------------- coercion

_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


class CoercionError(ValueError):
    """A cell cannot be read as the type its field needs."""


_TEXT_ONLY = TEXT_TYPES | {"checkbox"}


def coerce_cell(spec: Field | None, value: Any) -> Any:
    """Type a spreadsheet cell by its field, where the file lost the type.

    Typed cells (bool, int, float from xlsx or JSON) keep their type unless the
    field says otherwise; text cells become booleans or integers only when the
    field is boolean or integer. Select, radio, checkbox and text stay text, so
    `007`, `NaN` and `TRUE` in a text field survive. The mask stays the mask.
    """
    if value is None or value == MASK:
        return value
    kind = spec.field_type if spec else None
    if kind == "boolean":
        return _to_bool(value)
    if kind == "integer":
        return _to_int(value)
    if isinstance(value, int) and not isinstance(value, bool) and kind in _TEXT_ONLY:
        return str(value)  # 12345 typed into a text cell: the API holds only text there
    if isinstance(value, float) and kind is not None and math.isfinite(value):
        # Spreadsheets store whole numbers as 7.0; a text or choice field means "7".
        whole = int(value) if value.is_integer() else None
        if kind in CHOICE_TYPES or kind in _TEXT_ONLY:
            return str(whole) if whole is not None else repr(value)
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return int(value)
    return value


def param_from_cell(spec: Field | None, value: Any, *, text_only: bool) -> Any:
    """A param's cell as it is sent: in the JSON type the file holds it in.

    text_only (CSV, where every cell is text): the schema types it (coerce_cell):
    a boolean or integer field's text becomes a boolean or an integer; any other
    text is sent as text, and the target decides.
    A workbook's cell (or a pandas frame's) keeps its type, text, number or boolean,
    wherever its field takes that type (check_value), a whole number as an integer
    (a spreadsheet stores 7 as 7.0): text "5" in an integer field and 12345 in a
    text field arrive as the source held them. Only a cell its field cannot hold
    (TRUE typed as text in a boolean field) is typed by the schema, as CSV text is.
    Raises CoercionError for a cell that cannot be typed.
    """
    if text_only or value is None or value == MASK:
        return coerce_cell(spec, value)
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_EXACT_INT:
        value = int(value)  # a spreadsheet's 7.0; a bigger one has lost digits: kept a float
    if spec is None or check_value(spec, value) is None:
        return value
    return coerce_cell(spec, value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CoercionError(f'"{value}" is not a boolean (use TRUE or FALSE)')


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise CoercionError(f'"{value}" is not a whole number')
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise CoercionError(f'"{value}" is not a whole number')
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d+(\.0+)?", text):
        return int(float(text)) if "." in text else int(text)
    raise CoercionError(f'"{value}" is not a whole number')
