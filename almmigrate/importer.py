"""Import and migrate, end to end: read, prepare (validate, map, plan), apply, report.

`import_file` applies a file to a target; `migrate` reads the source instance
into memory with secrets in clear (never written to disk) and applies it the
same way. Both return an :class:`ImportRun`; the CLI only prints it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from almmigrate import __version__, interrupts
from almmigrate.apply import ApplyResult, ApplySummary, OutputFailed, RunStopped, apply_plan
from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset, Snapshot
from almmigrate.errors import AlmMigrateError, ApiError, InputError, Problem
from almmigrate.files.atomic import check_writable
from almmigrate.files.xlsx import check_writer
from almmigrate.instance import Client
from almmigrate.journal import Journal
from almmigrate.pipeline import Reader, file_reader, prepare_dataset
from almmigrate.plan_types import Outcome, Plan, PlanAction
from almmigrate.prepare import ImportOptions, plugins_for
from almmigrate.report import FORMATS, write_errors_files, write_report
from almmigrate.schema import Plugin, is_secret
from almmigrate.secrets import MASK, one_run, redact_url, register_secret
from almmigrate.secretsfile import SecretValues
from almmigrate.settings import ConnectionSettings
from almmigrate.verify import Verification, verify_dataset
from almmigrate.vocabulary import META_KEY

if TYPE_CHECKING:
    from almmigrate.ratecontrol import RateStatus


@dataclass
class RunOptions:
    """How to apply: speed, safety and where the results go."""

    dry_run: bool = False
    concurrency: int | None = 4  # None: the client's (Little's law under --rate auto)
    batch_size: int = 50
    report: Path | None = None
    errors: Path | None = None
    journal: Path | None = None  # None: the default (see journal_for)
    no_journal: bool = False
    progress: bool = False  # draw a bar on stderr (only when it is a terminal)
    wait_lock: bool = False  # wait for another run into the same target instead of refusing
    verify: bool = False  # re-read the target after the last write and compare (--verify)
    # Told where the journal is as the first write is about to go (the CLI prints it).
    announce: Callable[[str], None] | None = None


@dataclass
class ImportRun:
    """What an import or migrate did."""

    plan: Plan
    result: ApplyResult | None  # None for a dry run
    report: Path | None = None
    errors: Path | None = None  # as asked (--errors); written only when something failed
    errors_count: int = 0
    errors_files: list[Path] = field(default_factory=list)  # a .csv --errors may be two files
    journal: Path | None = None
    elapsed: float = 0.0
    # What the file does that a person may not mean (blanked cells, renames, unknown params).
    warnings: list[Problem] = field(default_factory=list)
    # Files of the run (report, errors file) that could not be written, and why.
    unwritten: list[str] = field(default_factory=list)
    verification: Verification | None = None  # with --verify: the target re-read and compared

    @property
    def writes_sent(self) -> bool:
        """True when the run sent at least one write to the target."""
        return self.result is not None and any(o.attempts for o in self.result.outcomes)

    @property
    def stopped(self) -> RunStopped | None:
        return self.result.stopped if self.result is not None else None

    @property
    def exit_code(self) -> int:
        """0 all done, 1 some rows failed or --verify found a difference, 3 stopped or its files lost, 130 Ctrl-C (README, "Exit codes")."""
        if self.result is None:
            return 1 if self.plan.has_errors else 0
        stopped = self.result.stopped
        if stopped is not None:
            if isinstance(stopped, OutputFailed) and not self.writes_sent:
                return 2
            return stopped.exit_code
        if self.unwritten:
            return 3 if self.writes_sent else 2
        differs = self.verification is not None and self.verification.exit_code != 0
        return 1 if self.result.failed or differs else 0


def journal_for(
    run: RunOptions,
    *,
    file: Path | None = None,
    target_url: str = "",
    command: str = "migrate",
) -> Path | None:
    """The journal a run keeps unless told otherwise (`--journal FILE`, `--no-journal`).

    The one default, the CLI's and every library call's (import_file, import_read,
    migrate), so a run one of them started is resumed by the other. None for a dry
    run or `no_journal`; beside the input file for an import (`edit.xlsx` ->
    `edit.xlsx.journal`), so running the same command again resumes; without a
    file (migrate, pandas frames), in the current folder, named after the command
    and the target (`almmigrate-migrate-HOST-PORT.journal`).
    """
    if run.dry_run or run.no_journal:
        return None
    if run.journal is not None:
        return run.journal
    if file is not None:
        return file.with_name(f"{file.name}.journal")  # edit.xls and edit.ods keep their own
    parts = urlsplit(target_url)
    host = "-".join(str(p) for p in (parts.hostname, parts.port) if p) or "target"
    return Path(f"almmigrate-{command}-{host}.journal")


def _journal_resolved(run: RunOptions, **where: Any) -> RunOptions:
    """run with its journal decided by journal_for (where: file, target_url, command)."""
    return replace(run, journal=journal_for(run, **where))


def check_outputs(run: RunOptions) -> None:
    """Refuse output paths that cannot be written, before the first request.

    Every file the run will write (report, errors file, journal) is tried: its
    folder must exist and take a new file, a file already there must be
    writable, and an .xlsx needs a writer (ALMMIGRATE_XLSX_WRITER). Raises
    InputError (exit 2, nothing written).
    """
    if run.report is not None and run.report.suffix.lower() not in FORMATS:
        raise InputError(
            f"--report must end in .xlsx, .csv, .json or .html, not {run.report.suffix or 'nothing'}",
            file=str(run.report),
        )
    journal = None if run.no_journal else run.journal
    for label, path in (("--report", run.report), ("--errors", run.errors), ("--journal", journal)):
        if path is not None:
            check_writable(label, path)
            check_writer(path)


@contextmanager
def _writing_to(client: Client, run: RunOptions) -> Iterator[None]:
    """Hold the target's run lock (see almmigrate.runlock) for a run that writes."""
    from almmigrate.runlock import target_lock

    if run.dry_run:
        yield
        return
    with target_lock(client.base, wait=run.wait_lock):
        yield


def _stopped_early(
    error: ApiError, run: RunOptions, context: dict[str, str], target: str
) -> ImportRun:
    """The run of an instance that failed before the first write: a report that says so.

    Re-raises what is not the instance's failure (exit 3), and anything when no
    report was asked for (the one-line error says it all) or in a dry run.
    """
    if error.exit_code != 3 or run.dry_run or run.report is None:
        raise error
    stopped = RunStopped(error.message, error)
    stopped.exit_code = error.exit_code
    result = ApplyResult([], ApplySummary(), stopped)
    outcome = ImportRun(Plan(), result)
    _write_files(outcome, run, None, {}, {**context, "target": target})
    return outcome


@one_run
def import_file(
    path: str | Path,
    settings: ConnectionSettings,
    options: ImportOptions,
    run: RunOptions,
) -> ImportRun:
    """Apply a file (.xlsx, .json, CSV folder or single CSV) to the target.

    options: the prepare step's ImportOptions (mode, match, project map, secrets, ...).
    Raises ValidationFailed (exit 2, nothing written) when the file has errors,
    ConnectionProblem (exit 3) when the target cannot be reached.
    """
    return import_read(file_reader(path), str(path), settings, options, run, file=Path(path))


@one_run
def import_read(
    read: Reader,
    label: str,
    settings: ConnectionSettings,
    options: ImportOptions,
    run: RunOptions,
    *,
    file: Path | None = None,
) -> ImportRun:
    """Apply what read(plugins) gives (a dataset and its reading problems) to the target.

    read is called with the target's plugin schemas once the target is reached,
    so cells are typed by the schemas they will be sent to. label names the input;
    file, when it is one, is where the journal is kept by default (journal_for).
    """
    from almmigrate.client import SDEClient

    run = _journal_resolved(run, file=file, target_url=settings.url, command="import")
    check_outputs(run)
    register_secret(settings.token)
    context = {"command": "almmigrate import", "file": label}
    with SDEClient(settings) as client, _writing_to(client, run):
        try:
            target = _read(client, "the target", run.progress)
        except ApiError as error:
            return _stopped_early(error, run, context, redact_url(settings.url))
        plugins = plugins_for(target)
        # Cell problems and validation problems are listed together, all at once.
        dataset, problems = read(plugins)
        # A file exported --include-secrets holds them in clear: keep them out of every message.
        _register_dataset_secrets(dataset, plugins)
        if dataset.meta.get("source_url"):
            context["source"] = dataset.meta["source_url"]
        return _prepare_and_apply(client, dataset, target, options, run, problems, context)


@one_run
def migrate(
    source: ConnectionSettings,
    target: ConnectionSettings,
    options: ImportOptions,
    run: RunOptions,
) -> ImportRun:
    """Export the source in memory (secrets in clear, never on disk), then import it into the target.

    Projects are auto-mapped unless options.project_map is given; options.secrets,
    when given, replaces the source's secret values.
    """
    from almmigrate.client import SDEClient
    from almmigrate.exporter import snapshot_to_dataset
    from almmigrate.secretsfile import load_secrets

    run = _journal_resolved(run, target_url=target.url)
    check_outputs(run)
    register_secret(source.token)
    register_secret(target.token)
    supplied = options.secrets
    if supplied is not None and not isinstance(supplied, SecretValues):
        supplied = load_secrets(supplied)  # a bad secrets file fails before any request
    context = {"command": "almmigrate migrate", "source": redact_url(source.url)}
    with SDEClient(target) as client, _writing_to(client, run):
        try:
            client.check()  # a wrong target url or token fails before the source is read
            snapshot = _read(source, "the source", run.progress)
            target_snapshot = _read(client, "the target", run.progress)
        except ApiError as error:
            return _stopped_early(error, run, context, redact_url(target.url))
        dataset = snapshot_to_dataset(snapshot, include_secrets=True)
        _register_dataset_secrets(dataset, snapshot.plugins)
        if supplied is not None:
            dataset = override_secrets(dataset, supplied, snapshot.plugins)
        auto = options.project_map is None
        options = replace(options, source=snapshot, auto_map_projects=auto)
        return _prepare_and_apply(client, dataset, target_snapshot, options, run, context=context)


def _api_shown(dataset: Dataset, target: Snapshot) -> str:
    """The generations of the API in a report: "alm -> issue-tracker" when translated."""
    file_api = dataset.meta.get(META_KEY)
    return f"{file_api} -> {target.api}" if file_api and file_api != target.api else target.api


def _read(where: Client | ConnectionSettings, instance: str, shown: bool) -> Snapshot:
    """An instance's snapshot (an open client's, or read from settings), with a bar on stderr.

    A big instance takes a while to read.
    """
    from almmigrate.instance import fetch_snapshot, read_instance
    from almmigrate.progress import progress

    with progress(f"Reading {instance}", enabled=shown) as bar:

        def on_progress(what: str, done: int, total: int | None) -> None:
            bar.update(done, total, description=f"Reading {instance}: {what}")

        if isinstance(where, ConnectionSettings):
            return read_instance(where, on_progress=on_progress)
        return fetch_snapshot(where, on_progress=on_progress)


def _prepare_and_apply(
    client: Client,
    dataset: Dataset,
    target: Snapshot,
    options: ImportOptions,
    run: RunOptions,
    reading_problems: list[Problem] | None = None,
    context: dict[str, str] | None = None,
) -> ImportRun:
    started = time.monotonic()
    started_at = _now()
    prepared = prepare_dataset(dataset, target, options, reading_problems=reading_problems)
    plugins = plugins_for(target)
    plan = prepared.plan
    if run.dry_run:
        return ImportRun(plan, None, elapsed=time.monotonic() - started, warnings=prepared.warnings)
    journal_path = run.journal  # decided by journal_for when the run began
    if run.announce is not None:
        run.announce(
            f"journal: {journal_path} (run the same command again to resume from it)"
            if journal_path
            else "journal: none (--no-journal): a re-run looks every object up again"
        )
    journal = Journal(journal_path, target_url=client.settings.url) if journal_path else None
    # From the first Ctrl-C (or SIGTERM) on, no other one cuts the run short of its report.
    with interrupts.first_interrupt_only() as presses:
        try:
            result = _apply(client, plan, run, journal)
            if result.stopped is not None:
                presses.settle()
        finally:
            if journal is not None:
                journal.close()
        outcome = ImportRun(plan, result, journal=journal_path, warnings=prepared.warnings)
        unverified: KeyboardInterrupt | None = None
        if run.verify and result.stopped is None:
            # After the last write: what the target holds now, against what the file says.
            try:
                after = _read(client, "the target again", run.progress)
                outcome.verification = verify_dataset(
                    dataset,
                    after,
                    project_map=prepared.project_map,
                    plugins=plugins,
                    match=options.match,
                )
            except KeyboardInterrupt as error:
                # Every write is done: their report is written, then the run stops (130).
                presses.settle()
                unverified = error
        about = {
            **(context or {}),
            "target": redact_url(client.settings.url),
            "api": _api_shown(dataset, target),
            "mode": options.mode,
            "match": options.match,
            "journal": str(journal_path) if journal_path else None,
            "started_at": started_at,
        }
        if unverified is not None:
            about["verify"] = "interrupted (Ctrl-C) before the target was read again: not verified"
        _write_files(outcome, run, dataset, plugins, about)
    if unverified is not None:
        raise unverified
    outcome.elapsed = time.monotonic() - started
    return outcome


def _write_files(
    outcome: ImportRun,
    run: RunOptions,
    dataset: Dataset | None,
    plugins: dict[str, Plugin],
    about: dict[str, Any],
) -> None:
    """Write the report and the errors file; one that fails is noted, the other still written."""
    result = outcome.result
    assert result is not None
    with interrupts.held():
        if run.report is not None:
            context = {
                **about,
                "stopped": result.stopped.message if result.stopped else None,
                "finished_at": _now(),
                "tool_version": __version__,
            }
            report = run.report
            if _try_write(
                outcome,
                "report",
                report,
                lambda: write_report(
                    report,
                    result,
                    context,
                    warnings=outcome.warnings,
                    verification=outcome.verification,
                ),
            ):
                outcome.report = report
        if run.errors is not None and dataset is not None and not result.failed:
            if result.stopped is None:
                outcome.errors = run.errors  # asked for, nothing failed: no file; the CLI says so
        elif run.errors is not None and dataset is not None:
            errors = run.errors

            def write_errors() -> None:
                outcome.errors_count, outcome.errors_files = write_errors_files(
                    errors, result.outcomes, dataset, plugins
                )
                outcome.errors = errors

            _try_write(outcome, "errors file", errors, write_errors)


def _try_write(outcome: ImportRun, label: str, path: Path, write: Callable[[], Any]) -> bool:
    """Run `write`; False (and a note in outcome.unwritten) when the file could not be written."""
    try:
        write()
    except (OSError, AlmMigrateError) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        outcome.unwritten.append(f"the {label} {path} could not be written: {why}")
        return False
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _apply(client: Client, plan: Plan, run: RunOptions, journal: Journal | None) -> ApplyResult:
    from almmigrate.apply import writes
    from almmigrate.progress import progress

    line = ProgressLine(client, sum(1 for item in plan.items if writes(item)))
    with progress("Importing", total=len(plan.items), enabled=run.progress) as bar:

        def on_progress(done: int, total: int) -> None:
            bar.update(done=done, total=total, description=line.label(bar.label_width))

        return apply_plan(
            client,
            plan,
            concurrency=run.concurrency or client.workers,
            batch_size=run.batch_size,
            journal=journal,
            on_progress=on_progress,
            on_outcome=line.outcome,
            max_sends=client.settings.retries + 1,
        )


RATE_SPAN = 3.0  # seconds the progress line's current rate is measured over


class ProgressLine:
    """The progress line of an import: rate now, limit found, 429s, retries and time left.

    "Importing 38.2 req/s, limit 40/s, 3 × 429, 2 retries, ETA 12 s". The rate is the
    requests answered in the last few seconds, the ETA the objects still to send at
    that rate: objects with nothing to send (unchanged, or done by an earlier run)
    count for nothing, so a resumed run does not start at thousands per second.
    """

    def __init__(
        self, client: Client, to_send: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.to_send = to_send
        self._clock = clock
        self._lock = threading.Lock()
        self._sent = 0
        first = client.stats.snapshot()
        self._base = (first["requests"], first["retries"], first["throttled"])
        self._samples: deque[tuple[float, int]] = deque([(clock(), first["requests"])])

    def outcome(self, outcome: Outcome) -> None:
        """One object done; those the plan had to send (counted in to_send) shorten the ETA."""
        if outcome.item.action in (PlanAction.CREATE, PlanAction.UPDATE):
            with self._lock:
                self._sent += 1

    def label(self, width: int | None = None) -> str:
        """The line now; width: the columns it may take (its least needed parts give way)."""
        now = self._clock()
        stats = self.client.stats.snapshot()
        with self._lock:
            self._samples.append((now, stats["requests"]))
            while len(self._samples) > 2 and self._samples[1][0] <= now - RATE_SPAN:
                self._samples.popleft()
            then, before = self._samples[0]
            left = max(0, self.to_send - self._sent)
        spent = now - then
        rate = (stats["requests"] - before) / spent if spent > 0 else None
        return progress_label(
            rate,
            self.client.rate_status(),
            throttled=stats["throttled"] - self._base[2],
            retries=stats["retries"] - self._base[1],
            left=left,
            width=width,
        )


def progress_label(
    rate: float | None,
    status: RateStatus | None,
    *,
    throttled: int,
    retries: int,
    left: int,
    width: int | None = None,
) -> str:
    """ "Importing 38.2 req/s, limit 40/s, 3 × 429, 2 retries, ETA 12 s" (parts when known).

    width: the columns the line may take; when it is narrower, the retries, then
    the ETA, then the limit are left out. The rate and the 429s always stay.
    """
    parts: list[tuple[str, str]] = []  # (what, text) in reading order
    if rate is not None and rate > 0:
        parts.append(("rate", f"{rate:.1f} req/s"))
    if status is not None:
        parts.append(
            ("limit", f"limit {status.limit:.0f}/s" if status.limit else "limit not hit yet")
        )
    parts.append(("429", f"{throttled} × 429"))
    if retries:
        parts.append(("retries", f"{retries} retr{'y' if retries == 1 else 'ies'}"))
    if rate is not None and rate > 0:
        parts.append(("eta", f"ETA {left / rate:.0f} s"))
    for dropped in (None, "retries", "eta", "limit"):
        parts = [(what, text) for what, text in parts if what != dropped]
        line = "Importing " + ", ".join(text for _, text in parts)
        if width is None or len(line) <= width:
            break
    return line


def _register_dataset_secrets(dataset: Dataset, plugins: dict[str, Plugin]) -> None:
    records: list[ConnectorRecord | ConnectionRecord] = [*dataset.connectors, *dataset.connections]
    for record in records:
        plugin = plugins.get(record.system or "")
        for name, value in record.params.items():
            if is_secret(name, plugin):
                register_secret(value, name)


def override_secrets(
    dataset: Dataset, secrets: SecretValues, plugins: dict[str, Plugin]
) -> Dataset:
    """A dataset whose secret params take the supplied values where `secrets` has one."""

    def fill(kind: str, name: str, params: dict[str, Any], system: str) -> dict[str, Any]:
        plugin = plugins.get(system)
        filled = dict(params)
        for param, value in params.items():
            supplied = secrets.lookup(kind, name, param)
            if supplied is not None and (value == MASK or is_secret(param, plugin)):
                register_secret(supplied, param)  # the run sends it: its messages hide it
                filled[param] = supplied
        return filled

    return replace(
        dataset,
        connectors=[
            replace(r, params=fill("connector", r.name, r.params, r.system))
            for r in dataset.connectors
        ],
        connections=[
            replace(r, params=fill("connection", r.alias, r.params, r.system or ""))
            for r in dataset.connections
        ],
    )
