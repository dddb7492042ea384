"""`almmigrate import FILE`: apply a file to the target, exactly once, with a report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from almmigrate.cli.options import (
    apply_options,
    import_options_from,
    import_plan_options,
    pacing_from,
    settings_from,
    source_options,
    target_connection_options,
)
from almmigrate.plan_types import OutcomeAction

MAX_FAILURES_SHOWN = 20


def run_options(
    *,
    dry_run: bool,
    concurrency: int | None,
    batch_size: int,
    report: Path | None,
    errors_file: Path | None,
    journal: Path | None,
    no_journal: bool,
    wait_lock: bool = False,
    verify: bool = False,
) -> Any:
    """RunOptions from the apply options; the library decides the journal's default path."""
    from almmigrate.importer import RunOptions
    from almmigrate.progress import is_terminal

    if journal is not None and no_journal:
        raise click.UsageError("Give --journal FILE or --no-journal, not both.")
    return RunOptions(
        dry_run=dry_run,
        concurrency=concurrency,
        batch_size=batch_size,
        report=report,
        errors=errors_file,
        journal=journal,
        no_journal=no_journal,
        progress=is_terminal(),
        wait_lock=wait_lock,
        verify=verify,
        announce=lambda text: click.echo(text, err=True),
    )


@click.command("import")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@target_connection_options
@source_options
@import_plan_options
@apply_options
@click.pass_context
def command(
    ctx: click.Context,
    file: Path,
    url: str | None,
    token: str | None,
    tls: dict[str, Any],
    source_url: str | None,
    source_token: str | None,
    rate: float | None,
    no_adapt: bool,
    retries: int,
    **options: Any,
) -> None:
    """Apply FILE (.xlsx, .json, a CSV folder or one CSV) to the target instance.

    Connectors first, then connections; creates what is missing, PATCHes only
    what differs, leaves equal objects alone, so a finished import re-run
    changes nothing. Never creates an object twice, even after a crash: run the
    same command again and it finishes the job from its journal (beside FILE;
    --journal FILE to choose, --no-journal for none). Exit 0 all done, 1 some
    rows failed (see --report) or --verify found a difference, 2 bad input or
    any warning with --strict (nothing written), 3 cannot reach or log in to
    the target.

    The rate finds itself (--rate auto): the progress line shows the request rate
    now, the limit found so far, the 429s and retries, and the time left; the
    summary adds the rate it settled on.

    \b
    Example:
      almmigrate import connectors.xlsx --url https://sde.example.com \\
          --project-map map.csv --secrets secrets.csv --report report.xlsx
    """
    from almmigrate.importer import import_file

    pacing = pacing_from(rate, no_adapt, options["concurrency"])
    settings = settings_from(url, token, retries=retries, pacing=pacing, **tls)
    source = settings_from(source_url, source_token, which="source", **tls) if source_url else None
    import_options = import_options_from(source=source, **pick(options, PLAN_KEYS))
    run = run_options(**pick(options, RUN_KEYS))
    with resume_hint(run, file=file, target_url=settings.url, command="import"):
        outcome = import_file(file, settings, import_options, run)
    print_outcome(outcome)
    ctx.exit(outcome.exit_code)


PLAN_KEYS = (
    "project_map",
    "auto_map_projects",
    "secrets",
    "mode",
    "match",
    "skip_unmapped",
    "strict",
)
RUN_KEYS = (
    "dry_run",
    "concurrency",
    "batch_size",
    "report",
    "errors_file",
    "journal",
    "no_journal",
    "wait_lock",
    "verify",
)


def pick(options: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: options[k] for k in keys}


@contextmanager
def resume_hint(run: Any, **where: Any) -> Iterator[None]:
    """On Ctrl-C, tell the user the run can simply be run again (then exit 130 as before).

    where: what importer.journal_for needs to name the journal the run keeps.
    """
    try:
        yield
    except KeyboardInterrupt:
        from almmigrate.importer import journal_for

        journal = journal_for(run, **where)
        kept = f"; progress is in {journal}" if journal else ""
        click.echo(
            "Interrupted: what was sent stays on the target and nothing will be created twice. "
            f"Run the same command again to finish{kept}.",
            err=True,
        )
        raise


def print_outcome(outcome: Any, what: str = "import") -> None:
    """The summary on stdout (a dry run: `plan`'s table); failures and file locations on stderr.

    what: the run the summary line names ("import", or "migration" for migrate).
    """
    from almmigrate.cli.plan import echo_warnings, print_plan
    from almmigrate.problems import summary_text
    from almmigrate.secrets import scrub

    warnings = outcome.warnings
    echo_warnings(warnings, str(outcome.report) if outcome.report else "--report FILE")
    if outcome.result is None:
        click.echo("dry run: nothing was written", err=True)
        print_plan(outcome.plan, warnings=warnings)
        return
    summary = outcome.result.summary.as_dict()
    stopped = outcome.stopped
    if stopped is not None and not outcome.result.outcomes:
        click.echo(scrub(f"{what} STOPPED before the first write: {stopped}"))
    elif stopped is not None:
        click.echo(
            scrub(
                f"{what} STOPPED before the end: {stopped}; {summary['total']} objects, "
                f"{summary.get('pending', 0)} not sent"
            )
        )
    else:
        counted = f", {summary_text(warnings)}" if warnings else ""
        click.echo(
            f"{what} finished: {summary['total']} objects, {_verdict(summary)}{counted}; "
            f"{summary['requests']} requests in {summary['elapsed_s']} s "
            f"({summary['rate_per_s']}/s)"
        )
    if outcome.result.outcomes or stopped is None:
        click.echo(_table([(k, v) for k, v in summary.items() if v is not None]))
    failed = outcome.result.failed
    for item in failed[:MAX_FAILURES_SHOWN]:
        where = f"{item.item.kind} row {item.item.row}" if item.item.row else item.item.kind
        click.echo(scrub(f"failed: {where} {item.item.key}: {item.error}"), err=True)
    if len(failed) > MAX_FAILURES_SHOWN:
        click.echo(
            f"... and {len(failed) - MAX_FAILURES_SHOWN} more failed rows (see the report)",
            err=True,
        )
    if outcome.verification is not None:
        print_verification(outcome.verification)
    for label, where in (
        ("report", outcome.report),
        ("errors", _errors_line(outcome)),
        ("journal", outcome.journal),
    ):
        if where is not None:
            click.echo(f"{label}: {where}", err=True)
    for problem in outcome.unwritten:
        click.echo(scrub(f"error: {problem}"), err=True)
    if stopped is not None or outcome.unwritten:
        click.echo(resume_advice(outcome), err=True)


def resume_advice(outcome: Any) -> str:
    """What to do after a run that stopped early or lost a file: fix the cause, run it again."""
    from almmigrate.apply import Interrupted, OutputFailed
    from almmigrate.errors import AuthenticationFailed

    stopped = outcome.stopped
    cause = stopped.cause if stopped is not None else None
    if isinstance(cause, AuthenticationFailed):
        why, when = "The instance refused the token", " with a valid one (SDE_TOKEN or --token)"
    elif isinstance(stopped, Interrupted):
        why, when = "Interrupted", ""
    elif isinstance(stopped, OutputFailed) or stopped is None:
        why, when = "A file of the run could not be written", " once there is room for it"
    else:
        why, when = "The instance keeps failing", " once it is back"
    sent = (
        "what was sent stays on the target and nothing will be created twice"
        if outcome.writes_sent
        else "nothing was written to the target"
    )
    kept = f"; progress is in {outcome.journal}" if outcome.journal else ""
    return f"{why}. Run the same command again{when} to finish: {sent}{kept}."


def print_verification(verification: Any) -> None:
    """ "verify: N objects, 0 differences" on stdout, then one line per difference."""
    from almmigrate.secrets import scrub

    click.echo(f"verify: {verification.summary()}")
    for difference in verification.differences:
        click.echo(scrub(f"  {difference.describe()}"))


def _verdict(summary: dict[str, Any]) -> str:
    """ "every row done" only when it is true: skipped rows were not done by this command."""
    failed, skipped = summary[OutcomeAction.FAILED], summary[OutcomeAction.SKIPPED]
    if failed:
        also = f" and {skipped} skipped" if skipped else ""
        return f"{failed} failed{also} (exit 1)"
    if skipped:
        return f"{skipped} skipped (see the report), none failed"
    return "every row done"


def _errors_line(outcome: Any) -> str | None:
    if outcome.errors is None:
        return None
    if not outcome.errors_files:
        return f"nothing failed, so {outcome.errors} was not written"
    rows = f"{outcome.errors_count} row{'' if outcome.errors_count == 1 else 's'}"
    return f"{', '.join(str(p) for p in outcome.errors_files)} ({rows})"


def _table(rows: list[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
