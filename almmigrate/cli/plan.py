"""`almmigrate plan FILE`: what `import` would do on the target, sending nothing that writes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from almmigrate.cli.options import (
    import_options_from,
    import_plan_options,
    settings_from,
    source_options,
    target_connection_options,
)
from almmigrate.errors import Problem
from almmigrate.plan_types import Plan, PlanAction, PlanItem
from almmigrate.problems import summary_text
from almmigrate.secrets import scrub


@click.command("plan")
@click.argument("file", type=click.Path(dir_okay=True, file_okay=True))
@target_connection_options
@import_plan_options
@source_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    metavar="PLAN.json",
    help="Also write the plan as JSON, every object included (secrets never).",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="List unchanged objects in the table too (by default only their count is shown).",
)
def command(
    file: str,
    url: str | None,
    token: str | None,
    tls: dict[str, Any],
    source_url: str | None,
    source_token: str | None,
    out: str | None,
    show_all: bool,
    **choices: Any,
) -> None:
    """Show what an import of FILE would do on the target: create, update
    (each changed field, old -> new; a secret only as changed), unchanged or
    error, per object. Reads the target; sends nothing that writes. The table
    lists what changes and counts the unchanged objects (--all lists them too);
    --out PLAN.json always holds every object.

    Warnings (doubts: a param the schema does not list or scopes to the
    connector, a name the target will trim) are listed and counted; the value
    is sent as the file holds it and the target decides.

    Exit 0 when every object can be imported, 1 when some would fail, 2 when
    the file itself has problems (all listed), or any warning with --strict.

    \b
    Example:
      almmigrate plan edited.xlsx --url https://sde.example.com
      almmigrate plan export.xlsx --url https://target.example.com \\
          --project-map map.csv --secrets secrets.csv --out plan.json
    """
    from almmigrate.pipeline import plan_file

    settings = settings_from(url, token, **tls)
    source = None
    if choices.get("auto_map_projects") and source_url:
        source = settings_from(source_url, source_token, which="source", **tls)
    options = import_options_from(source=source, **choices)
    prepared = plan_file(file, settings, options, out=out or None)
    echo_warnings(prepared.warnings, out or "--out PLAN.json")
    print_plan(prepared.plan, show_all=show_all, warnings=prepared.warnings)
    if out:
        click.echo(f"Plan written to {out}", err=True)
    if prepared.plan.has_errors:
        sys.exit(1)


WARNINGS_SHOWN = 20


def echo_warnings(warnings: Sequence[Problem], full_list: str | None) -> None:
    """Warnings on stderr, the first WARNINGS_SHOWN of them; full_list says where they all are."""
    for warning in warnings[:WARNINGS_SHOWN]:
        click.echo(scrub(f"  warning: {warning}"), err=True)
    hidden = len(warnings) - WARNINGS_SHOWN
    if hidden > 0:
        where = f": {full_list} lists every one" if full_list else ""
        click.echo(f"  ... and {hidden} more warnings{where}", err=True)


def print_plan(plan: Plan, show_all: bool = False, warnings: Sequence[Problem] = ()) -> None:
    """The plan as a table on stdout, then one summary line.

    Unchanged objects are only counted unless show_all: on a bulk edit of a big
    instance they would bury the few rows a person has to read.
    """
    from rich.console import Console
    from rich.table import Table

    terminal = sys.stdout.isatty()
    console = Console(highlight=False, width=None if terminal else 200, no_color=not terminal)
    shown = [item for item in plan.items if show_all or item.action != PlanAction.UNCHANGED]
    if shown:
        table = Table(show_lines=False, expand=terminal)
        for column in ("kind", "row"):
            table.add_column(column, no_wrap=True)
        table.add_column("key", overflow="fold", ratio=2)
        table.add_column("action", no_wrap=True)
        table.add_column("details", overflow="fold", ratio=3)
        for item in shown:
            table.add_row(
                item.kind,
                "" if item.row is None else str(item.row),
                item.key,
                _styled(item.action),
                scrub(item_details(item)),
            )
        console.print(table)
    hidden = len(plan.items) - len(shown)
    if hidden:
        objects = "object" if hidden == 1 else "objects"
        also = "" if shown else "nothing to change; "
        console.print(f"{also}{hidden} unchanged {objects} not listed (--all lists them)")
    console.print(summary_line(plan, warnings))


def summary_line(plan: Plan, warnings: Sequence[Problem] = ()) -> str:
    """ "Plan: 1 create, 2 update, 5 unchanged, 0 skipped, 0 error; 3 warnings"."""
    counts = plan.counts()
    line = "Plan: " + ", ".join(f"{counts.get(a, 0)} {a}" for a in PlanAction)
    return f"{line}; {summary_text(warnings)}" if warnings else line


def item_details(item: PlanItem) -> str:
    """What a person needs to see about one item: changes, or why it fails."""
    if item.action in (PlanAction.ERROR, PlanAction.SKIPPED):
        return item.error or ""
    if item.action == PlanAction.CREATE:
        where = ""
        if item.kind == "connection":
            connector = (
                item.body.get("connector") or f'"{item.connector_name}" (created in this run)'
            )
            where = f"in project {item.project}, connector {connector}; "
        params = item.body.get("params", {})
        count = len(params)
        return f"{where}{count} param{'' if count == 1 else 's'}" + (
            f" ({len(item.secret_fields)} secret)" if item.secret_fields else ""
        )
    return "\n".join(change.describe() for change in item.changes)


_STYLES = {
    PlanAction.CREATE: "green",
    PlanAction.UPDATE: "yellow",
    PlanAction.ERROR: "bold red",
    PlanAction.SKIPPED: "dim",
}


def _styled(action: PlanAction) -> str:
    style = _STYLES.get(action)
    return f"[{style}]{action}[/{style}]" if style else action
