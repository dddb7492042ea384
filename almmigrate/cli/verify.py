"""`almmigrate verify FILE`: re-read the target and compare it with the file, field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from almmigrate.cli.options import (
    mapping_options,
    settings_from,
    source_options,
    target_connection_options,
)
from almmigrate.plan_types import Mode


@click.command("verify")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@target_connection_options
@source_options
@mapping_options
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write every difference: .xlsx, .csv, .json or .html.",
)
@click.pass_context
def command(
    ctx: click.Context,
    file: Path,
    url: str | None,
    token: str | None,
    tls: dict[str, Any],
    source_url: str | None,
    source_token: str | None,
    report: Path | None,
    project_map: str | None,
    auto_map_projects: bool,
    match: str,
    skip_unmapped: bool,
) -> None:
    """Check that the target holds what FILE says, field by field.

    Re-reads the target and compares every object of the file with it, as
    `import` would match them (same --project-map, --auto-map-projects,
    --match). Secrets are never compared by value: a secret the file gives is
    checked only as present. A name the target trimmed is not a difference.
    Exit 0 when equal, 1 with one line per difference, 2 for a bad file,
    3 when the target cannot be reached.

    \b
    Example:
      almmigrate verify export.xlsx --url https://target.example.com --project-map map.csv
    """
    from almmigrate.cli.import_ import print_verification
    from almmigrate.cli.options import import_options_from
    from almmigrate.verify import verify_file

    settings = settings_from(url, token, **tls)
    source = settings_from(source_url, source_token, which="source", **tls) if source_url else None
    options = import_options_from(
        project_map=project_map,
        auto_map_projects=auto_map_projects,
        secrets=None,
        mode=Mode.UPSERT.value,
        match=match,
        skip_unmapped=skip_unmapped,
        source=source,
    )
    verification = verify_file(file, settings, options, report=report)
    print_verification(verification)
    if verification.report is not None:
        click.echo(f"report: {verification.report}", err=True)
    ctx.exit(verification.exit_code)
