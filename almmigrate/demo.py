"""The zero-set-up demo: a whole migration between two simulated instances on loopback.

It runs the same library functions as the commands (`export`, `map_projects`,
`plan_file`, `import_file`), against two :class:`~almmigrate.sim.SimServer` instances seeded
from the bundled samples, and leaves every file it wrote in one folder for a
person to open. Nothing leaves the machine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from almmigrate.discovery import NO_SCHEMAS
from almmigrate.errors import InputError
from almmigrate.exporter import ExportSummary, export
from almmigrate.generation import ALM_GENERATION, ISSUE_TRACKER_GENERATION, api_base
from almmigrate.importer import ImportRun, RunOptions, import_file
from almmigrate.mapping import AMBIGUOUS, EXACT, MISSING
from almmigrate.pipeline import map_projects, plan_file
from almmigrate.plan_types import Plan
from almmigrate.prepare import ImportOptions
from almmigrate.resources import samples_dir
from almmigrate.secrets import one_run
from almmigrate.settings import ConnectionSettings

if TYPE_CHECKING:
    from almmigrate.sim import SimServer

DEFAULT_FOLDER = "almmigrate-demo"
# Fast enough for a demo, slow enough to show the global rate limit at work.
DEMO_RATE = 50.0

EXPORT = "source-export.xlsx"
SOURCE_API = ALM_GENERATION
TARGET_API = ISSUE_TRACKER_GENERATION
PROJECT_MAP = "project-map.csv"
PLAN = "plan.json"
REPORT = "import-report.xlsx"
ERRORS = "import-errors.xlsx"
JOURNAL = "import-report.journal"
OUTPUTS = (EXPORT, PROJECT_MAP, PLAN, REPORT, ERRORS, JOURNAL)


@dataclass
class DemoFiles:
    """Where the demo put everything (and the bundled inputs it used)."""

    folder: Path
    source_data: Path
    target_data: Path
    secrets: Path

    @property
    def export(self) -> Path:
        return self.folder / EXPORT

    @property
    def project_map(self) -> Path:
        return self.folder / PROJECT_MAP

    @property
    def plan(self) -> Path:
        return self.folder / PLAN

    @property
    def report(self) -> Path:
        return self.folder / REPORT

    @property
    def errors(self) -> Path:
        return self.folder / ERRORS

    @property
    def journal(self) -> Path:
        return self.folder / JOURNAL


@dataclass
class DemoResult:
    """What the demo did, for the CLI to print."""

    files: DemoFiles
    source_url: str
    target_url: str
    export: ExportSummary
    map_counts: dict[str, int]
    plan: Plan
    run: ImportRun
    rerun_plan: Plan  # the same file planned again after the import
    target_before: dict[str, int]
    target_after: dict[str, int]
    elapsed: float = 0.0
    steps: list[str] = field(default_factory=list)
    # The target published no plugin schemas (the bundled ones typed the file): the
    # simulated Issue Tracker API, whose documentation shows no schema endpoint.
    target_without_schemas: bool = False

    @property
    def ok(self) -> bool:
        return self.run.exit_code == 0


def demo_files(folder: str | Path) -> DemoFiles:
    samples = samples_dir()
    return DemoFiles(
        folder=Path(folder),
        source_data=samples / "source.json",
        target_data=samples / "target.json",
        secrets=samples / "secrets.csv",
    )


def prepare_folder(folder: str | Path) -> Path:
    """Create the output folder, removing only the files an earlier demo left there.

    A journal from an earlier run would otherwise make this import skip objects
    that the fresh simulators do not hold yet.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise InputError("exists and is not a folder", file=str(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
        for name in OUTPUTS:
            (path / name).unlink(missing_ok=True)
    except OSError as error:
        raise InputError(f"cannot use this folder: {error.strerror}", file=str(path)) from None
    return path


@one_run
def run_demo(
    folder: str | Path = DEFAULT_FOLDER, *, on_step: Callable[[str], None] | None = None
) -> DemoResult:
    """Migrate the bundled source instance to the bundled target, both simulated.

    folder: where the export, map, plan (as `plan --out` writes it), report and
    journal are written. on_step: told a one-line description as each step starts.
    """
    from almmigrate.sim import SimServer

    started = time.monotonic()
    files = demo_files(prepare_folder(folder))
    steps: list[str] = []

    def step(text: str) -> None:
        steps.append(text)
        if on_step is not None:
            on_step(text)

    # The migration that matters most: an older instance into a current one.
    step(
        f"Starting two simulated SD Elements instances on 127.0.0.1: the source speaks "
        f"the {SOURCE_API.label} API, the target the newer {TARGET_API.label} API"
    )
    with (
        SimServer(data=files.source_data, api=SOURCE_API.api) as source_sim,
        SimServer(data=files.target_data, api=TARGET_API.api) as target_sim,
        _schemas_notice(target_sim.url) as without_schemas,
    ):
        source = ConnectionSettings(source_sim.url, source_sim.token, rate=DEMO_RATE)
        target = ConnectionSettings(target_sim.url, target_sim.token, rate=DEMO_RATE)
        before = _counts(target_sim)

        step("Exporting the source instance (secrets masked)")
        exported = export(source, files.export)

        step("Matching source projects to target projects by name")
        rows = map_projects(source, target, files.project_map)
        map_counts = {m: sum(1 for r in rows if r.match == m) for m in (EXACT, AMBIGUOUS, MISSING)}

        step(
            f"Planning the import (nothing is written): {SOURCE_API.label} names are "
            f"translated to {TARGET_API.label} names"
        )
        options = ImportOptions(project_map=files.project_map, secrets=files.secrets)
        plan = plan_file(files.export, target, options, out=files.plan).plan

        step(f"Importing into the target at up to {DEMO_RATE:g} requests/s")
        run = import_file(
            files.export,
            target,
            options,
            RunOptions(report=files.report, errors=files.errors, journal=files.journal),
        )

        if run.errors_count == 0:
            files.errors.unlink(missing_ok=True)  # nothing failed: no file to fix

        step("Planning the same file again: a re-run must change nothing")
        rerun_plan = plan_file(files.export, target, options).plan
        after = _counts(target_sim)

    return DemoResult(
        files=files,
        source_url=source_sim.url,
        target_url=target_sim.url,
        export=exported,
        map_counts=map_counts,
        plan=plan,
        run=run,
        rerun_plan=rerun_plan,
        target_before=before,
        target_after=after,
        elapsed=time.monotonic() - started,
        steps=steps,
        target_without_schemas=bool(without_schemas),
    )


@contextmanager
def _schemas_notice(url: str) -> Iterator[list[str]]:
    """Hold back the warning that the instance at url publishes no plugin schemas.

    The demo says it in its summary instead (DemoResult.target_without_schemas): its
    target is ours and is meant to publish none. The yielded list holds the notice
    once given. Any other instance's notice is logged as ever.
    """
    held: list[str] = []
    ours = api_base(url)

    def hold(record: logging.LogRecord) -> bool:
        notice, instance = getattr(record, "notice", None), getattr(record, "instance", "")
        if notice == NO_SCHEMAS and api_base(str(instance)) == ours:
            held.append(record.getMessage())
            return False
        return True

    client_log = logging.getLogger("almmigrate.client")
    client_log.addFilter(hold)
    try:
        yield held
    finally:
        client_log.removeFilter(hold)


def _counts(sim: SimServer) -> dict[str, int]:
    """Connectors and connections the simulator holds right now."""
    state = sim.state.snapshot()
    return {"connectors": len(state["connectors"]), "connections": len(state["connections"])}
