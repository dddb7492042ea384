"""What an import will do, object by object: the contract between `plan` and `apply`.

`plan` builds a :class:`Plan` from a Dataset and the target's Snapshot without
sending a write; `apply` carries it out and turns each :class:`PlanItem` into an
:class:`Outcome`. Neither holds a secret in a form that reaches a report: a
:class:`Change` on a secret field says only that it changed.

The import's vocabulary is defined here, once: :class:`Mode` (--mode),
:class:`Match` (--match), :class:`PlanAction` (what the plan will do) and
:class:`OutcomeAction` (what was done). They are str enums: a member is its
value in every file, report, JSON document and CLI choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from almmigrate.secrets import mask

Kind = Literal["connector", "connection"]


class Mode(StrEnum):
    """--mode: which writes an import may make."""

    UPSERT = "upsert"  # create what is missing, update what differs
    CREATE = "create"  # only create: objects already there are skipped
    UPDATE = "update"  # only update: missing ones fail


class Match(StrEnum):
    """--match: how a file's object finds its target object."""

    NAME = "name"  # natural key: connector name; project + alias
    ID = "id"  # the id column


class PlanAction(StrEnum):
    """What the plan will do with one object (in the order the plan's summary lists them)."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    ERROR = "error"


class OutcomeAction(StrEnum):
    """What applying one PlanItem did (in the order the run's summary lists them)."""

    CREATED = "created"
    UPDATED = "updated"
    ADOPTED = "adopted"  # its write got no answer, and the object was found on the target
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"
    PENDING = "pending"  # not sent: the run stopped before it


@dataclass(frozen=True)
class Change:
    """One field that differs: `old` and `new` are None for a secret (never shown)."""

    field: str  # "name", "frequency", "params.alm_server", ...
    old: Any = None
    new: Any = None
    secret: bool = False
    absent: bool = False  # the target does not hold the field at all (old is None)

    def describe(self) -> str:
        """`params.x: 'a' -> 'b'`; a null shows as null, a field the target lacks as (absent)."""
        if self.secret:
            return f"{self.field}: (secret changed)"
        old = "(absent)" if self.absent else _shown(self.old)
        return f"{self.field}: {old} -> {_shown(self.new)}"


def _shown(value: Any) -> str:
    """A value as a plan shows it: JSON's null for None, else Python's repr ('text', 7, True)."""
    return "null" if value is None else repr(value)


@dataclass
class PlanItem:
    kind: Kind
    action: PlanAction
    key: str  # human-readable natural key: connector name, or "project 12 / alias"
    row: int | None = None  # sheet row in the input file
    source_id: int | None = None  # the id in the file
    target_id: int | None = None  # the existing target object (update/unchanged)
    # What to send: the whole object for a create, only the changed fields for an
    # update (params holding only the changed params). Secrets are in clear here,
    # in memory only; never serialise `body` without `redacted_body()`.
    body: dict[str, Any] = field(default_factory=dict, repr=False)
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    # A connection's connector, by name on the target: resolved by `apply` when the
    # connector is created in the same run (its id is not known at plan time).
    connector_name: str | None = None
    project: int | None = None  # the target project id of a connection
    source_project: int | None = None  # the file's project id of a connection (before the map)
    alias: str | None = None
    secret_fields: frozenset[str] = frozenset()  # param names holding secrets

    def redacted_body(self) -> dict[str, Any]:
        """The body with its secrets masked (and registered) by secrets.mask, as an export masks."""
        body = dict(self.body)
        if "params" in body:
            body["params"] = mask(body["params"], None, secret=self.secret_fields)
        return body


@dataclass
class Plan:
    items: list[PlanItem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Items by action, keyed by plain strings (as the plan's JSON and summary show them)."""
        counts: dict[str, int] = {}
        for item in self.items:
            action = str(item.action)
            counts[action] = counts.get(action, 0) + 1
        return counts

    @property
    def has_errors(self) -> bool:
        return any(item.action == PlanAction.ERROR for item in self.items)


# Which run of a job did an object's action (a job resumed from its journal spans several).
THIS_RUN = "this run"
EARLIER_RUN = "earlier run"
# Sent by an earlier run that stopped before the answer came; this run found it on the target.
EARLIER_UNKNOWN = "earlier run, outcome unknown"


@dataclass
class Outcome:
    """What happened to one PlanItem when it was applied."""

    item: PlanItem
    action: OutcomeAction
    target_id: int | None = None
    attempts: int = 0
    status: int | None = None  # last HTTP status
    error: str | None = None
    note: str | None = None  # e.g. "created by an earlier run (journal)"; never a secret
    done_by: str = THIS_RUN  # which run did the action: THIS_RUN, EARLIER_RUN or EARLIER_UNKNOWN
