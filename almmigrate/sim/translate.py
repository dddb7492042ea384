"""The simulator in either generation: data files translated on load, write bodies checked.

Data files are written in ALM names (see almmigrate/DESIGN.md, "Simulator").
An Issue Tracker simulator serves the same objects under the Issue Tracker
paths and names: params renamed, `conflict_policy` "issue_tracker", and each
connector's `issue_tracker_auth_mode` set from the credentials it holds, as
the newer generation's documented examples show. A data file already in
Issue Tracker names loads unchanged (translation is by name).

What the newer generation does with a client that sends `last_successful_run`
is not known; the simulator refuses it (400, "read-only") so that a test sees
at once if the tool ever sends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from almmigrate.generation import ISSUE_TRACKER_GENERATION, Generation
from almmigrate.schema import Plugin
from almmigrate.vocabulary import (
    AUTH_MODE,
    READ_ONLY_PARAMS,
    auth_mode_for,
    translate_names,
    translate_params,
    translate_plugin,
)


def data_in(data: Mapping[str, Any], gen: Generation) -> dict[str, Any]:
    """A data file's objects (and custom plugins) in `gen`'s names."""
    out = dict(data)
    connectors = []
    for connector in data.get("connectors") or ():
        params, _ = translate_params(connector.get("params") or {}, gen)
        if gen is ISSUE_TRACKER_GENERATION and AUTH_MODE not in params:
            mode = auth_mode_for(params)
            if mode is not None:
                params[AUTH_MODE] = mode
        editable = translate_names(connector.get("fields_editable_on_project"), gen)
        connectors.append({**connector, "params": params, "fields_editable_on_project": editable})
    out["connectors"] = connectors
    out["connections"] = [
        {**c, "params": translate_params(c.get("params") or {}, gen)[0]}
        for c in data.get("connections") or ()
    ]
    if data.get("plugins") is not None:
        out["plugins"] = [
            translate_plugin(Plugin.from_api(p), gen).to_api() for p in data["plugins"]
        ]
    return out


def plugins_in(plugins: Mapping[str, Plugin], gen: Generation) -> dict[str, Plugin]:
    return {system: translate_plugin(plugin, gen) for system, plugin in plugins.items()}


def read_only_problems(body: Any) -> dict[str, Any] | None:
    """The 400 body for a write that sets a param only the server writes, else None."""
    params = body.get("params") if isinstance(body, Mapping) else None
    if not isinstance(params, Mapping):
        return None
    sent = sorted(name for name in params if name in READ_ONLY_PARAMS)
    if not sent:
        return None
    return {"params": {name: ["This field is read-only."] for name in sent}}


def last_successful_run(last_job: Any) -> str | None:
    """When a connection last synced successfully, from its last job (None if it has not)."""
    if isinstance(last_job, Mapping) and last_job.get("succeeded") is True:
        finished = last_job.get("last_run")
        return str(finished) if finished else None
    return None
