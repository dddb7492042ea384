"""`almmigrate template`: empty workbooks for bulk creation, one per ALM system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from almmigrate.cli.options import connection_options, settings_from
from almmigrate.dataset import ProjectRecord, Snapshot
from almmigrate.generation import generation
from almmigrate.mapping import projects_of_snapshot
from almmigrate.schema import Plugin, bundled_plugins
from almmigrate.secrets import redact_url
from almmigrate.template import (
    find_plugin,
    validate_command,
    write_all_templates,
    write_template,
)
from almmigrate.vocabulary import translate_plugins


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
    instance's with --url (which also lists the instance's projects, with
    their ids, on the projects sheet). Required columns are bold red, dropdowns offer the
    choices of select, radio and boolean fields, header notes carry help text
    and checkbox options, and secret columns say to supply them with
    --secrets. Fill it in, then `almmigrate validate` and `almmigrate import`.

    \b
    Example:
      almmigrate template --system jira --out jira.xlsx
      almmigrate template --all --out templates/
      almmigrate template --system jira --out jira.xlsx --url https://sde.example.com
    """
    if every == bool(system):
        raise click.UsageError("Give either --system ID or --all.")
    plugins, source, projects = _from_instance(url, token, tls)
    if every:
        written = write_all_templates(plugins, out, source=source, projects=projects)
        for path in written:
            click.echo(str(path))
        click.echo(f"{len(written)} templates written to {Path(out)}/")
        return
    assert system is not None
    plugin = find_plugin(plugins, system)
    path = write_template(plugin, out, source=source, projects=projects)
    click.echo(str(path))
    click.echo(
        f"Template for {plugin.name} written. Fill it in, then: {validate_command(plugin, path)}",
        err=True,
    )


def _from_instance(
    url: str | None,
    token: str | None,
    tls: dict[str, Any],
) -> tuple[dict[str, Plugin], str, list[ProjectRecord]]:
    """The instance's plugin schemas and projects with --url, else the bundled schemas."""
    if not url:
        # Offline, --api says whose names the template uses (ALM by default).
        return translate_plugins(bundled_plugins(), generation(tls.get("api"))), "bundled", []
    from almmigrate.client import SDEClient

    settings = settings_from(url, token, **tls)
    with SDEClient(settings) as client:
        # An instance that publishes no schema gets the bundled ones in its names.
        plugins = client.list_plugins() or translate_plugins(bundled_plugins(), client.generation)
        instance = Snapshot(
            applications=client.list_applications(), projects=client.list_projects()
        )
    projects = [
        ProjectRecord(p.id, p.name, p.application, p.business_unit)
        for p in projects_of_snapshot(instance)
    ]
    return plugins, redact_url(url), projects
