"""Every command's --help, walked: the options shared by several commands are there, alike.

A script written for one command must work for the next: the target is
`--url` or `--target-url` wherever there is a target, `-v` works before or
after the command, `--report` takes the same formats wherever it exists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli, help_page, listed_commands

TLS = ("--insecure", "--ca-bundle", "--timeout", "--allow-http")
# Commands that talk to one instance, and those whose instance is a target.
ONE_INSTANCE = {"export", "validate", "template", "plan", "import", "test", "verify"}
TARGETED = {"plan", "import", "test", "migrate", "map-projects", "verify"}
TWO_INSTANCES = {"migrate", "map-projects"}
APPLYING = {"import", "migrate"}
APPLY_OPTIONS = ("--dry-run", "--rate", "--concurrency", "--batch-size", "--retries",
                 "--report", "--errors", "--journal", "--no-journal", "--strict")  # fmt: skip
REPORTING = {"import", "migrate", "test"}


def options_of(name: str) -> dict[str, str]:
    """Each option name of a command -> its help text (the lines click wraps it onto, joined)."""
    found: dict[str, str] = {}
    listed: list[str] = []
    for line in help_page(name).split("Options:", 1)[1].splitlines():
        names = re.match(r"^\s+((?:-{1,2}[a-z][\w-]*(?:, |/| )?)+)", line)
        if names:
            listed = re.findall(r"-{1,2}[a-z][\w-]*", names.group(1))
            for option in listed:
                found[option] = line.strip()
        elif line.strip():
            for option in listed:
                found[option] += " " + line.strip()
    return found


@pytest.mark.parametrize("name", listed_commands())
def test_every_command_takes_verbose_and_help(name: str) -> None:
    options = options_of(name)
    assert {"-v", "--verbose", "-h", "--help"} <= set(options), name


@pytest.mark.parametrize("name", sorted(set(listed_commands()) & (ONE_INSTANCE | TWO_INSTANCES)))
def test_every_command_that_talks_to_an_instance_takes_the_tls_options(name: str) -> None:
    options = options_of(name)
    assert set(TLS) <= set(options), name
    assert ("--url" in options) and ("--token" in options), name


@pytest.mark.parametrize("name", sorted(set(listed_commands()) & TARGETED))
def test_the_target_is_url_and_target_url_alike(name: str) -> None:
    options = options_of(name)
    for one, other in (("--url", "--target-url"), ("--token", "--target-token")):
        assert one in options and other in options, name
        assert options[one] == options[other], "two names of one option"


@pytest.mark.parametrize("name", sorted(set(listed_commands()) & TWO_INSTANCES))
def test_two_instance_commands_take_both_sources_and_targets(name: str) -> None:
    assert {"--source-url", "--source-token"} <= set(options_of(name))


@pytest.mark.parametrize("name", sorted(set(listed_commands()) & APPLYING))
def test_import_and_migrate_share_every_apply_option(name: str) -> None:
    options = options_of(name)
    assert set(APPLY_OPTIONS) <= set(options), set(APPLY_OPTIONS) - set(options)


@pytest.mark.parametrize("name", sorted(set(listed_commands()) & REPORTING))
def test_report_takes_the_same_formats_everywhere(name: str) -> None:
    report = options_of(name)["--report"]
    assert all(suffix in report for suffix in (".xlsx", ".csv", ".json", ".html")), report


def test_verbose_after_the_command_is_verbose_before_it(
    cli: Cli, tmp_path: Path, source_sim: Any
) -> None:
    missing = str(tmp_path / "nope.xlsx")
    before = cli("-v", "validate", missing)
    after = cli("validate", missing, "-v")
    assert after == before and after[0] == 2 and "Traceback" in after[2]
    code, _, err = cli("export", "--url", source_sim.url, "--token", source_sim.token,
        "--out", str(tmp_path / "x.json"), "-vv",
    )  # fmt: skip
    assert code == 0, err
    assert "HTTP Request: GET" in err  # -vv's request log


def test_a_target_given_as_target_url_or_url_is_the_same_target(
    cli: Cli, tmp_path: Path, source_sim: Any, target_sim: Any
) -> None:
    exported = tmp_path / "export.json"
    at_source = ["--url", source_sim.url, "--token", source_sim.token]
    assert cli("export", *at_source, "--out", str(exported))[0] == 0
    as_url = cli("plan", str(exported), *at_source)
    as_target = cli("plan", str(exported), "--target-url", source_sim.url,
        "--target-token", source_sim.token,
    )  # fmt: skip
    assert as_url == as_target and as_url[0] == 0 and "145 unchanged" in as_url[1]
    code, out, err = cli("map-projects", "--source-url", source_sim.url, "--source-token",
        source_sim.token, "--url", target_sim.url, "--token", target_sim.token,
        "--out", str(tmp_path / "map.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("44 source projects: 44 exact")
