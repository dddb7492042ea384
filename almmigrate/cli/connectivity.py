"""`almmigrate test`: run the instance's connectivity tests for a file's objects, or all."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from almmigrate.cli.options import settings_from, target_connection_options
from almmigrate.connectivity import (
    FAILED,
    NOT_AVAILABLE,
    PASSED,
    SKIPPED,
    TestResult,
    TestsInterrupted,
    counts,
    run_connectivity,
)

_STYLE = {PASSED: "green", FAILED: "bold red", SKIPPED: "yellow", NOT_AVAILABLE: "dim"}


@click.command("test")
@click.argument("file", required=False, type=click.Path(exists=True))
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Test every connector and connection on the instance instead of a file's.",
)
@click.option(
    "--secrets",
    "secrets_path",
    type=click.Path(exists=True, dir_okay=False),
    metavar="SECRETS.csv",
    help="Values for masked secrets (kind,name,field,value).",
)
@click.option(
    "--project-map",
    "project_map_path",
    type=click.Path(exists=True, dir_okay=False),
    metavar="MAP.csv",
    help="Source -> instance project ids, for a file from another instance.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also write the results to FILE: .csv, .json, .xlsx or .html.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Tests run at the same time.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 20),
    default=5,
    show_default=True,
    help="Retries of a request that failed for a passing reason (429, 503, network).",
)
@target_connection_options
def command(
    file: str | None,
    every: bool,
    secrets_path: str | None,
    project_map_path: str | None,
    report_path: str | None,
    concurrency: int,
    retries: int,
    url: str | None,
    token: str | None,
    tls: dict[str, Any],
) -> None:
    """Test that SD Elements can reach each ALM with the given settings.

    Calls connectors/testalm/ and connections/testalm/ on the instance for
    every connector and connection in FILE (or, with --all, every one on the
    instance) and prints one line each: passed, failed (with the ALM's
    message) or skipped (a masked secret with no value in --secrets). Exit 1
    when any test failed.

    \b
    Example:
      almmigrate test connectors.xlsx --url https://sde.example.com --secrets secrets.csv
      almmigrate test --all --url https://sde.example.com --report tests.csv
    """
    if every == bool(file):
        raise click.UsageError("Give either FILE or --all.")
    settings = settings_from(
        url,
        token,
        **tls,
        retries=retries,
        concurrency=concurrency,
    )
    # Imported when run: `almmigrate --help` loads every command module.
    from almmigrate.progress import progress

    interrupted: TestsInterrupted | None = None
    with progress("Testing") as bar:
        try:
            found = run_connectivity(
                settings,
                None if every else file,
                secrets=secrets_path,
                project_map=project_map_path,
                concurrency=concurrency,
                on_progress=bar.update,
                report=report_path,
            )
        except TestsInterrupted as stopped:
            interrupted = stopped
    if interrupted is not None:
        _print(interrupted.results)
        _echo_report(interrupted.report)
        click.echo("Interrupted (Ctrl-C): tests not run are marked skipped.", err=True)
        sys.exit(interrupted.exit_code)
    _print(found.results)
    _echo_report(found.report)
    sys.exit(found.exit_code)


def _echo_report(report: Path | None) -> None:
    if report is not None:
        click.echo(f"Report: {report}", err=True)


def _print(results: list[TestResult]) -> None:
    """A table of the tests that did not pass (every one passed: none), then the counts."""
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    shown = [r for r in results if r.result != PASSED]
    if shown:
        # Piped or redirected, a wide table beats one folded at 80 columns.
        table = Table(show_lines=False)
        # Rows only mean something for a file; --all has none.
        with_rows = any(r.row is not None for r in shown)
        columns = ["kind", "row", "name", "system", "result", "message"]
        for name in columns if with_rows else [c for c in columns if c != "row"]:
            table.add_column(name, overflow="fold")
        for result in shown:
            # Text, not markup: a name or an ALM's message may hold "[...]".
            cells: list[str | Text] = [
                result.kind,
                "" if result.row is None else str(result.row),
                Text(result.name),
                Text(result.system),
                Text(result.result, style=_STYLE.get(result.result, "")),
                Text(result.message),
            ]
            table.add_row(*(cells if with_rows else cells[:1] + cells[2:]))
        console.print(table)
    found = counts(results)
    summary = f"{found[PASSED]} passed, {found[FAILED]} failed, {found[SKIPPED]} skipped"
    if found[NOT_AVAILABLE]:
        summary += (
            f", {found[NOT_AVAILABLE]} not available (this instance has no connectivity test)"
        )
    console.print(summary)
