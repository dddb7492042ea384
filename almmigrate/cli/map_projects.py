"""`almmigrate map-projects --out MAP.csv`: match source projects to target projects for review."""

from __future__ import annotations

from typing import Any

import click

from almmigrate.cli.options import settings_from, two_instance_options
from almmigrate.mapping import (
    AMBIGUOUS,
    EXACT,
    MISSING,
)


@click.command("map-projects")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    metavar="MAP.csv",
    help="Where to write the map (source_project,target_project plus names and match).",
)
@two_instance_options
def command(
    out: str,
    source_url: str | None,
    source_token: str | None,
    target_url: str | None,
    target_token: str | None,
    tls: dict[str, Any],
) -> None:
    """Match source projects to target projects by business unit >
    application > project name (case- and space-insensitive) and write a map
    to review. Rows whose match is ambiguous or missing have no
    target_project: fill it in by hand, then pass the file to
    `import --project-map`.

    \b
    Example:
      almmigrate map-projects --source-url https://old.example.com \\
          --target-url https://new.example.com --out map.csv
    """
    from almmigrate.pipeline import map_projects

    source = settings_from(source_url, source_token, which="source", **tls)
    target = settings_from(target_url, target_token, which="target", **tls)
    rows = map_projects(source, target, out)
    counts = {
        match: sum(1 for r in rows if r.match == match) for match in (EXACT, AMBIGUOUS, MISSING)
    }
    click.echo(
        f"{len(rows)} source projects: {counts[EXACT]} exact, {counts[AMBIGUOUS]} ambiguous, "
        f"{counts[MISSING]} missing. Map written to {out}"
    )
    if counts[AMBIGUOUS] or counts[MISSING]:
        click.echo(
            "Review the rows without a target_project before importing (or use --skip-unmapped).",
            err=True,
        )
