"""`almmigrate sim`: serve a simulated SD Elements instance from a data file until Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click

from almmigrate.generation import ALM, API_CHOICES
from almmigrate.resources import samples_dir
from almmigrate.sim import Faults, SimServer


def _describe_faults(faults: Faults) -> str:
    parts = []
    if faults.latency_ms:
        parts.append(f"latency {faults.latency_ms:g} ms")
    if faults.rate_limit:
        form = "HTTP date" if faults.retry_after_date else "seconds"
        if faults.throttle == "sliding-window":
            window = faults.throttle_window
            counted = f"at most {max(1, round(faults.rate_limit * window))} in any {window:g} s"
        else:
            counted = "token bucket, 1 s of burst"
        parts.append(
            f"rate limit {faults.rate_limit:g} requests/s ({counted}; 429, Retry-After in {form})"
        )
        if faults.limit_headers:
            parts.append("RateLimit-* headers sent")
    if faults.capacity:
        parts.append(f"capacity {faults.capacity} requests at once (others queue)")
    if faults.fail_rate:
        parts.append(f"{faults.fail_rate:.0%} of requests fail with {faults.fail_status}")
    if faults.drop_rate:
        parts.append(f"{faults.drop_rate:.0%} of writes committed then dropped unanswered")
    if faults.revoke_after_writes is not None:
        parts.append(f"the token is revoked after {faults.revoke_after_writes} writes (401)")
    if faults.write_error_bytes:
        parts.append(f"every write answered 500 with a {faults.write_error_bytes}-byte body")
    if faults.html_create_answer:
        parts.append("creates committed, then answered with an HTML page")
    if faults.echo_rejects:
        parts.append("every write refused 400, the request echoed back as a Python repr")
    if parts and faults.seed is not None:
        parts.append(f"seed {faults.seed}")
    return "; ".join(parts) or "none"


def say(text: str = "") -> None:
    """Everything the command prints goes to stderr: stdout stays clean."""
    click.echo(text, err=True)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("sim")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="JSON data file to serve (format in almmigrate/DESIGN.md). Default: the bundled samples/source.json.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; loopback only unless --allow-remote.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a host that is not loopback (anyone who can reach it can use the token).",
)
@click.option(
    "--token", metavar="TOKEN", help='API token to accept. Default: the data file\'s "token".'
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Delay added to every request.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    metavar="N",
    help="Requests per second over all clients; above it answer 429 with Retry-After.",
)
@click.option(
    "--throttle",
    type=click.Choice(["token-bucket", "sliding-window"]),
    default="token-bucket",
    show_default=True,
    help=(
        "How --rate-limit counts. token-bucket: N tokens a second, one second of burst in "
        "reserve. sliding-window: at most N x W requests in any W seconds, checked on "
        "arrival, Retry-After rounded up to whole seconds (as Django REST Framework does)."
    ),
)
@click.option(
    "--throttle-window",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    metavar="W",
    help="The sliding window's length in seconds.",
)
@click.option(
    "--limit-headers", is_flag=True, help="Send RateLimit-Limit/-Remaining/-Reset/-Policy headers."
)
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    metavar="N",
    help=(
        "Requests worked on at once; more queue, so latency grows with concurrent "
        "requests instead of a 429. Default: unbounded."
    ),
)
@click.option(
    "--retry-after-date", is_flag=True, help="Send Retry-After as an HTTP date instead of seconds."
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of requests answered --fail-status before processing (0 to 1).",
)
@click.option(
    "--fail-status",
    type=click.Choice(["500", "502", "503", "504"]),
    default="503",
    show_default=True,
    help="The status those requests are answered with.",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of writes committed, then the connection closed without a response.",
)
@click.option(
    "--revoke-after-writes",
    type=click.IntRange(min=0),
    metavar="N",
    help="Revoke the token once N writes were committed: every request after is a 401.",
)
@click.option(
    "--write-error-bytes",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Answer every write 500 with a JSON error body of N bytes (a server echoing a lot).",
)
@click.option(
    "--html-create-answer",
    is_flag=True,
    help="Commit each create, then answer it with an HTML page instead of JSON (a proxy).",
)
@click.option(
    "--echo-rejects",
    is_flag=True,
    help="Refuse every write 400 echoing the request as a Python repr (secrets escaped in it).",
)
@click.option("--seed", type=int, help="Seed for reproducible failures and drops.")
@click.option(
    "--api",
    type=click.Choice(API_CHOICES, case_sensitive=False),
    default=ALM,
    show_default=True,
    help=(
        "Generation of the API to serve: alm (/alm/ paths, alm_* params) or issue-tracker"
        " (/issue-tracker/ paths, issue_tracker_* params, no plugin or test endpoints)."
    ),
)
def command(
    data: Path | None,
    port: int,
    host: str,
    allow_remote: bool,
    token: str | None,
    latency_ms: float,
    rate_limit: float | None,
    throttle: str,
    throttle_window: float,
    limit_headers: bool,
    capacity: int | None,
    retry_after_date: bool,
    fail_rate: float,
    fail_status: str,
    drop_rate: float,
    revoke_after_writes: int | None,
    write_error_bytes: int,
    html_create_answer: bool,
    echo_rejects: bool,
    seed: int | None,
    api: str,
) -> None:
    """Serve a local stand-in of the SD Elements ALM API, for rehearsals and tests.

    Serves connectors, connections, plugins, projects, applications and
    business units from a JSON data file, validates writes like the real
    API, and can inject latency, rate limiting (429), failures (503) and
    dropped connections. Changes live in memory only; the file is not
    modified. Runs until Ctrl-C.

    \b
    Example:
      almmigrate sim --data samples/source.json --port 8765 --rate-limit 5
      almmigrate sim --latency-ms 100 --rate-limit 40 --throttle sliding-window
      SDE_URL=http://127.0.0.1:8765 SDE_TOKEN=sim-source-token \\
        almmigrate export --out connectors.xlsx
    """
    from almmigrate.client import is_loopback

    if not allow_remote and not is_loopback(host):
        raise click.UsageError(
            f"refusing to listen on {host}: the simulator is a rehearsal tool with a known "
            "token; use a loopback address, or add --allow-remote."
        )
    path = data or samples_dir() / "source.json"
    faults = Faults(
        latency_ms,
        rate_limit,
        fail_rate,
        drop_rate,
        seed,
        retry_after_date,
        fail_status=int(fail_status),
        throttle=throttle,
        throttle_window=throttle_window,
        limit_headers=limit_headers,
        capacity=capacity,
        revoke_after_writes=revoke_after_writes,
        write_error_bytes=write_error_bytes,
        html_create_answer=html_create_answer,
        echo_rejects=echo_rejects,
    )
    sim = SimServer(path, token=token, faults=faults, host=host, port=port, api=api).start()
    gen = sim.state.generation
    origin = "given with --token" if token else f'the "token" field of {path}'
    say(f"Simulated SD Elements instance ({gen.label} generation of the API) serving {path}")
    say(f"  URL:    {sim.url}   (API under {sim.api_url})")
    say(f"  Token:  {origin} (not shown)")
    say(f"  Faults: {_describe_faults(faults)}")
    say("Try:")
    say(f'  curl -H "Authorization: Token $SDE_TOKEN" "{sim.api_url}{gen.connections}?page_size=5"')
    say(f"  SDE_URL={sim.url} almmigrate export --out connectors.xlsx   (with SDE_TOKEN set)")
    say("Press Ctrl-C to stop.")
    # Also SIGINT: a shell starting us in the background would have it ignored.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sim.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stats = sim.stats
    say(
        f"Stopped after {stats.requests} requests ({stats.writes} writes, {stats.throttled} "
        f"throttled, {stats.failed} failed, {stats.dropped} dropped)."
    )
