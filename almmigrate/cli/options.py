"""Options shared by several commands, each bundle as one decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from almmigrate.generation import API_CHOICES
from almmigrate.plan_types import Match, Mode
from almmigrate.settings import ConnectionSettings

F = Callable[..., Any]
Decorator = Callable[[Any], Any]


def _instance_options(
    prefix: str, env: str, label: str, also: str | None = None
) -> list[Decorator]:
    """--PREFIX-url and --PREFIX-token; `also` is another prefix accepted as a synonym.

    The target of a one-instance command is `--url` there and `--target-url` in a
    two-instance one: each accepts the other's name, so a script need not remember which.
    """
    dash = f"{prefix}-" if prefix else ""
    under = f"{prefix}_" if prefix else ""
    other = None if also is None else f"{also}-" if also else ""
    return [
        click.option(
            f"--{dash}url",
            *([f"--{other}url"] if other is not None else []),
            f"{under}url",
            envvar=f"SDE_{env}URL",
            metavar="URL",
            help=f"{label} instance root, e.g. https://sde.example.com (env SDE_{env}URL).",
        ),
        click.option(
            f"--{dash}token",
            *([f"--{other}token"] if other is not None else []),
            f"{under}token",
            envvar=f"SDE_{env}TOKEN",
            metavar="TOKEN",
            help=f"{label} API token (env SDE_{env}TOKEN; prefer the variable: options show in `ps`).",
        ),
        click.option(
            f"--{dash}api",
            f"{under}api",
            envvar=f"SDE_{env}API",
            type=click.Choice(API_CHOICES, case_sensitive=False),
            help=(
                f"{label} API generation: alm (/alm/ paths) or issue-tracker "
                f"(/issue-tracker/ paths). Default: ask the instance (env SDE_{env}API)."
            ),
        ),
    ]


_COMMON: list[Decorator] = [
    click.option("--insecure", is_flag=True, help="Do not verify TLS certificates."),
    click.option(
        "--ca-bundle",
        type=click.Path(exists=True, dir_okay=False),
        help="Verify TLS with this CA bundle (PEM).",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=30.0,
        show_default=True,
        help="Seconds to wait for each response.",
    ),
    click.option(
        "--allow-http",
        is_flag=True,
        help="Allow sending the token over plain http to a host that is not loopback.",
    ),
    click.option(
        "--max-wait",
        type=click.FloatRange(min=0),
        default=600.0,
        show_default=True,
        metavar="S",
        help="Longest the instance may make us wait (Retry-After, backoff) before giving up (exit 3).",
    ),
]


def _apply(decorators: list[Decorator], func: F) -> F:
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


TLS_OPTIONS = ("insecure", "ca_bundle", "timeout", "allow_http", "max_wait")
API_OPTIONS = ("api", "source_api", "target_api")


def _collect_tls(func: F) -> F:
    """Hand the command one `tls` dict (for :func:`settings_from`) instead of five options.

    The `--api` options of every instance the command talks to travel in it too:
    settings_from picks the one of the instance it builds settings for.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["tls"] = {name: kwargs.pop(name) for name in TLS_OPTIONS}
        kwargs["tls"].update({name: kwargs.pop(name) for name in API_OPTIONS if name in kwargs})
        return func(*args, **kwargs)

    return wrapper


def connection_options(func: F) -> F:
    """--url, --token, and --insecure, --ca-bundle, --timeout, --allow-http, --max-wait as `tls`."""
    return _apply(_instance_options("", "", "SD Elements") + _COMMON, _collect_tls(func))


def target_connection_options(func: F) -> F:
    """connection_options for a command that writes to or checks a target (plan, import, test,
    verify): --url and --token are also accepted as --target-url and --target-token."""
    return _apply(
        _instance_options("", "", "Target SD Elements", also="target") + _COMMON,
        _collect_tls(func),
    )


def two_instance_options(func: F) -> F:
    """--source-url/--source-token, --target-url/--target-token (also --url/--token), TLS as `tls`."""
    return _apply(
        _instance_options("source", "SOURCE_", "Source")
        + _instance_options("target", "TARGET_", "Target", also="")
        + _COMMON,
        _collect_tls(func),
    )


def settings_from(
    url: str | None,
    token: str | None,
    *,
    insecure: bool = False,
    ca_bundle: str | None = None,
    timeout: float = 30.0,
    allow_http: bool = False,
    max_wait: float = 600.0,
    which: str = "",
    pacing: dict[str, Any] | None = None,
    api: str | None = None,
    source_api: str | None = None,
    target_api: str | None = None,
    **tuning: Any,
) -> ConnectionSettings:
    """Build settings from options, or fail with a usage error naming what is missing.

    pacing: rate, adapt and concurrency from :func:`pacing_from` (None values kept).
    api, source_api, target_api: the `--api` of each instance; `which` picks one.
    """
    dash = f"{which}-" if which else ""
    env = f"SDE_{which.upper()}_" if which else "SDE_"
    if not url:
        raise click.UsageError(f"Missing --{dash}url (or the {env}URL environment variable).")
    if not token:
        raise click.UsageError(f"Missing --{dash}token (or the {env}TOKEN environment variable).")
    verify: bool | str = ca_bundle if ca_bundle else not insecure
    return ConnectionSettings(
        url=url,
        token=token,
        verify=verify,
        timeout=timeout,
        allow_http=allow_http,
        max_wait=max_wait,
        api={"": api, "source": source_api, "target": target_api}.get(which),
        **{k: v for k, v in tuning.items() if v is not None},
        **(pacing or {}),
    )


class RateParam(click.ParamType):
    """`auto` or a number of requests per second (at least 0.1)."""

    name = "auto|N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float | int) and not isinstance(value, bool):
            number = float(value)
        elif str(value).strip().lower() == "auto":
            return None
        else:
            try:
                number = float(str(value))
            except ValueError:
                self.fail(
                    f"{value!r} is neither 'auto' nor a number of requests per second", param, ctx
                )
        if not number >= 0.1 or number == float("inf"):
            self.fail(f"{value!r} is not a rate of at least 0.1 requests per second", param, ctx)
        return number


def pacing_from(rate: float | None, no_adapt: bool, concurrency: int | None) -> dict[str, Any]:
    """ConnectionSettings' rate, adapt and concurrency for --rate, --no-adapt, --concurrency."""
    if no_adapt and rate is None:
        raise click.UsageError("--no-adapt needs a number: --rate N --no-adapt (fixed pacing).")
    if no_adapt and concurrency is None:
        concurrency = 4  # fixed pacing: the fixed worker count of old
    return {"rate": rate, "adapt": not no_adapt, "concurrency": concurrency}


# ---------------------------------------------------------------- import / plan

STRICT_OPTION = click.option(
    "--strict",
    is_flag=True,
    help="Treat every warning as an error: refuse the file (exit 2, nothing written).",
)

_PROJECT_MAP = [
    click.option(
        "--project-map",
        "project_map",
        type=click.Path(exists=True, dir_okay=False),
        metavar="MAP.csv",
        help="Source -> target project ids (source_project,target_project), e.g. from map-projects.",
    ),
    click.option(
        "--auto-map-projects",
        is_flag=True,
        help="Match projects by business unit > application > project name, in memory.",
    ),
]
_MATCH = click.option(
    "--match",
    type=click.Choice([m.value for m in Match]),
    default=Match.NAME.value,
    show_default=True,
    help="Find target objects by natural key (name; project + alias) or by the id column.",
)
_SKIP_UNMAPPED = click.option(
    "--skip-unmapped",
    is_flag=True,
    help="Skip connections whose project is not mapped, instead of refusing the file.",
)

_IMPORT_PLAN: list[Decorator] = [
    *_PROJECT_MAP,
    click.option(
        "--secrets",
        "secrets",
        type=click.Path(exists=True, dir_okay=False),
        metavar="SECRETS.csv",
        help="Values for masked secrets: CSV kind,name,field,value (kind connector|connection).",
    ),
    click.option(
        "--mode",
        type=click.Choice([m.value for m in Mode]),
        default=Mode.UPSERT.value,
        show_default=True,
        help=(
            "upsert: create what is missing, update what differs. create: only create"
            " (objects already there are skipped). update: only update (missing ones fail)."
        ),
    ),
    _MATCH,
    _SKIP_UNMAPPED,
    STRICT_OPTION,
]


def import_plan_options(func: F) -> F:
    """--project-map, --auto-map-projects, --secrets, --mode, --match, --skip-unmapped, --strict.

    Shared by `plan`, `import` and `migrate`; turn the values into an
    ImportOptions with :func:`import_options_from`.
    """
    return _apply(_IMPORT_PLAN, func)


def mapping_options(func: F) -> F:
    """--project-map, --auto-map-projects, --match, --skip-unmapped: how file and target meet.

    `verify` takes these (as `import` does) without the options that shape writes.
    """
    return _apply([*_PROJECT_MAP, _MATCH, _SKIP_UNMAPPED], func)


def source_options(func: F) -> F:
    """--source-url/--source-token alone (for `--auto-map-projects` on a one-instance command)."""
    return _apply(_instance_options("source", "SOURCE_", "Source (for --auto-map-projects)"), func)


def import_options_from(
    *,
    project_map: str | None,
    auto_map_projects: bool,
    secrets: str | None,
    mode: str,
    match: str,
    skip_unmapped: bool,
    strict: bool = False,
    source: Any = None,
) -> Any:
    """The ImportOptions (almmigrate.prepare) for the values of `import_plan_options`."""
    from almmigrate.prepare import ImportOptions

    if project_map and auto_map_projects:
        raise click.UsageError("Give --project-map or --auto-map-projects, not both.")
    return ImportOptions(
        mode=Mode(mode),
        match=Match(match),
        project_map=project_map,
        auto_map_projects=auto_map_projects,
        source=source,
        secrets=secrets,
        skip_unmapped=skip_unmapped,
        strict=strict,
    )


# ---------------------------------------------------------------- import / migrate

_APPLY: list[Decorator] = [
    click.option(
        "--dry-run", is_flag=True, help="Show what would change (the plan); write nothing."
    ),
    click.option(
        "--rate",
        type=RateParam(),
        metavar="auto|N",
        default="auto",
        show_default=True,
        help=(
            "Requests per second to the target, across every worker. auto: find the limit "
            "the target enforces (start at 30/s, speed up while requests succeed; on a "
            "429, pause every worker for its Retry-After and take as the limit what the "
            "target accepted in the second before), then never send more than that in any "
            "second. A number N is a ceiling: never more than N in any second; up to 40 it "
            "is taken as the limit from the first request; below it the rate still adapts."
        ),
    ),
    click.option(
        "--no-adapt",
        is_flag=True,
        help="With --rate N: send at exactly N/s (fixed pacing), never adapting.",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(1, 64),
        default=None,
        help=(
            "Requests in flight at once. Default: what the rate needs at the observed "
            "latency (rate x latency, 2 to 32); 4 with --no-adapt."
        ),
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(1, 10000),
        default=50,
        show_default=True,
        help="Objects per journal batch (progress is saved after each).",
    ),
    click.option(
        "--retries",
        type=click.IntRange(0, 20),
        default=5,
        show_default=True,
        help="Retries of a request on 429, 502/503/504 and connection errors.",
    ),
    click.option(
        "--report",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Write the report: .xlsx, .csv, .json or .html.",
    ),
    click.option(
        "--errors",
        "errors_file",
        type=click.Path(path_type=Path),
        metavar="FILE",
        help="Write the failed rows in the import layout, to fix and import again.",
    ),
    click.option(
        "--journal",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Resumable progress. Default: beside FILE (import; edit.xlsx -> edit.xlsx.journal) or "
        "in the current folder, named after the target (migrate). After a crash, run the "
        "same command again.",
    ),
    click.option(
        "--no-journal",
        is_flag=True,
        help="Keep no journal: a run that stops half-way is then finished by looking every "
        "object up again.",
    ),
    click.option(
        "--wait-lock",
        is_flag=True,
        help="If another run on this machine is writing to the same target, wait for it "
        "instead of refusing.",
    ),
    click.option(
        "--verify",
        is_flag=True,
        help="After the last write, re-read the target and compare it with the file, field by "
        "field (exit 1 on a difference; listed in the report).",
    ),
]


def apply_options(func: F) -> F:
    """--dry-run, --rate, --no-adapt, --concurrency, --batch-size, --retries, --report, --errors,
    --journal, --no-journal, --wait-lock, --verify.

    Shared by `import` and `migrate`.
    """
    return _apply(_APPLY, func)
