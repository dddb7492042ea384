"""Connectivity tests: run the instance's `testalm` endpoints for connectors and connections.

`POST connectors/testalm/` checks that SD Elements can reach and log in to an
ALM server with a connector's params; `POST connections/testalm/` also checks
the ALM project. Both take the params in clear and no id, so a masked secret
must come from a secrets file, or from the instance when it holds an object of
the same key and shows its params; otherwise the object is skipped with
"secret not supplied" rather than sent with the mask as a password.
"""

from __future__ import annotations

import csv
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from almmigrate import interrupts
from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset
from almmigrate.errors import (
    AlmMigrateError,
    ApiError,
    ConnectionProblem,
    InputError,
    NotAvailable,
)
from almmigrate.files.atomic import atomic_text
from almmigrate.files.cells import csv_escape
from almmigrate.files.xlsx import check_writer
from almmigrate.instance import Client, client_generation, plugins_of
from almmigrate.mapping import ConnectorNames, ProjectMap, read_map
from almmigrate.models import Connection, Connector
from almmigrate.schema import DERIVED_PARAMS, Plugin, is_secret
from almmigrate.secrets import MASK, one_run, register_secret, scrub, worker_pool
from almmigrate.secretsfile import SecretValues, load_secrets
from almmigrate.servertext import parse_error_body
from almmigrate.settings import ConnectionSettings
from almmigrate.vocabulary import READ_ONLY_PARAMS, to_generation

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
NOT_AVAILABLE = "not available"
NOT_AVAILABLE_MESSAGE = "not available on this instance"
REPORT_COLUMNS = ["kind", "row", "name", "system", "result", "message"]


@dataclass
class TestResult:
    """The outcome of one connectivity test, fit for a table or a report (no secrets)."""

    __test__ = False  # not a pytest test class, despite the name

    kind: str  # connector or connection
    name: str  # the connector's name, or "alias (project N)"
    result: str  # passed, failed, skipped
    message: str = ""
    system: str = ""
    row: int | None = None  # the sheet row in the file, None with --all


@dataclass
class _Job:
    """One test to run: the body to send, or why it cannot be sent."""

    result: TestResult
    body: dict[str, Any] | None = field(default=None, repr=False)  # params in clear
    skip: str | None = None


# ---------------------------------------------------------------- running


@dataclass
class Connectivity:
    """What `almmigrate test` found: every test's result, and where the report went."""

    results: list[TestResult]
    report: Path | None = None  # where run_connectivity(report=) wrote the results, if asked

    @property
    def exit_code(self) -> int:
        """1 when any test failed, else 0 (README, "Exit codes")."""
        return 1 if failed(self.results) else 0


@one_run
def run_connectivity(
    settings: ConnectionSettings,
    path: str | Path | None = None,
    *,
    secrets: str | Path | None = None,
    project_map: str | Path | None = None,
    concurrency: int = 4,
    on_progress: Callable[[int, int], None] | None = None,
    report: str | Path | None = None,
) -> Connectivity:
    """`almmigrate test`: the connectivity tests of a file's objects, or (path None) the instance's.

    The file is read with the instance's schemas; secrets and project_map are
    a secrets CSV and a map CSV. report: also write the results there (.csv,
    .json, .xlsx or .html); a path that cannot be written is refused before any
    test runs. Raises ConnectionProblem when the instance cannot be reached,
    TestsInterrupted on Ctrl-C (with the results so far, written to the report).
    """
    from almmigrate.instance import with_client

    target = check_results_path(report) if report is not None else None

    def run(client: Client) -> list[TestResult]:
        client.check()
        plugins = plugins_of(client)
        if path is None:
            return run_for_instance(
                client, plugins=plugins, concurrency=concurrency, on_progress=on_progress
            )
        from almmigrate.reader import read_dataset

        values = load_secrets(secrets) if secrets else None
        mapped = read_map(project_map) if project_map else None
        dataset = read_dataset(path, plugins)
        return run_for_dataset(
            client,
            dataset,
            plugins=plugins,
            secrets=values,
            project_map=mapped,
            concurrency=concurrency,
            on_progress=on_progress,
        )

    # From the first Ctrl-C (or SIGTERM) on, no other one cuts the run short of its report.
    with interrupts.first_interrupt_only() as presses:
        try:
            results = with_client(settings, run)
        except TestsInterrupted as stopped:
            presses.settle()
            if target is not None:
                stopped.report = write_results(target, stopped.results)
            raise
    return Connectivity(results, write_results(target, results) if target is not None else None)


@one_run
def run_for_dataset(
    client: Client,
    dataset: Dataset,
    *,
    plugins: Mapping[str, Plugin],
    secrets: SecretValues | None = None,
    project_map: ProjectMap | None = None,
    concurrency: int = 4,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[TestResult]:
    """Test every connector and connection of a file on the instance behind client.

    secrets: values for masked params (kind, name, field).
    project_map: source -> instance project ids when the file came from another instance.
    on_progress(done, total): called as each test ends, from worker threads.
    Raises ConnectionProblem when the instance cannot be reached or refuses the token,
    TestsInterrupted (with the results so far) on Ctrl-C.
    """
    # The file's names become the instance's before anything is resolved or sent.
    dataset, _ = to_generation(dataset, client_generation(client))
    instance = _Instance(client.list_connectors(), client.list_connections())
    supplied = secrets or SecretValues()
    jobs = [_connector_job(r, instance, plugins, supplied) for r in dataset.connectors]
    names = ConnectorNames(dataset)
    in_file: dict[str, ConnectorRecord] = {}
    for record in dataset.connectors:
        in_file.setdefault(record.name.strip(), record)  # the first row wins
    jobs += [
        _connection_job(r, names.of(r), in_file, instance, plugins, supplied, project_map)
        for r in dataset.connections
    ]
    return _run(client, jobs, concurrency, on_progress)


@one_run
def run_for_instance(
    client: Client,
    *,
    plugins: Mapping[str, Plugin],
    concurrency: int = 4,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[TestResult]:
    """Test every connector and connection on the instance, with the params it holds.

    on_progress and errors as for run_for_dataset.
    """
    connectors = [_connector(c) for c in client.list_connectors()]
    connections = [_connection(c) for c in client.list_connections()]
    jobs = []
    for connector in connectors:
        result = TestResult("connector", connector.name, "", system=connector.system)
        params = _clean(connector.params)
        jobs.append(
            _job(
                result,
                _connector_body(connector.name, connector.system, params),
                params,
                plugins.get(connector.system),
            )
        )
    for connection in connections:
        result = TestResult(
            "connection",
            _connection_name(connection.alias, connection.project),
            "",
            system=connection.system,
        )
        params = _clean(connection.params)
        body = _connection_body(
            connection.alias, connection.connector, connection.project, connection.system, params
        )
        jobs.append(_job(result, body, params, plugins.get(connection.system)))
    return _run(client, jobs, concurrency, on_progress)


def _job(
    result: TestResult, body: dict[str, Any], params: Mapping[str, Any], plugin: Plugin | None
) -> _Job:
    """A job from params the instance showed: a masked one cannot be tested."""
    masked = sorted(name for name, value in params.items() if value == MASK)
    for name, value in params.items():
        if is_secret(name, plugin):
            register_secret(value, name)
    if masked:
        return _Job(result, skip=_not_supplied(masked))
    return _Job(result, body)


class TestsInterrupted(AlmMigrateError):
    """Ctrl-C during the tests; `results` holds every test, those not run marked skipped."""

    exit_code = 130

    def __init__(self, results: list[TestResult]) -> None:
        super().__init__("interrupted (Ctrl-C)")
        self.results = results
        self.report: Path | None = None  # where run_connectivity(report=) wrote them


NOT_RUN = "not run: interrupted (Ctrl-C)"


def _run(
    client: Client,
    jobs: list[_Job],
    concurrency: int,
    on_progress: Callable[[int, int], None] | None,
) -> list[TestResult]:
    """Send every test (several at a time: each can take seconds on a real ALM)."""
    lock = threading.Lock()
    done = [0]

    def run_one(job: _Job) -> TestResult:
        result = job.result
        if job.body is None:
            result.result, result.message = SKIPPED, job.skip or ""
        else:
            send = client.test_connector if result.kind == "connector" else client.test_connection
            result.result, result.message = _send(send, job.body)
        if on_progress is not None:
            with lock:
                done[0] += 1
                count = done[0]
            on_progress(count, len(jobs))
        return result

    pool = worker_pool(max_workers=max(1, concurrency))
    futures = [pool.submit(run_one, job) for job in jobs]
    try:
        results = [future.result() for future in futures]
    except KeyboardInterrupt:
        # Ctrl-C: start nothing more; the tests under way are awaited (a second Ctrl-C
        # stops the waiting) so the report holds every result there is.
        pool.shutdown(wait=False, cancel_futures=True)
        interrupts.await_unless_pressed_again(futures)
        settled = [_settled(f, job) for f, job in zip(futures, jobs, strict=True)]
        raise TestsInterrupted(settled) from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def _settled(future: Future[TestResult], job: _Job) -> TestResult:
    """A test's result, or the test marked skipped when Ctrl-C came before it ended."""
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    job.result.result, job.result.message = SKIPPED, NOT_RUN
    return job.result


def _send(send: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> tuple[str, str]:
    """(result, message) of one testalm call; ConnectionProblem stops the whole run."""
    try:
        answer = send(body)
    except ConnectionProblem:
        raise
    except NotAvailable:
        return NOT_AVAILABLE, NOT_AVAILABLE_MESSAGE
    except ApiError as error:
        return FAILED, scrub(error.server_message or str(error))
    if isinstance(answer, Mapping) and answer.get("success") is True:
        return PASSED, scrub(_message(answer))
    return FAILED, scrub(_message(answer) or "the test did not succeed")


def _message(answer: Any) -> str:
    if isinstance(answer, Mapping):
        trimmed = {k: v for k, v in answer.items() if k != "success"}
        return parse_error_body(trimmed).message if trimmed else ""
    return str(answer or "")


# ---------------------------------------------------------------- bodies from a file


class _Instance:
    """What the instance holds, by natural key, to resolve references and masked secrets."""

    connectors: dict[str, Connector]
    connections: dict[tuple[int | None, str], Connection]

    def __init__(self, connectors: Iterable[Any], connections: Iterable[Any]) -> None:
        self.connectors = {}
        for data in connectors:
            connector = _connector(data)
            self.connectors.setdefault(connector.name.strip(), connector)
        self.connections = {}
        for data in connections:
            connection = _connection(data)
            self.connections.setdefault((connection.project, connection.alias.strip()), connection)


def _connector(data: Connector | Mapping[str, Any]) -> Connector:
    """A connector from the client (a model) or from raw API JSON."""
    return data if isinstance(data, Connector) else Connector.from_api(data)


def _connection(data: Connection | Mapping[str, Any]) -> Connection:
    return data if isinstance(data, Connection) else Connection.from_api(data)


def _connector_job(
    record: ConnectorRecord,
    instance: _Instance,
    plugins: Mapping[str, Plugin],
    secrets: SecretValues,
) -> _Job:
    result = TestResult("connector", record.name, "", system=record.system, row=record.row)
    existing = instance.connectors.get(record.name.strip())
    params, missing = _resolve(
        _clean(record.params),
        "connector",
        record.name,
        secrets,
        existing.params if existing else {},
        plugins.get(record.system),
    )
    if missing:
        return _Job(result, skip=_not_supplied(missing))
    return _Job(result, _connector_body(record.name, record.system, params))


def _connection_job(
    record: ConnectionRecord,
    name: str | None,
    in_file: Mapping[str, ConnectorRecord],
    instance: _Instance,
    plugins: Mapping[str, Plugin],
    secrets: SecretValues,
    project_map: ProjectMap | None,
) -> _Job:
    project = project_map.lookup(record.project) if project_map is not None else record.project
    result = TestResult(
        "connection",
        _connection_name(record.alias, project),
        "",
        system=record.system or "",
        row=record.row,
    )
    if project is None:
        return _Job(result, skip=f"project {record.project} is not in the project map")
    file_connector = in_file.get(name.strip()) if name else None
    if not result.system and file_connector is not None:
        # A template's connection row leaves system to its connector, maybe the file's.
        result.system = file_connector.system
    connector = instance.connectors.get(name.strip()) if name else None
    if connector is None:
        where = f"connector {name!r}" if name else "its connector"
        return _Job(result, skip=f"{where} is not on the instance (import it first)")
    system = record.system or connector.system
    result.system = system
    plugin = plugins.get(system)
    # The connection runs with its connector's params under its own.
    inherited, missing = _connector_params(file_connector, connector, plugin, secrets)
    existing = instance.connections.get((project, record.alias.strip()))
    own, missing_own = _resolve(
        _clean(record.params),
        "connection",
        record.alias,
        secrets,
        existing.params if existing else {},
        plugin,
    )
    missing = sorted(set(missing) | set(missing_own))
    if missing:
        return _Job(result, skip=_not_supplied(missing))
    body = _connection_body(record.alias, connector.id, project, system, {**inherited, **own})
    return _Job(result, body)


def _connector_params(
    record: ConnectorRecord | None,
    connector: Connector,
    plugin: Plugin | None,
    secrets: SecretValues,
) -> tuple[dict[str, Any], list[str]]:
    """The connector's params as the file's record says (the instance's where it is silent)."""
    base = _clean(connector.params)
    if record is not None:
        params, missing = _resolve(
            _clean(record.params), "connector", record.name, secrets, connector.params, plugin
        )
        return {**{k: v for k, v in base.items() if v != MASK}, **params}, missing
    masked = sorted(k for k, v in base.items() if v == MASK)
    return base, masked


def _resolve(
    params: Mapping[str, Any],
    kind: str,
    name: str,
    secrets: SecretValues,
    on_instance: Mapping[str, Any],
    plugin: Plugin | None,
) -> tuple[dict[str, Any], list[str]]:
    """Params with every masked value replaced: from the secrets file, else the instance.

    Returns the params and the names of masked params no value was found for.
    """
    resolved: dict[str, Any] = {}
    missing: list[str] = []
    for field_name, value in params.items():
        masked = value == MASK
        if masked:
            value = secrets.lookup(kind, name, field_name)
            if value is None:
                value = on_instance.get(field_name)
            if value is None or value == MASK:
                missing.append(field_name)
                continue
        # A value in place of a mask is a secret, whatever the schema (or its absence) says.
        if masked or is_secret(field_name, plugin):
            register_secret(value, field_name)
        resolved[field_name] = value
    return resolved, missing


def _clean(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params to send: given (not None), not derived by the server, not written only by it."""
    return {
        k: v
        for k, v in params.items()
        if v is not None and k not in DERIVED_PARAMS and k not in READ_ONLY_PARAMS
    }


def _connector_body(name: str, system: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "system": {"id": system}, "params": params}


def _connection_body(
    alias: str, connector: int | None, project: int | None, system: str, params: dict[str, Any]
) -> dict[str, Any]:
    return {
        "connector": connector,
        "alias": alias,
        "project": project,
        "system": {"id": system},
        "params": params,
    }


def _connection_name(alias: str, project: int | None) -> str:
    return f"{alias} (project {project})"


def _not_supplied(fields: Iterable[str]) -> str:
    return f"secret not supplied: {', '.join(sorted(fields))} (give it with --secrets)"


# ---------------------------------------------------------------- results


def failed(results: Iterable[TestResult]) -> list[TestResult]:
    return [r for r in results if r.result == FAILED]


def counts(results: Iterable[TestResult]) -> dict[str, int]:
    found = {PASSED: 0, FAILED: 0, SKIPPED: 0, NOT_AVAILABLE: 0}
    for result in results:
        found[result.result] = found.get(result.result, 0) + 1
    return found


RESULT_FORMATS = (".csv", ".json", ".xlsx", ".html")


def check_results_path(path: str | os.PathLike[str]) -> Path:
    """Refuse a report path that cannot be written, before any test runs."""
    target = Path(path)
    if target.suffix.lower() not in RESULT_FORMATS:
        raise InputError("the report must end in .csv, .json, .xlsx or .html", file=str(target))
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputError("the folder does not exist", file=str(folder))
    check_writer(target)
    return target


def write_results(path: str | os.PathLike[str], results: list[TestResult]) -> Path:
    """Write the results as `.csv`, `.json`, `.xlsx` or `.html`, atomically.

    Raises InputError for another extension or a path that cannot be written.
    """
    target = check_results_path(path)
    suffix = target.suffix.lower()
    rows = [{k: asdict(r)[k] for k in REPORT_COLUMNS} for r in results]
    found = counts(results)
    if suffix == ".xlsx":
        from almmigrate.files import Table, write_tables

        meta = {name: str(count) for name, count in found.items()}
        write_tables(target, [Table("results", REPORT_COLUMNS, rows)], meta=meta)
        return target
    if suffix == ".html":
        from almmigrate.report import write_html_table

        write_html_table(
            target,
            title="almmigrate connectivity tests",
            verdict=", ".join(f"{count} {name}" for name, count in found.items()),
            ok=found[FAILED] == 0,
            summary=list(found.items()),
            columns=REPORT_COLUMNS,
            rows=rows,
            bad=lambda row: row["result"] == FAILED,
        )
        return target
    with atomic_text(target) as out:
        if suffix == ".json":
            json.dump({"summary": found, "results": rows}, out, indent=2, ensure_ascii=False)
            out.write("\n")
        else:
            writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS)
            writer.writeheader()
            # An ALM's message must not run as a formula when the CSV is opened.
            writer.writerows(
                {k: csv_escape(v) if isinstance(v, str) else v for k, v in row.items()}
                for row in rows
            )
    return target
