"""`almmigrate demo`: a whole migration between two simulated instances, with no set-up."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from almmigrate.demo import DEFAULT_FOLDER, SOURCE_API, TARGET_API, DemoResult, run_demo
from almmigrate.plan_types import Plan
from almmigrate.resources import readme_path


@click.command("demo")
@click.option(
    "--out",
    "folder",
    default=DEFAULT_FOLDER,
    show_default=True,
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Folder for the files the demo writes (export, map, plan, report).",
)
def command(folder: str) -> None:
    """Run a complete migration on your machine, with nothing to set up.

    Starts two simulated SD Elements instances on 127.0.0.1 from the bundled
    samples, exports the first (secrets masked) to Excel, matches projects,
    plans, imports into the second with the sample secrets file, writes the
    report, then shows that a re-run would change nothing. Every file is left
    in --out for you to open. Nothing leaves the machine.

    \b
    Example:
      almmigrate demo
      almmigrate demo --out /tmp/demo
    """
    from almmigrate.cli.plan import summary_line

    def on_step(text: str) -> None:
        click.echo(f"- {text} ...", err=True)

    result = run_demo(folder, on_step=on_step)
    click.echo("")
    click.echo(describe(result, summary_line))
    sys.exit(result.run.exit_code)


def _activate_hint() -> list[str]:
    """How to get `almmigrate` on PATH when it runs from a venv that is not active."""
    scripts = Path(sys.prefix) / "bin"
    on_path = str(scripts) in os.environ.get("PATH", "").split(os.pathsep)
    if sys.prefix == sys.base_prefix or on_path:
        return []
    return [f"  . {_shown(scripts / 'activate')}   # first: put almmigrate on your PATH"]


def _shown(path: Path) -> str:
    """A path relative to the current folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def describe(result: DemoResult, summary_line: Callable[[Plan], str]) -> str:
    """What happened, where every file is, and what to try next."""
    files = result.files
    run = result.run
    summary = run.result.summary if run.result else None
    done = summary.as_dict() if summary else {}
    lines = [
        f"Demo finished in {result.elapsed:.1f} s: "
        + ("every object migrated." if result.ok else "some rows FAILED, see the report."),
        "",
        "What happened",
        f"  source instance  {result.source_url}  (simulated {SOURCE_API.label} API, "
        f"from {_shown(files.source_data)})",
        f"  target instance  {result.target_url}  (simulated {TARGET_API.label} API, "
        f"from {_shown(files.target_data)})",
        f"  the file keeps the source's {SOURCE_API.label} names (alm_*); the target got "
        f"{TARGET_API.label} names (issue_tracker_*)",
        *(
            [
                f"  the target publishes no plugin schemas (its {TARGET_API.label} API documents "
                "none): the bundled ones, in its names, typed the file"
            ]
            if result.target_without_schemas
            else []
        ),
        f"  1. export        {result.export.describe()}",
        f"  2. map-projects  {sum(result.map_counts.values())} source projects: "
        f"{result.map_counts['exact']} exact, {result.map_counts['ambiguous']} ambiguous, "
        f"{result.map_counts['missing']} missing",
        f"  3. plan          {summary_line(result.plan)}",
        f"  4. import        {done.get('created', 0)} created, {done.get('updated', 0)} updated, "
        f"{done.get('adopted', 0)} adopted, {done.get('unchanged', 0)} unchanged, "
        f"{done.get('failed', 0)} failed; {done.get('requests', 0)} requests in "
        f"{done.get('elapsed_s', 0)} s ({done.get('rate_per_s', 0)}/s, "
        f"{done.get('throttled', 0)} throttled), secrets from {files.secrets.name}",
        f"  5. re-plan       {summary_line(result.rerun_plan)}",
        f"  target now holds {result.target_after['connectors']} connectors and "
        f"{result.target_after['connections']} connections "
        f"(was {result.target_before['connectors']} and {result.target_before['connections']})",
        "",
        f"Files (in {files.folder.resolve()})",
        f"  {files.export.name:<22} the source export: open it in Excel or LibreOffice",
        f"  {files.project_map.name:<22} source -> target project ids, with names to review",
        f"  {files.plan.name:<22} what the import was going to do, object by object",
        f"  {files.report.name:<22} the import report: summary and one row per object",
        f"  {files.journal.name:<22} the resumable progress journal (no secrets)",
    ]
    if run.errors_count:
        lines.append(
            f"  {files.errors.name:<22} the {run.errors_count} failed rows, to fix and re-run"
        )
    lines += [
        f"  secrets used           {_shown(files.secrets)} (sample values)",
        "",
        "Try next",
        *_activate_hint(),
        "  almmigrate template --system jira --out jira.xlsx   "
        "# an empty workbook for bulk creation",
        f"  almmigrate sim --data {_shown(files.source_data)} --port 8775 --token rehearsal &",
        "      # serve the sample source yourself, in the background (kill %1 stops it)",
        "  export SDE_URL=http://127.0.0.1:8775 SDE_TOKEN=rehearsal",
        "  almmigrate export --out mine.xlsx && almmigrate test --all",
        "  almmigrate --help   # every command, each with an example",
        *_readme_hint(),
    ]
    return "\n".join(lines)


def _readme_hint() -> list[str]:
    """Where the README is, when there is one to open (a checkout, not an installed wheel)."""
    readme = readme_path()
    if readme is None:
        return []
    return [f"  {_shown(readme)} walks through a real migration, a bulk edit and an audit export."]
