"""The import journal: what an interrupted import had done, so a re-run finishes it exactly once.

A journal is a text file of JSON lines, appended to and fsync'd as the import
runs. It holds no secret and no request body: only kind, natural key, action
and target id. Events:

- ``{"event": "begin", "target": <redacted url>}`` opens a run.
- ``{"event": "start", "kind", "key"}`` is written (and fsync'd) before a
  write for that object is sent: the object is *in flight*.
- ``{"event": "done", "kind", "key", "action", "target_id"}`` records its
  outcome once its batch is finished.
- ``{"event": "finished"}`` closes a run in which nothing failed.

A process killed with ``kill -9`` may leave a torn last line; reading skips any
line that is not whole JSON. A journal whose last run finished is started
afresh by the next run (a new import, not a resume). A run holds an exclusive
lock on its journal from before reading it until it is closed, and empties it
only then and only when its last run finished, so a second run given the same
journal is refused instead of wiping the first one's progress.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import filelock

from almmigrate.errors import InputError
from almmigrate.plan_types import OutcomeAction
from almmigrate.secrets import redact_url

FORMAT = 1
# Actions that mean "the target holds this object as the file wants it".
DONE_ACTIONS = frozenset(
    {OutcomeAction.CREATED, OutcomeAction.UPDATED, OutcomeAction.UNCHANGED, OutcomeAction.ADOPTED}
)


@dataclass(frozen=True)
class JournalEntry:
    """One object as an earlier, interrupted run left it."""

    kind: str
    key: str
    action: OutcomeAction | None = None  # None while in flight
    target_id: int | None = None


@dataclass
class JournalState:
    """What the journal says about the unfinished run it holds."""

    done: dict[tuple[str, str], JournalEntry] = field(default_factory=dict)
    in_flight: set[tuple[str, str]] = field(default_factory=set)
    target: str | None = None
    finished: bool = False
    torn_lines: int = 0


def read_journal(path: str | Path) -> JournalState:
    """Read a journal, tolerating torn or garbled lines; a missing file is an empty state."""
    state = JournalState()
    try:
        handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    except FileNotFoundError:
        return state
    except OSError as error:
        raise InputError(f"cannot read the journal: {error.strerror}", file=str(path)) from None
    with handle:
        for line in handle:
            event = _parse(line)
            if event is None:
                state.torn_lines += 1 if line.strip() else 0
                continue
            _apply_event(state, event)
    return state


def _parse(line: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


def _apply_event(state: JournalState, event: dict[str, Any]) -> None:
    name = event["event"]
    if name == "begin":
        if state.finished:
            # A run after a finished one starts from nothing.
            state.done.clear()
            state.in_flight.clear()
        state.finished = False
        state.target = event.get("target")
        return
    if name == "finished":
        state.finished = True
        return
    kind, key = event.get("kind"), event.get("key")
    if not isinstance(kind, str) or not isinstance(key, str):
        return
    if name == "start":
        state.in_flight.add((kind, key))
    elif name == "done":
        state.in_flight.discard((kind, key))
        action = str(event.get("action") or "")
        target_id = event.get("target_id")
        target_id = target_id if isinstance(target_id, int) else None
        if action in DONE_ACTIONS:
            state.done[(kind, key)] = JournalEntry(kind, key, OutcomeAction(action), target_id)
        else:
            state.done.pop((kind, key), None)


class JournalBusy(InputError):
    """Another run holds the journal's lock."""


class Journal:
    """An open journal: resume state read at open, events appended and fsync'd.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path, *, target_url: str = "") -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._handle = self._open()
        try:
            state = read_journal(self.path)
            target = redact_url(target_url) if target_url else ""
            if state.finished:
                # Ours alone now (locked): a finished run's lines need not be kept.
                os.ftruncate(self._handle.fileno(), 0)
                state = JournalState()
            elif state.target and target and state.target != target:
                raise InputError(
                    f"this journal belongs to an import into {state.target}, not {target}; "
                    "use another --journal file",
                    file=str(self.path),
                )
            self.state = state
            if _ends_without_newline(self.path):
                # A torn last line must not swallow the next event.
                self._handle.write("\n")
            self._write([{"event": "begin", "format": FORMAT, "target": target}])
        except BaseException:
            self._handle.close()
            raise

    def _open(self) -> IO[str]:
        """The journal opened for appending (never truncated) and locked for this run alone."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as error:
            raise InputError(
                f"cannot write the journal: {error.strerror}", file=str(self.path)
            ) from None
        try:
            locked = filelock.lock_descriptor(handle.fileno(), blocking=False)
        except OSError:
            locked = True  # a file system without locks: the per-target lock still holds
        if not locked:
            handle.close()
            raise JournalBusy(
                "another run is using this journal right now; wait for it to finish "
                "(two runs writing one journal would lose each other's progress)",
                file=str(self.path),
            )
        return handle

    def done(self, kind: str, key: str) -> JournalEntry | None:
        """The outcome an earlier run recorded for this object, if it is done."""
        return self.state.done.get((kind, key))

    def was_in_flight(self, kind: str, key: str) -> bool:
        """True when an earlier run started a write for this object and never recorded it."""
        return (kind, key) in self.state.in_flight

    def started(self, objects: Iterable[tuple[str, str]]) -> None:
        """Record that writes for these (kind, key) are about to be sent."""
        self._write([{"event": "start", "kind": k, "key": key} for k, key in objects])

    def recorded(self, entries: Iterable[JournalEntry]) -> None:
        """Record the outcomes of a finished batch."""
        self._write(
            [
                {
                    "event": "done",
                    "kind": e.kind,
                    "key": e.key,
                    "action": e.action,
                    "target_id": e.target_id,
                }
                for e in entries
            ]
        )

    def finish(self) -> None:
        """Mark the run finished with nothing failed: the next run starts afresh."""
        self._write([{"event": "finished"}])

    def _write(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
        with self._lock:
            self._handle.write(text)
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close and unlock; a journal whose last write failed (disk full) closes quietly."""
        with self._lock:
            if not self._handle.closed:
                # The buffered bytes that could not be written (disk full) were already reported.
                with contextlib.suppress(OSError):
                    self._handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_without_newline(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except OSError:
        return False
