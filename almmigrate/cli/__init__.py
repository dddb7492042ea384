"""The `almmigrate` command line: parse, call the library, print, map errors to exit codes.

Each command lives in its own module under `almmigrate.cli` and is loaded
only when it runs, so `almmigrate --help` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import click

from almmigrate import __version__
from almmigrate.errors import AlmMigrateError, ValidationFailed
from almmigrate.secrets import ScrubFilter, current_redactor, in_run, redaction_scope, scrub

# command name -> module under almmigrate.cli holding a click command of that name.
COMMANDS = {
    "export": "export",
    "map-projects": "map_projects",
    "validate": "validate",
    "plan": "plan",
    "import": "import_",
    "migrate": "migrate",
    "test": "connectivity",
    "verify": "verify",
    "template": "template",
    "sim": "sim",
    "demo": "demo",
}


class LazyGroup(click.Group):
    """Lists and loads only the commands whose module exists."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, module in COMMANDS.items() if _module_exists(module)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None or not _module_exists(module):
            return None
        loaded = importlib.import_module(f"almmigrate.cli.{module}")
        command: click.Command = loaded.command
        if not any(param.name == "verbose" for param in command.params):
            command.params.append(_verbose_after_the_command())
        return command


def _verbose_after_the_command() -> click.Option:
    """-v/--verbose on every command too: `almmigrate export -v` means `almmigrate -v export`."""
    return click.Option(
        ["-v", "--verbose"],
        count=True,
        expose_value=False,
        callback=_more_verbose,
        help="More detail on stderr; -v also shows tracebacks (also before the command).",
    )


def _more_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if not value:
        return
    root = ctx.find_root()
    root.ensure_object(dict)
    total = root.obj.get("verbose", 0) + value
    root.obj["verbose"] = total
    configure_logging(total)


def _module_exists(module: str) -> bool:
    return importlib.util.find_spec(f"almmigrate.cli.{module}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v", "--verbose", count=True, help="More detail on stderr; -v also shows tracebacks."
)
@click.version_option(__version__, prog_name="almmigrate")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Move SD Elements ALM connectors and connections in bulk.

    Export them to Excel, CSV or JSON (secrets masked), edit them in a
    spreadsheet, see exactly what an import would change, and apply it to the
    same or another instance: resumable, rate-limited, never creating twice.

    \b
    Example:
      almmigrate export --url https://sde.example.com --out connectors.xlsx
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    if not in_run():  # the group invoked itself (click's CliRunner), not through main()
        ctx.with_resource(redaction_scope())
    configure_logging(verbose)


# The loggers a run configures for its terminal.
_LOGGERS = ("almmigrate", "httpx", "httpcore")


@contextlib.contextmanager
def logging_scope() -> Iterator[None]:
    """For the block, the run's own logging; then the caller's back. A process that calls
    main() itself (a test, a server) kept a handler writing to the stderr of that run, closed
    since: its next request logged "--- Logging error ---" and a traceback instead."""
    saved = [
        (logger, list(logger.handlers), logger.level, logger.propagate)
        for logger in map(logging.getLogger, _LOGGERS)
    ]
    try:
        yield
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate


def configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    # Bound to this run: a line logged by any of its threads hides what the run learnt.
    handler.addFilter(ScrubFilter(current_redactor()))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("almmigrate")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # httpx logs every request URL at INFO; keep it for -vv, scrubbed.
    for name in ("httpx", "httpcore"):
        other = logging.getLogger(name)
        other.handlers[:] = [handler] if verbose >= 2 else []
        other.setLevel(
            logging.DEBUG if verbose >= 3 else logging.INFO if verbose >= 2 else logging.WARNING
        )
        other.propagate = False


def report_error(error: BaseException, verbose: int) -> None:
    """One clear line on stderr (a traceback too with -v), secrets scrubbed."""
    if verbose:
        click.echo(scrub("".join(traceback.format_exception(error))), err=True)
    name = type(error).__name__
    click.echo(scrub(f"{name}: {error}"), err=True)
    if isinstance(error, ValidationFailed):
        for problem in error.problems:
            click.echo(scrub(f"  {problem.severity}: {problem}"), err=True)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: run the CLI and turn every outcome into an exit code."""
    if argv is None and hasattr(signal, "SIGPIPE"):
        # `| head` ends quietly. Only for the console script: in a process that calls
        # main() itself (a test, a server) a peer closing a socket would kill it.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if argv is None:
        # `kill` (a CI job cancelled, a container stopped) stops a run as Ctrl-C does: the
        # report of what was finished written, partial files and row folders removed.
        signal.signal(signal.SIGTERM, _terminated)
    verbose = sum(a.count("v") for a in (argv or sys.argv[1:]) if a.startswith("-v"))
    verbose += (argv or sys.argv[1:]).count("--verbose")
    # A run of its own, as a separate process would be: it learns its secrets from its
    # own tokens and files, logs to its own stderr, and a caller of main() keeps its own
    # (tests, a server).
    with redaction_scope(), logging_scope():
        try:
            # Without standalone mode click returns ctx.exit()'s code instead of exiting.
            code = cli.main(args=argv, prog_name="almmigrate", standalone_mode=False)
        except (click.exceptions.Abort, KeyboardInterrupt):
            if argv is None:
                stop_at_next_interrupt()
            how = "SIGTERM" if _TERMINATED.is_set() else "Ctrl-C"
            click.echo(f"Interrupted ({how}).", err=True)
            sys.exit(130)
        except click.ClickException as error:
            error.show()
            sys.exit(2 if error.exit_code == 2 else error.exit_code)
        except click.exceptions.Exit as done:
            if done.exit_code == 130 and argv is None:
                stop_at_next_interrupt()
            sys.exit(done.exit_code)
        except AlmMigrateError as error:
            report_error(error, verbose)
            sys.exit(error.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


_TERMINATED = threading.Event()


def _terminated(signum: int, frame: object) -> None:
    _TERMINATED.set()
    raise KeyboardInterrupt


def stop_at_next_interrupt() -> None:
    """After a Ctrl-C was handled, make another one end the process quietly, at once.

    Python joins worker threads still in a request before it exits; a second Ctrl-C
    there would print a traceback from the threading module. Everything worth keeping
    (journal, report) is written by then. Only for the console script (main() without
    argv): a process calling main() itself keeps its own Ctrl-C handling.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def stop_now(signum: int, frame: object) -> None:
        sys.stderr.write("Stopped.\n")
        sys.stderr.flush()
        os._exit(130)

    signal.signal(signal.SIGINT, stop_now)
    signal.signal(signal.SIGTERM, stop_now)
