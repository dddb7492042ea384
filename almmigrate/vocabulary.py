"""One vocabulary, translated at the edges: ALM param names and Issue Tracker param names.

The Issue Tracker generation renames every `alm_<x>` param `issue_tracker_<x>`,
says `issue_tracker` where `conflict_policy` said `alm`, and adds
`issue_tracker_auth_mode` ("basic" or "api_token": which credentials a
connector uses). Params with other prefixes keep their names.

Files keep the names of the generation they came from (a person editing one
sees what their instance shows). Whatever goes to an instance is translated
here, just before validation and planning, and nowhere else:
:func:`to_generation` for a Dataset, :func:`translate_plugin` for a schema,
:func:`translate_params` for one object's params. Translation is by name, so it
is idempotent: a name already in the target's vocabulary stays as it is.

`last_successful_run` (on Issue Tracker connections) is written by the server:
like `last_job` it is never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from almmigrate.dataset import CONNECTIONS, CONNECTORS, META, PARAM_PREFIX, Dataset
from almmigrate.errors import Problem
from almmigrate.generation import (
    ALM_GENERATION,
    GENERATIONS,
    ISSUE_TRACKER_GENERATION,
    Generation,
)
from almmigrate.schema import SYSTEM, Field, Plugin

log = logging.getLogger(__name__)

AUTH_MODE = "issue_tracker_auth_mode"
CONFLICT_POLICY = "conflict_policy"
# Written by the server only; a client never sends them.
READ_ONLY_PARAMS = frozenset({"last_successful_run"})
META_KEY = "api"  # the `_meta` key naming the generation a file's names belong to

_PREFIXES = {g.api: g.prefix for g in GENERATIONS.values()}


# ---------------------------------------------------------------- names and values


def generation_of_name(name: str) -> Generation | None:
    """The generation whose vocabulary a param name belongs to; None for shared names."""
    for gen in (ISSUE_TRACKER_GENERATION, ALM_GENERATION):
        if name.startswith(gen.prefix):
            return gen
    return None


def param_name(name: str, to: Generation) -> str | None:
    """A param's name in `to`'s vocabulary; None when `to` has no such param."""
    own = generation_of_name(name)
    if own is None or own is to:
        return name
    if name == AUTH_MODE:
        return None  # the ALM generation has no auth mode: credentials say it all
    return to.prefix + name[len(own.prefix) :]


def counterpart(name: str) -> str | None:
    """The same param's name in the other generation (None for a shared name)."""
    own = generation_of_name(name)
    if own is None:
        return None
    other = ALM_GENERATION if own is ISSUE_TRACKER_GENERATION else ISSUE_TRACKER_GENERATION
    return param_name(name, other)


def param_value(name: str, value: Any, to: Generation) -> Any:
    """A value as `to` spells it: only `conflict_policy` ("alm" / "issue_tracker") changes."""
    policies = (ALM_GENERATION.conflict_value, ISSUE_TRACKER_GENERATION.conflict_value)
    if name == CONFLICT_POLICY and isinstance(value, str) and value in policies:
        return to.conflict_value
    return value


def translate_params(params: Mapping[str, Any], to: Generation) -> tuple[dict[str, Any], list[str]]:
    """(params in `to`'s vocabulary, names dropped because `to` has no counterpart).

    Read-only params are dropped too, silently: they are never sent.
    """
    out: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in params.items():
        if name in READ_ONLY_PARAMS:
            continue
        target = param_name(name, to)
        if target is None:
            dropped.append(name)
            continue
        out[target] = param_value(target, value, to)
    return out, dropped


def translate_names(names: list[str] | None, to: Generation) -> list[str] | None:
    """A list of param names (`fields_editable_on_project`) in `to`'s vocabulary."""
    if names is None:
        return None
    return [n for name in names if (n := param_name(name, to)) is not None]


def auth_mode_for(params: Mapping[str, Any]) -> str | None:
    """Which credentials Issue Tracker params hold: "api_token", "basic", or None for neither."""
    prefix = ISSUE_TRACKER_GENERATION.prefix

    def given(name: str) -> bool:
        return params.get(prefix + name) not in (None, "")

    if given("api_token"):
        return "api_token"
    if given("user") or given("pass"):
        return "basic"
    return None


# ---------------------------------------------------------------- schemas


def translate_plugin(plugin: Plugin, to: Generation) -> Plugin:
    """A plugin schema with its field names in `to`'s vocabulary (the same object if no change).

    Going to the Issue Tracker generation it gains `issue_tracker_auth_mode`
    (free text: the documented values are "basic" and "api_token", but the
    full list is not known, so no value is refused).
    """
    renamed = {f.name: param_name(f.name, to) for f in plugin.fields}
    add_mode = to is ISSUE_TRACKER_GENERATION and AUTH_MODE not in renamed.values()
    policy = plugin.field(CONFLICT_POLICY)
    policy_same = policy is None or all(
        param_value(CONFLICT_POLICY, o.value, to) == o.value for o in policy.options
    )
    if not add_mode and policy_same and all(old == new for old, new in renamed.items()):
        return plugin
    fields = [_field_in(f, new, to) for f in plugin.fields if (new := renamed[f.name]) is not None]
    raw = dict(plugin.raw)
    sections = [
        {
            **section,
            "fields": [
                _spec_in(spec, renamed.get(str(spec.get("name"))), to)
                for spec in section.get("fields") or ()
                if renamed.get(str(spec.get("name"))) is not None
            ],
        }
        for section in raw.get("sections") or ()
    ]
    if add_mode:
        mode = {
            "name": AUTH_MODE,
            "label": "Authentication mode",
            "field_type": "string",
            "required": False,
            "scope": [SYSTEM],
            "help_text": 'Which credentials the connector uses: "basic" or "api_token".',
        }
        fields.append(Field.from_api(mode, sections[0].get("label") if sections else None))
        if sections:
            sections[0]["fields"].append(mode)
    if sections:
        raw["sections"] = sections
    return replace(plugin, fields=tuple(fields), raw=raw)


def _field_in(spec: Field, name: str, to: Generation) -> Field:
    """A field renamed; `conflict_policy` also offers and defaults to `to`'s value."""
    if spec.name != CONFLICT_POLICY:
        return replace(spec, name=name)
    options = tuple(replace(o, value=param_value(name, o.value, to)) for o in spec.options)
    return replace(spec, name=name, options=options, default=param_value(name, spec.default, to))


def _spec_in(spec: Mapping[str, Any], name: str | None, to: Generation) -> dict[str, Any]:
    """A field's JSON (a plugin's raw form) renamed, like :func:`_field_in`."""
    out = {**spec, "name": name}
    if name == CONFLICT_POLICY:
        out["options"] = [
            {**o, "value": param_value(name, o.get("value"), to)} for o in spec.get("options") or ()
        ]
        out["default"] = param_value(name, spec.get("default"), to)
    return out


def plugin_generation(plugin: Plugin) -> Generation:
    """The generation whose names a schema uses (ALM when it uses only shared names)."""
    for spec in plugin.fields:
        own = generation_of_name(spec.name)
        if own is not None:
            return own
    return ALM_GENERATION


def translate_plugins(plugins: Mapping[str, Plugin], to: Generation) -> dict[str, Plugin]:
    return {system: translate_plugin(plugin, to) for system, plugin in plugins.items()}


# ---------------------------------------------------------------- files


def file_generation(
    meta: Mapping[str, str], columns: Mapping[str, Iterable[str]]
) -> tuple[Generation | None, list[Problem]]:
    """The generation a file's names belong to, and the problem when that cannot be told.

    meta: the `_meta` sheet; its `api` key wins when the names agree with it.
    columns: the param names used, by sheet. A file with no `_meta` (a template,
    a hand-made CSV) is read in the generation of the names it uses; one using
    both generations' names is an error naming the columns. None: the file uses
    only shared names (any generation reads it).
    """
    seen: dict[str, dict[str, list[str]]] = {}
    for sheet, names in columns.items():
        for name in names:
            own = generation_of_name(name)
            if own is not None:
                seen.setdefault(own.api, {}).setdefault(sheet, []).append(PARAM_PREFIX + name)
    declared = GENERATIONS.get(str(meta.get(META_KEY, "")).strip().lower())
    if len(seen) > 1:
        alm = _listed(seen[ALM_GENERATION.api])
        new = _listed(seen[ISSUE_TRACKER_GENERATION.api])
        message = (
            f"the file mixes ALM names ({alm}) and Issue Tracker names ({new}); "
            "use one generation's names throughout"
        )
        return declared, [Problem(message)]
    used = GENERATIONS[next(iter(seen))] if seen else None
    if declared is not None and used is not None and used is not declared:
        message = (
            f'the _meta sheet says api "{declared.api}" but the columns use {used.label} '
            f"names ({_listed(seen[used.api])}); correct the _meta sheet or the columns"
        )
        return declared, [Problem(message, sheet=META)]
    return declared or used, []


def _listed(by_sheet: Mapping[str, list[str]]) -> str:
    parts = []
    for sheet, names in by_sheet.items():
        shown = sorted(set(names))
        more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
        parts.append(f"{sheet}: {', '.join(shown[:3])}{more}")
    return "; ".join(parts)


def to_generation(dataset: Dataset, to: Generation) -> tuple[Dataset, list[Problem]]:
    """The dataset in `to`'s vocabulary, and warnings for what could not go.

    Read-only params are dropped (never sent). From the ALM generation to the
    Issue Tracker one, a connector gets `issue_tracker_auth_mode` from the
    credentials it holds unless it says so itself. The other way, the auth
    mode has no counterpart: dropped, with one warning.
    """
    source = GENERATIONS.get(dataset.meta.get(META_KEY, "")) or None
    crossing = source is not None and source is not to
    dropped: dict[str, list[int | None]] = {}
    connectors = []
    for record in dataset.connectors:
        params, lost = translate_params(record.params, to)
        for name in lost:
            dropped.setdefault(name, []).append(record.row)
        if crossing and to is ISSUE_TRACKER_GENERATION and AUTH_MODE not in params:
            mode = auth_mode_for(params)
            if mode is not None:
                params[AUTH_MODE] = mode
        editable = translate_names(record.fields_editable_on_project, to)
        if _same(params, record.params) and editable == record.fields_editable_on_project:
            connectors.append(record)
        else:
            connectors.append(replace(record, params=params, fields_editable_on_project=editable))
    connections = []
    for connection in dataset.connections:
        params, lost = translate_params(connection.params, to)
        for name in lost:
            dropped.setdefault(name, []).append(connection.row)
        # A record nothing changes is kept, not copied: 50,000 copies cost 20 MB.
        same = _same(params, connection.params)
        connections.append(connection if same else replace(connection, params=params))
    meta = {**dataset.meta, META_KEY: to.api}
    translated = replace(dataset, connectors=connectors, connections=connections, meta=meta)
    warnings = [
        Problem(
            f"{PARAM_PREFIX}{name} has no counterpart in the {to.label} generation: "
            f"not sent ({_rows(rows)})",
            severity="warning",
        )
        for name, rows in sorted(dropped.items())
    ]
    if crossing and source is not None:
        where = dataset.source or "the file"
        log.info("translating %s from %s names to %s names", where, source.label, to.label)
    return translated, warnings


def _same(translated: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    """True when translating changed nothing: the same names holding the very same values."""
    return len(translated) == len(params) and all(
        name in params and params[name] is value for name, value in translated.items()
    )


def _rows(rows: list[int | None]) -> str:
    numbered = [str(r) for r in rows if r is not None]
    noun = "row" if len(rows) == 1 else "rows"
    if not numbered:
        return f"{len(rows)} {noun}"
    more = f" and {len(numbered) - 5} more" if len(numbered) > 5 else ""
    return f"{noun} {', '.join(numbered[:5])}{more}"


def columns_as_in_file(problems: list[Problem], file: Generation | None) -> list[Problem]:
    """Problems found on a translated dataset, their columns named as the file names them."""
    if file is None:
        return problems
    out = []
    for problem in problems:
        column = problem.column
        if column and column.startswith(PARAM_PREFIX):
            name = param_name(column[len(PARAM_PREFIX) :], file)
            if name is not None:
                problem = replace(problem, column=PARAM_PREFIX + name)
        out.append(problem)
    return out


def sheets_params(dataset: Dataset) -> dict[str, list[str]]:
    """The param names each sheet of a dataset uses (for :func:`file_generation`)."""
    return {
        CONNECTORS: sorted({n for r in dataset.connectors for n in r.params}),
        CONNECTIONS: sorted({n for r in dataset.connections for n in r.params}),
    }
