"""`almmigrate export`: read an instance into a workbook, a JSON document or a CSV folder."""

from __future__ import annotations

from typing import Any

import click

from almmigrate.cli.options import connection_options, settings_from
from almmigrate.exporter import ONLY_CHOICES, export
from almmigrate.files.atomic import file_identity

INCLUDE_SECRETS_WARNING = (
    "WARNING: --include-secrets writes every password, token and key IN CLEAR TEXT to {out}.\n"
    "WARNING: the file is created readable by you only (mode 0600); store it like a credential "
    "and delete it when done."
)


@click.command("export")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=True, file_okay=True, writable=False),
    metavar="FILE",
    help="Where to write: FILE.xlsx, FILE.json, FILE.csv (one sheet, with --only), "
    "or any other path for a folder of CSV files (a name such as FILE.xls or FILE.txt "
    "is refused).",
)
@click.option(
    "--only",
    type=click.Choice(ONLY_CHOICES),
    help="Export only connectors, or only connections (with their projects).",
)
@click.option(
    "--project",
    "projects",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="ID",
    help="Only this project's connections (repeatable); connectors limited to those they use.",
)
@click.option(
    "--with-last-job", is_flag=True, help="Add each connection's last sync job (last_job.*)."
)
@click.option(
    "--include-secrets",
    is_flag=True,
    help="Write passwords, tokens and keys in clear text (file mode 0600). Default: masked.",
)
@connection_options
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=32),
    default=4,
    show_default=True,
    help="Pages fetched at the same time.",
)
@click.option(
    "--page-size",
    type=click.IntRange(min=1, max=1000),
    default=100,
    show_default=True,
    help="Objects asked for per page.",
)
def command(
    out: str,
    only: str | None,
    projects: tuple[int, ...],
    with_last_job: bool,
    include_secrets: bool,
    url: str | None,
    token: str | None,
    tls: dict[str, Any],
    concurrency: int,
    page_size: int,
) -> None:
    """Export ALM connectors, connections and projects to a file, secrets masked.

    The format follows the --out path: .xlsx (a workbook for Excel or
    LibreOffice), .json (typed), or any other path (a folder of CSV files:
    connectors.csv, connections.csv, projects.csv, _meta.csv). Connections
    carry only their own params, not those inherited from their connector.

    \b
    Example:
      export SDE_URL=https://sde.example.com SDE_TOKEN=...
      almmigrate export --out audit.xlsx --with-last-job
      almmigrate export --out bulk-edit.xlsx --only connections --project 12 --project 40
    """
    settings = settings_from(
        url,
        token,
        **tls,
        concurrency=concurrency,
        page_size=page_size,
    )
    if include_secrets:
        click.secho(INCLUDE_SECRETS_WARNING.format(out=out), err=True, fg="red", bold=True)
    before = file_identity(out)
    try:
        summary = export(
            settings,
            out,
            only=only,
            projects=projects,
            with_last_job=with_last_job,
            include_secrets=include_secrets,
            progress=True,
        )
        click.echo(summary.describe())  # the summary: stdout, as in every command
    except KeyboardInterrupt:
        if file_identity(out) in (None, before):
            raise  # nothing of this run's is in place: "Interrupted", exit 130
        # Ctrl-C (or SIGTERM, which stops a run the same way) came after the file was whole and in place: saying "interrupted" would
        # hide a complete file (with --include-secrets, credentials in clear).
        click.echo(f"Export finished: {out} was written in full before the interrupt came.")
