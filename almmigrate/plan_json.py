"""The plan as JSON (`plan --out`, the demo's plan.json): every object, never a secret value."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from almmigrate.errors import Problem
from almmigrate.files.atomic import write_text
from almmigrate.plan_types import Plan, PlanAction, PlanItem
from almmigrate.problems import as_rows
from almmigrate.secrets import scrub


def plan_to_json(plan: Plan, warnings: Sequence[Problem] = ()) -> dict[str, Any]:
    """The plan as JSON-ready data, with the file's warnings: never a secret value."""
    return {
        "summary": {
            **{action.value: plan.counts().get(action, 0) for action in PlanAction},
            "warnings": len(warnings),
        },
        "warnings": as_rows(warnings),
        "items": [_item_json(item) for item in plan.items],
    }


def _item_json(item: PlanItem) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": item.kind,
        "action": str(item.action),
        "key": item.key,
        "row": item.row,
        "source_id": item.source_id,
        "target_id": item.target_id,
    }
    if item.kind == "connection":
        data.update(project=item.project, alias=item.alias, connector_name=item.connector_name)
    if item.error:
        data["error"] = item.error
    if item.action == PlanAction.CREATE:
        data["body"] = item.redacted_body()
    data["changes"] = [
        {"field": c.field, "secret": True, "change": "(secret changed)"}
        if c.secret
        else {"field": c.field, "new": c.new}  # no "old": the target lacks the field
        if c.absent
        else {"field": c.field, "old": c.old, "new": c.new}
        for c in item.changes
    ]
    return data


def write_plan_json(path: str | Path, plan: Plan, warnings: Sequence[Problem] = ()) -> None:
    """Write the plan as JSON to `path` (secrets scrubbed from every value)."""
    text = json.dumps(plan_to_json(plan, warnings), indent=2, ensure_ascii=False, default=str)
    write_text(path, scrub(text) + "\n")
