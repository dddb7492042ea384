"""Carry out a Plan on the target: the only module that writes to an instance.

Connectors go first, then connections (a connection whose connector is created
in the same run gets that connector's new id). The two stages share one stream:
connections are queued right behind the connectors and only one whose connector
is still being written waits for it, so the pipe never empties at the stage
boundary (`ApplySummary.stage_gap` measures it). Items run on a thread pool under
the client's one shared rate limit; a 429 pauses every worker (the client's
limiter does that). Creates are POSTs, updates PATCH only the changed fields,
unchanged items send nothing.

Exactly once: a create whose outcome is unknown (the client raises
:class:`OutcomeUnknown`) is never re-sent blind. The target is searched by the
natural key first (connector by name, connection by project and alias) and
what is there is adopted; only when it is certainly absent is the POST sent
again. With a journal, the same lookup guards every object an earlier,
killed run had in flight.

A run stops at once, sending nothing more, when going on cannot help: the token
is refused (authentication lost mid-run), the instance keeps failing after every
retry or asks to wait longer than `--max-wait`, the journal cannot be written, or
the user pressed Ctrl-C. What it finished is returned as usual; what it never
sent is `pending`, and :attr:`ApplyResult.stopped` says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from almmigrate.errors import AlmMigrateError, ApiError, ConnectionProblem, OutcomeUnknown
from almmigrate.interrupts import await_unless_pressed_again
from almmigrate.journal import Journal, JournalEntry
from almmigrate.naturalkey import name_key, same_name
from almmigrate.plan_types import (
    EARLIER_RUN,
    EARLIER_UNKNOWN,
    THIS_RUN,
    Outcome,
    OutcomeAction,
    Plan,
    PlanAction,
    PlanItem,
)
from almmigrate.ratelimit import Slots
from almmigrate.secrets import scrub, worker_pool

if TYPE_CHECKING:
    from almmigrate.instance import Client

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]  # (objects done, objects in all)
OutcomeCallback = Callable[[Outcome], None]  # each outcome as it is known


@dataclass
class ApplySummary:
    """What a run did and how fast: the head of every report."""

    counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    elapsed: float = 0.0
    # The adaptive controller's last pacing rate and the limit it found (None: fixed pacing).
    settled_rate: float | None = None
    limit_found: float | None = None
    # Seconds from the last connector's answer to the first connection's send (negative:
    # they overlapped), and seconds with no request in flight; None when not measured.
    stage_gap: float | None = None
    idle: float | None = None

    @property
    def rate(self) -> float:
        """Achieved requests per second over the run."""
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    earlier: int = 0  # objects whose action an earlier run of the journal did

    @property
    def failed(self) -> int:
        return self.counts.get(OutcomeAction.FAILED, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            # "pending" only when a run stopped early: a finished run has none to show.
            **{
                a.value: self.counts.get(a, 0)
                for a in OutcomeAction
                if a != OutcomeAction.PENDING or self.counts.get(a)
            },
            "total": sum(self.counts.values()),
            "by_earlier": self.earlier,
            "requests": self.requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "elapsed_s": round(self.elapsed, 3),
            "rate_per_s": round(self.rate, 2),
            "settled_rate_per_s": _rounded(self.settled_rate),
            "limit_found_per_s": _rounded(self.limit_found),
        }


class RunStopped(AlmMigrateError):
    """Why a run stopped before its end; `cause` is the error that stopped it, if any."""

    exit_code = 3

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class Interrupted(RunStopped):
    """Ctrl-C: the user stopped the run."""

    exit_code = 130


class OutputFailed(RunStopped):
    """A file of the run (the journal) could not be written mid-run."""


def _rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


@dataclass
class ApplyResult:
    outcomes: list[Outcome]
    summary: ApplySummary
    stopped: RunStopped | None = None  # None when every item was tried

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == OutcomeAction.FAILED]

    @property
    def pending(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == OutcomeAction.PENDING]


def stops_run(error: ApiError) -> bool:
    """True for an error no other row can escape: token refused, instance gone or failing."""
    return isinstance(error, ConnectionProblem) or error.gave_up


class _Stop:
    """The first reason to stop a run, shared by every worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reason: RunStopped | None = None

    def set(self, reason: RunStopped) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason

    def __bool__(self) -> bool:
        return self.reason is not None


def apply_plan(
    client: Client,
    plan: Plan,
    *,
    concurrency: int = 4,
    batch_size: int = 50,
    journal: Journal | None = None,
    on_progress: ProgressCallback | None = None,
    max_sends: int = 6,
    on_outcome: OutcomeCallback | None = None,
) -> ApplyResult:
    """Apply every item of a plan; a failing item never stops the others.

    concurrency: worker threads (the client's rate limit is shared by all).
    batch_size: objects per journal batch (their outcomes are fsync'd together).
    journal: resume state and progress record; None for no journal.
    max_sends: how many times one create may be sent when each outcome is unknown
        and the lookup afterwards finds nothing.
    on_outcome: called with each outcome as it is known (from worker threads).
    """
    before = _stats(client)
    idle_before = _idle(client)
    started = time.monotonic()
    stop = _Stop()
    applier = _Applier(client, journal, max_sends, stop)
    runner = _BatchRunner(
        applier, concurrency, max(1, batch_size), journal, on_progress, len(plan.items), stop
    )
    runner.on_outcome = on_outcome
    limiter = getattr(client, "limiter", None)
    if limiter is not None and limiter.controller is not None:
        runner.slots = Slots(limiter.allowance)
    connectors = [i for i in plan.items if i.kind == "connector"]
    connections = [i for i in plan.items if i.kind != "connector"]
    outcomes = runner.run(connectors + connections)
    after = _stats(client)
    idle_after = _idle(client)
    status = client.rate_status() if hasattr(client, "rate_status") else None
    requests = after["requests"] - before["requests"]
    summary = ApplySummary(
        counts=_count(outcomes),
        earlier=sum(1 for o in outcomes if o.done_by != THIS_RUN),
        requests=requests,
        retries=after["retries"] - before["retries"],
        throttled=after["throttled"] - before["throttled"],
        elapsed=time.monotonic() - started,
        # With nothing sent to apply the controller settled on nothing: the rate it reached
        # while reading, never refused, is no rate the server was seen to accept.
        settled_rate=status.rate if status is not None and requests else None,
        limit_found=status.limit if status is not None else None,
        stage_gap=runner.stage_gap(),
        idle=idle_after - idle_before
        if idle_after is not None and idle_before is not None
        else None,
    )
    if journal is not None and not summary.failed and not stop:
        try:
            journal.finish()
        except OSError as error:
            stop.set(_journal_failed(journal, error))
    return ApplyResult(outcomes, summary, stop.reason)


def _journal_failed(journal: Journal, error: OSError) -> OutputFailed:
    return OutputFailed(
        f"cannot write the journal {journal.path}: {error.strerror or error}; "
        "the run stopped so that no write goes unrecorded",
        error,
    )


def _stats(client: Client) -> dict[str, int]:
    snapshot = client.stats.snapshot()
    return {k: int(snapshot.get(k, 0) or 0) for k in ("requests", "retries", "throttled")}


def _idle(client: Client) -> float | None:
    limiter = getattr(client, "limiter", None)
    return float(limiter.stats().idle) if limiter is not None else None


def _count(outcomes: Sequence[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        action = str(outcome.action)  # plain strings, as the report and as_dict show them
        counts[action] = counts.get(action, 0) + 1
    return counts


def writes(item: PlanItem) -> bool:
    """True when applying the item sends a write."""
    return item.action in (PlanAction.CREATE, PlanAction.UPDATE)


# Batches queued beyond the one awaited: one slow item (a retry backing off) must
# not leave the other workers idle at a batch boundary.
WINDOW = 3


class _BatchRunner:
    """Feeds items to the pool batch by batch and journals each batch once it is whole.

    Up to WINDOW more batches are queued while the oldest is awaited, so workers
    never idle at a batch boundary; each batch is marked started in the journal
    before any of its writes is sent. Once the run is stopped, no batch is queued
    and queued items come back `pending` without sending anything.
    """

    def __init__(
        self,
        applier: _Applier,
        concurrency: int,
        batch_size: int,
        journal: Journal | None,
        on_progress: ProgressCallback | None,
        total: int,
        stop: _Stop,
    ) -> None:
        self.applier = applier
        self.concurrency = max(1, concurrency)
        self.batch_size = batch_size
        self.journal = journal
        self.on_progress = on_progress
        self.total = total
        self.stop = stop
        self.done = 0
        self.on_outcome: OutcomeCallback | None = None
        self.slots: Slots | None = None
        self._lock = threading.Lock()
        # Connectors written in this run, by name: a connection that needs one waits for it.
        self._connectors: dict[str, threading.Event] = {}
        self._last_connector: float | None = None
        self._first_connection: float | None = None

    def stage_gap(self) -> float | None:
        """Seconds from the last connector's answer to the first connection's send."""
        if self._last_connector is None or self._first_connection is None:
            return None
        return self._first_connection - self._last_connector

    def run(self, items: list[PlanItem]) -> list[Outcome]:
        self._connectors = {
            _connector_name(i): threading.Event()
            for i in items
            if i.kind == "connector" and writes(i)
        }
        outcomes: list[Outcome] = []
        pending: deque[list[tuple[PlanItem, Future[Outcome]]]] = deque()
        queued = 0
        pool = worker_pool(self.concurrency, thread_name_prefix="apply")
        try:
            for start in range(0, len(items), self.batch_size):
                if self.stop:
                    break
                batch = items[start : start + self.batch_size]
                if not self._journal_started(batch):
                    break
                pending.append([(item, pool.submit(self._one, item)) for item in batch])
                queued = start + len(batch)
                while len(pending) > WINDOW:
                    outcomes += self._finish(pending[0])
                    pending.popleft()  # only once finished: Ctrl-C meanwhile keeps it queued
            while pending:
                outcomes += self._finish(pending[0])
                pending.popleft()
        except KeyboardInterrupt as interrupt:
            # Ctrl-C: send nothing more; what is in flight is awaited (a second Ctrl-C stops
            # the waiting) and the journal's start events make the next run look it up.
            self.stop.set(Interrupted("interrupted (Ctrl-C)", interrupt))
            pool.shutdown(wait=False, cancel_futures=True)
            known = {id(outcome.item) for outcome in outcomes}
            outcomes += [o for o in self._after_interrupt(pending) if id(o.item) not in known]
        pool.shutdown(wait=not isinstance(self.stop.reason, Interrupted))
        outcomes += [self._not_sent(item) for item in items[queued:]]
        return outcomes

    def _journal_started(self, batch: list[PlanItem]) -> bool:
        if self.journal is None:
            return True
        try:
            self.journal.started((i.kind, i.key) for i in batch if self._may_send(i))
        except OSError as error:
            self.stop.set(_journal_failed(self.journal, error))
            return False
        return True

    def _after_interrupt(
        self, pending: deque[list[tuple[PlanItem, Future[Outcome]]]]
    ) -> list[Outcome]:
        """Outcomes of the queued batches after Ctrl-C: finished ones, the rest pending.

        Nothing is journaled as done here: the next run looks every one of them up.
        """
        queued = [pair for batch in pending for pair in batch]
        await_unless_pressed_again([future for _, future in queued])
        return [
            future.result()
            if future.done() and not future.cancelled()
            else self._not_sent(item, in_flight=future.running())
            for item, future in queued
        ]

    def _not_sent(self, item: PlanItem, *, in_flight: bool = False) -> Outcome:
        why = self.stop.reason.message if self.stop.reason else "the run stopped"
        if in_flight:
            note = f"in flight when the run stopped ({why}): the next run looks it up"
        else:
            note = f"not sent: the run stopped before it ({why})"
        return Outcome(item, OutcomeAction.PENDING, target_id=item.target_id, note=note)

    def _may_send(self, item: PlanItem) -> bool:
        """True when the item may send a write in this run (an update done earlier does not)."""
        return writes(item) and done_earlier(self.journal, item) is None

    def _one(self, item: PlanItem) -> Outcome:
        if item.kind != "connector" and writes(item):
            waiting = self._connectors.get(item.connector_name or "")
            if waiting is not None:
                waiting.wait()  # its connector was queued first, so it is under way
            with self._lock:
                if self._first_connection is None:
                    self._first_connection = time.monotonic()
        try:
            # No more objects under way than requests may be in flight: a stop (a token
            # revoked) is then seen by every object not yet sent, however many threads wait.
            with self.slots.hold() if self.slots is not None else nullcontext():
                outcome = self._not_sent(item) if self.stop else self.applier.apply(item)
        finally:
            if item.kind == "connector" and writes(item):
                with self._lock:
                    self._last_connector = time.monotonic()
                self._connectors[_connector_name(item)].set()
        if self.on_outcome is not None and outcome.action != OutcomeAction.PENDING:
            self.on_outcome(outcome)
        if self.on_progress is not None and outcome.action != OutcomeAction.PENDING:
            with self._lock:
                self.done += 1
                done = self.done
            self.on_progress(done, self.total)
        return outcome

    def _finish(self, batch: list[tuple[PlanItem, Future[Outcome]]]) -> list[Outcome]:
        outcomes = [future.result() for _, future in batch]
        if self.journal is not None and not isinstance(self.stop.reason, OutputFailed):
            try:
                self.journal.recorded(
                    JournalEntry(o.item.kind, o.item.key, o.action, o.target_id)
                    for o in outcomes
                    if self._may_send(o.item) and o.action != OutcomeAction.PENDING
                )
            except OSError as error:
                self.stop.set(_journal_failed(self.journal, error))
        return outcomes


def done_earlier(journal: Journal | None, item: PlanItem) -> JournalEntry | None:
    """The journal's record of an update an earlier, unfinished run already sent, if it is to be skipped.

    The plan is a live diff, so a change it still shows to a field it can compare
    means the target differs now (the file was edited again since): that update
    is sent. Only changes it cannot confirm, to secrets a target may not show,
    are taken as done on the journal's word.
    """
    if journal is None or item.action != PlanAction.UPDATE:
        return None
    if not item.changes or not all(change.secret for change in item.changes):
        return None
    return journal.done(item.kind, item.key)


class _Applier:
    """Turns one PlanItem into an Outcome, sending what it needs to."""

    def __init__(
        self, client: Client, journal: Journal | None, max_sends: int, stop: _Stop
    ) -> None:
        self.client = client
        self.journal = journal
        self.stop = stop
        self.max_sends = max(1, max_sends)
        self._lock = threading.Lock()
        # Connector name -> target id, for connectors created or found in this run.
        self.connector_ids: dict[str, int] = {}
        # Listed once this run (under _listing_lock, so a listing does not hold up _lock):
        # connectors by name, and project (None: all) -> connections.
        self._listing_lock = threading.Lock()
        self._target_connectors: dict[str, list[int]] | None = None
        self._target_connections: dict[Any, list[dict[str, Any]]] = {}

    def apply(self, item: PlanItem) -> Outcome:
        sent_before = self.client.writes_sent()
        try:
            outcome = self._apply(item)
        except ApiError as error:
            outcome = _failed(item, error)
            if stops_run(error):
                self.stop.set(RunStopped(error.message, error))
        except Exception as error:  # a bug must fail one row, not the run
            log.debug("unexpected error applying %s %s", item.kind, item.key, exc_info=True)
            outcome = Outcome(
                item, OutcomeAction.FAILED, error=scrub(f"{type(error).__name__}: {error}")
            )
        # Every write this object cost, the client's own retries of 429/503 included.
        outcome.attempts = self.client.writes_sent() - sent_before
        if (
            item.kind == "connector"
            and outcome.target_id is not None
            and outcome.action != OutcomeAction.FAILED
        ):
            with self._lock:
                self.connector_ids[_connector_name(item)] = outcome.target_id
        return outcome

    def _apply(self, item: PlanItem) -> Outcome:
        if item.action == PlanAction.UNCHANGED:
            return self._unchanged(item)
        if item.action == PlanAction.SKIPPED:
            return Outcome(item, OutcomeAction.SKIPPED, target_id=item.target_id, note=item.error)
        if item.action == PlanAction.ERROR:
            return Outcome(item, OutcomeAction.FAILED, target_id=item.target_id, error=item.error)
        earlier = self.journal.done(item.kind, item.key) if self.journal else None
        sent_earlier = done_earlier(self.journal, item)
        if sent_earlier is not None:
            return Outcome(
                item,
                OutcomeAction.UPDATED,
                target_id=sent_earlier.target_id,
                note="updated by an earlier run (journal)",
                done_by=EARLIER_RUN,
            )
        if item.action == PlanAction.UPDATE:
            return self._update(item)
        if item.action == PlanAction.CREATE:
            return self._create(item, check_first=earlier is not None or self._was_in_flight(item))
        return Outcome(item, OutcomeAction.FAILED, error=f"unknown plan action {item.action!r}")

    def _unchanged(self, item: PlanItem) -> Outcome:
        """Nothing to send; on a resumed job, the earlier run's action when it made it so.

        The plan compares with the target as it is now, so an object an earlier run
        created or updated plans as unchanged: the report of the job says what was done.
        """
        entry = self.journal.done(item.kind, item.key) if self.journal else None
        if entry is not None and entry.action in (
            OutcomeAction.CREATED,
            OutcomeAction.UPDATED,
            OutcomeAction.ADOPTED,
        ):
            return Outcome(
                item,
                entry.action,
                target_id=item.target_id if item.target_id is not None else entry.target_id,
                note=f"{entry.action} by an earlier run (journal)",
                done_by=EARLIER_RUN,
            )
        if self._was_in_flight(item):
            return Outcome(
                item,
                OutcomeAction.ADOPTED,
                target_id=item.target_id,
                note="sent by an earlier run that stopped before the answer; "
                "the target holds it as the file wants",
                done_by=EARLIER_UNKNOWN,
            )
        return Outcome(item, OutcomeAction.UNCHANGED, target_id=item.target_id)

    def _was_in_flight(self, item: PlanItem) -> bool:
        return self.journal is not None and self.journal.was_in_flight(item.kind, item.key)

    def _update(self, item: PlanItem) -> Outcome:
        if item.target_id is None:
            return Outcome(
                item, OutcomeAction.FAILED, error="the plan has no target id for this update"
            )
        body = dict(item.body)
        if item.kind == "connection" and "connector" in body and body["connector"] is None:
            body["connector"] = self._connector_id(item)
        if item.kind == "connector":
            self.client.update_connector(item.target_id, body)
        else:
            self.client.update_connection(item.target_id, body)
        return Outcome(item, OutcomeAction.UPDATED, target_id=item.target_id, status=200)

    def _create(self, item: PlanItem, *, check_first: bool) -> Outcome:
        body = dict(item.body)
        if item.kind == "connection" and body.get("connector") is None:
            body["connector"] = self._connector_id(item)
        if check_first:
            found = self._adopt(item, fresh=False)
            if found is not None:
                if found.action == OutcomeAction.ADOPTED:
                    found.done_by = EARLIER_UNKNOWN
                return found
        # Outcome.attempts is set by apply(): every write this thread sent for the item.
        for _ in range(self.max_sends):
            try:
                created = self._post(item, body)
            except OutcomeUnknown as error:
                log.info("%s %s: outcome unknown (%s), looking it up", item.kind, item.key, error)
                found = self._adopt(item, fresh=True)
                if found is not None:
                    if found.action == OutcomeAction.ADOPTED:
                        found.note = "outcome unknown, looked up: found on the target"
                    return found
                continue  # certainly absent: sending again cannot duplicate
            except ApiError as error:
                if stops_run(error):
                    raise
                return _failed(item, error)
            return Outcome(item, OutcomeAction.CREATED, target_id=_id(created), status=201)
        return Outcome(
            item,
            OutcomeAction.FAILED,
            error=f"no answer to {self.max_sends} attempts to create it, and it is not on the target",
        )

    def _post(self, item: PlanItem, body: dict[str, Any]) -> dict[str, Any]:
        if item.kind == "connector":
            return self.client.create_connector(body)
        return self.client.create_connection(body)

    def _adopt(self, item: PlanItem, *, fresh: bool) -> Outcome | None:
        """The outcome of finding the item on the target, or None when it is certainly absent.

        fresh: list the target now (after a send of this run); else an earlier run's
        in-flight object is looked up in one listing shared by every such object.
        """
        ids = self._lookup(item, fresh=fresh)
        if not ids:
            return None
        if len(ids) > 1:
            listed = ", ".join(str(i) for i in ids)
            return Outcome(
                item, OutcomeAction.FAILED, error=f"ambiguous: the target holds ids {listed}"
            )
        return Outcome(item, OutcomeAction.ADOPTED, target_id=ids[0], status=200)

    def _lookup(self, item: PlanItem, *, fresh: bool) -> list[int]:
        """Target ids holding the item's natural key.

        fresh: ask the target afresh; else use one listing per list (per project for
        connections) taken once this run, which every send of an earlier run precedes.
        """
        if item.kind == "connector":
            name = _connector_name(item)
            if not fresh:
                return list(self._target_connector_ids().get(name, []))
            found = self.client.iter_list(self.client.generation.connectors)
            return [_id(c) for c in found if name_key(c.get("name")) == name]
        project = item.project if item.project is not None else item.body.get("project")
        alias = item.alias if item.alias is not None else item.body.get("alias")
        listed = self._connections(project) if not fresh else self._list_connections(project)
        return [
            _id(c)
            for c in listed
            if same_name(c.get("alias"), alias) and (project is None or c.get("project") == project)
        ]

    def _list_connections(self, project: Any) -> list[dict[str, Any]]:
        params = {"project": project} if project is not None else None
        return list(self.client.iter_list(self.client.generation.connections, params))

    def _connections(self, project: Any) -> list[dict[str, Any]]:
        """The target's connections of a project, listed once this run."""
        with self._listing_lock:
            if project not in self._target_connections:
                self._target_connections[project] = self._list_connections(project)
            return self._target_connections[project]

    def _connector_id(self, item: PlanItem) -> int:
        """The target id of a connection's connector, by name (created this run or already there)."""
        name = name_key(item.connector_name)
        if not name:
            raise _RowFailed("the connection names no connector")
        with self._lock:
            known = self.connector_ids.get(name)
        if known is not None:
            return known
        ids = self._target_connector_ids().get(name, [])
        if len(ids) == 1:
            return ids[0]
        if ids:
            raise _RowFailed(
                f'connector "{name}" is ambiguous on the target: ids {", ".join(map(str, ids))}'
            )
        raise _RowFailed(f'connector "{name}" is not on the target (did its row fail?)')

    def _target_connector_ids(self) -> dict[str, list[int]]:
        """The target's connectors by name, listed once this run."""
        with self._listing_lock:
            if self._target_connectors is None:
                found: dict[str, list[int]] = {}
                for connector in self.client.iter_list(self.client.generation.connectors):
                    found.setdefault(name_key(connector.get("name")), []).append(_id(connector))
                self._target_connectors = found
            return self._target_connectors


class _RowFailed(ApiError):
    """A row cannot be applied for a reason found before sending anything."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def _failed(item: PlanItem, error: ApiError) -> Outcome:
    message = error.server_message or error.message
    if error.fields and not error.server_message:
        message = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.fields.items())
    return Outcome(item, OutcomeAction.FAILED, status=error.status, error=scrub(str(message)))


def _connector_name(item: PlanItem) -> str:
    """The connector's natural key (almmigrate.naturalkey): as matched, whatever the target stores."""
    return name_key(item.body.get("name") or item.key)


def _id(obj: dict[str, Any]) -> int:
    return int(obj["id"])
