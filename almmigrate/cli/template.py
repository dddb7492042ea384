"""`almmigrate template`: empty workbooks for bulk creation, one per ALM system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from almmigrate.cli.options import connection_options, settings_from
from almmigrate.template import Templates, make_templates, validate_command


@click.command("template")
@click.option(
    "--system", "system", metavar="ID", help="The ALM system's id, e.g. jira, github, rally, trac."
)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="One template per system, written into the --out folder as <system>.xlsx.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=True, writable=True),
    help="The workbook to write (FILE.xlsx), or a folder with --all.",
)
@connection_options
def command(
    system: str | None,
    every: bool,
    out: str,
    url: str | None,
    token: str | None,
    tls: dict[str, Any],
) -> None:
    """Write an empty workbook for creating connectors and connections in bulk.

    Built from the system's plugin schema: the bundled one offline, the
    instance's with --url or SDE_URL (which also lists the instance's
    projects, with their ids, on the projects sheet; stderr names the
    instance read). Required columns are bold red, dropdowns offer the choices
    of select, radio and boolean fields, header notes carry help text and
    checkbox options, and secret columns say to supply them with --secrets.
    Fill it in, then `almmigrate validate` and `almmigrate import`.

    \b
    Example:
      almmigrate template --system jira --out jira.xlsx
      almmigrate template --all --out templates/
      almmigrate template --system jira --out jira.xlsx --url https://sde.example.com
    """
    if every == bool(system):
        raise click.UsageError("Give either --system ID or --all.")
    settings = settings_from(url, token, **tls) if url else None
    made = make_templates(out, system=system, settings=settings, api=tls.get("api"))
    if made.source != "bundled":
        click.echo(_schemas_read(made), err=True)
    written = made.written
    if every:
        for one in written:
            click.echo(str(one.path))
        click.echo(f"{len(written)} templates written to {Path(out)}/")
        return
    [one] = written
    click.echo(str(one.path))
    click.echo(
        f"Template for {one.plugin.name} written. Fill it in, then: "
        f"{validate_command(one.plugin, one.path)}",
        err=True,
    )


def _schemas_read(made: Templates) -> str:
    """Which instance the schemas came from: SDE_URL set for other commands is used here too."""
    named = click.get_current_context().get_parameter_source("url")
    where = made.source + (" (SDE_URL)" if named == ParameterSource.ENVIRONMENT else "")
    plugins = f"{made.systems} plugin{'' if made.systems == 1 else 's'}"
    if not made.published:
        return f"Projects read from {where}; schemas bundled (it publishes none): {plugins}"
    return f"Schemas read from {where}: {plugins}"
