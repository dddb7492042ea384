"""`almmigrate migrate`: export, map projects and import in one run, secrets kept in memory."""

from __future__ import annotations

from typing import Any

import click

from almmigrate.cli.import_ import (
    PLAN_KEYS,
    RUN_KEYS,
    pick,
    print_outcome,
    resume_hint,
    run_options,
)
from almmigrate.cli.options import (
    apply_options,
    import_options_from,
    import_plan_options,
    pacing_from,
    settings_from,
    two_instance_options,
)


@click.command("migrate")
@two_instance_options
@import_plan_options
@apply_options
@click.pass_context
def command(
    ctx: click.Context,
    source_url: str | None,
    source_token: str | None,
    target_url: str | None,
    target_token: str | None,
    tls: dict[str, Any],
    rate: float | None,
    no_adapt: bool,
    retries: int,
    **options: Any,
) -> None:
    """Move every connector and connection from the source instance to the target.

    Reads the source with its secrets in clear, in memory only (never written
    to disk), matches projects by business unit > application > project name
    (unless --project-map), validates, plans and applies with the same
    guarantees as `import`. --secrets replaces the source's secret values.
    What the source holds is carried over as it is: doubts are warnings
    (--strict refuses them); --verify re-reads the target afterwards.

    The rate finds itself (--rate auto): the progress line shows the request rate
    now, the limit found so far, the 429s and retries, and the time left; the
    summary adds the rate it settled on.

    \b
    Example:
      SDE_SOURCE_TOKEN=... SDE_TARGET_TOKEN=... almmigrate migrate \\
          --source-url https://old.example.com --target-url https://new.example.com \\
          --report migration.xlsx
    """
    from almmigrate.importer import migrate

    source = settings_from(source_url, source_token, which="source", **tls)
    target = settings_from(
        target_url,
        target_token,
        which="target",
        pacing=pacing_from(rate, no_adapt, options["concurrency"]),
        retries=retries,
        **tls,
    )
    plan_options = pick(options, PLAN_KEYS)
    plan_options["auto_map_projects"] = False  # migrate auto-maps unless --project-map
    import_options = import_options_from(source=source, **plan_options)
    run = run_options(**pick(options, RUN_KEYS))
    with resume_hint(run, target_url=target.url):
        outcome = migrate(source, target, import_options, run)
    print_outcome(outcome, "migration")
    ctx.exit(outcome.exit_code)
