"""`almmigrate validate FILE`: every problem of a file, with sheet, row and column."""

from __future__ import annotations

from typing import Any

import click

from almmigrate.cli.options import STRICT_OPTION, connection_options, settings_from
from almmigrate.plan_types import Mode
from almmigrate.problems import summary_text
from almmigrate.secrets import scrub


@click.command("validate")
@click.argument("file", type=click.Path(dir_okay=True, file_okay=True))
@click.option(
    "--mode",
    type=click.Choice([m.value for m in Mode]),
    default=Mode.UPSERT.value,
    show_default=True,
    help="With create, every row is checked as a create (required params, secrets).",
)
@click.option(
    "--secrets",
    type=click.Path(exists=True, dir_okay=False),
    metavar="SECRETS.csv",
    help="Values for masked secrets (kind,name,field,value), checked against the file.",
)
@STRICT_OPTION
@connection_options
def command(
    file: str,
    mode: str,
    secrets: str | None,
    strict: bool,
    url: str | None,
    token: str | None,
    tls: dict[str, Any],
) -> None:
    """Check a file and list every problem at once, by sheet, row and column.

    Offline it uses the plugin schemas bundled with the tool; with --url it
    uses the instance's, and checks that each connection's connector is in
    the file or on the instance. Errors are what is certainly wrong; warnings
    are doubts (a param the schema does not list or scopes to the connector):
    the value is sent as the file holds it and the target decides. Exit 2
    when there is any error, or any warning with --strict.

    \b
    Example:
      almmigrate validate connectors.xlsx
      almmigrate validate connectors.xlsx --url https://sde.example.com
    """
    from almmigrate.pipeline import validate_file

    settings = settings_from(url, token, **tls) if url else None
    found = validate_file(file, settings, mode=mode, secrets=secrets, strict=strict)
    for problem in found.problems:
        click.echo(scrub(f"  {problem.severity}: {problem}"))
    counts = f"{_plural(found.connectors, 'connector')}, {_plural(found.connections, 'connection')}"
    extra = f" ({summary_text(found.problems)})" if found.problems else ""
    click.echo(f"{counts}: no problems{extra}")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
