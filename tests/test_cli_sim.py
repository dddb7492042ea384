"""`almmigrate sim` as a user runs it: a real process serving on a port until Ctrl-C."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
from cli_runs import Cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PortTaken(Exception):
    """The simulator could not listen on the port it was given."""


# Generous bounds for a process on a loaded machine: they only end a test that hangs.
WAIT = 60


@contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str], int]]:
    """Run `almmigrate sim ARGS` until it says it listens; yield it, its stderr lines so far
    and the port it serves on (--port 0 unless ARGS name one: the system's free port)."""
    if "--port" not in args:
        args = (*args, "--port", "0")
    process = subprocess.Popen(
        [sys.executable, "-m", "almmigrate", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    lines: list[str] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        if "cannot listen on" in "".join(lines):
            raise PortTaken("".join(lines))
        assert lines and "Ctrl-C" in lines[-1], "".join(lines)
        listening = re.search(r"URL:\s+http://127\.0\.0\.1:(\d+)", "".join(lines))
        assert listening, "".join(lines)
        yield process, lines, int(listening.group(1))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def serving_on_a_port_of_our_choosing(
    *args: str,
) -> Iterator[tuple[subprocess.Popen[str], list[str], int]]:
    """serving() on a port found free first: by the time the simulator binds it, another
    process may have taken it (the simulator then says `cannot listen on` and exits 2),
    so another free port is tried, a few times."""
    for _ in range(5):
        port = free_port()
        try:
            with serving(*args, "--port", str(port)) as (process, lines, served):
                assert served == port
                yield process, lines, port
                return
        except PortTaken:
            continue
    raise AssertionError("five free ports in a row were taken before the simulator bound them")


def test_serves_the_samples_until_ctrl_c() -> None:
    data = str(SAMPLES / "source.json")
    with serving_on_a_port_of_our_choosing("--data", data) as (process, lines, port):
        url = f"http://127.0.0.1:{port}/api/v2/connections/alm/"
        page = httpx.get(url, headers={"Authorization": "Token sim-source-token"}, timeout=WAIT)
        refused = httpx.get(url, timeout=WAIT)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=WAIT)
    assert page.status_code == 200
    body = page.json()
    assert body["count"] == 133 and len(body["results"]) == 25
    assert body["next"] == f"{url}?page=2"
    assert refused.status_code == 401
    banner = "".join(lines)
    assert f"http://127.0.0.1:{port}" in banner
    assert 'the "token" field of' in banner
    assert "sim-source-token" not in banner + err + out
    assert process.returncode == 0
    assert "Stopped after 2 requests" in err


def test_serves_the_issue_tracker_generation() -> None:
    args = ["--data", str(SAMPLES / "source.json"), "--api", "issue-tracker"]
    with serving(*args) as (process, lines, port):
        root = f"http://127.0.0.1:{port}/api/v2/"
        headers = {"Authorization": "Token sim-source-token"}
        new = httpx.get(root + "connectors/issue-tracker/", headers=headers, timeout=WAIT)
        old = httpx.get(root + "connectors/alm/", headers=headers, timeout=WAIT)
    assert new.status_code == 200 and new.json()["count"] == 12
    assert "issue_tracker_server" in new.json()["results"][0]["params"]
    assert old.status_code == 404
    banner = "".join(lines)
    assert "(Issue Tracker generation of the API)" in banner
    assert f"{root}connections/issue-tracker/?page_size=5" in banner


def test_faults_from_options_and_a_given_token() -> None:
    args = [
        "--token",
        "cli-token-1234",
        "--rate-limit",
        "0.001",
        "--retry-after-date",
    ]
    with serving(*args) as (process, lines, port):
        headers = {"Authorization": "Token cli-token-1234"}
        url = f"http://127.0.0.1:{port}/api/v2/projects/"
        first = httpx.get(url, headers=headers, timeout=WAIT)
        second = httpx.get(url, headers=headers, timeout=WAIT)
    banner = "".join(lines)
    assert first.status_code == 200 and first.json()["count"] == 44  # the bundled samples
    assert second.status_code == 429
    assert parsedate_to_datetime(second.headers["retry-after"]).tzinfo is not None
    assert "given with --token" in banner and "cli-token-1234" not in banner
    assert "rate limit 0.001 requests/s" in banner


def test_a_revoked_token_and_html_answers_from_options() -> None:
    args = ["--revoke-after-writes", "1", "--html-create-answer"]
    with serving(*args) as (process, lines, port):
        headers = {"Authorization": "Token sim-source-token"}
        url = f"http://127.0.0.1:{port}/api/v2/connectors/alm/"
        first = httpx.get(url, headers=headers, timeout=WAIT).json()["results"][0]
        body = {"name": "A new one", "system": first["system"]["id"], "params": first["params"]}
        created = httpx.post(url, headers=headers, json=body, timeout=WAIT)
        after = httpx.get(url, headers=headers, timeout=WAIT)
    banner = "".join(lines)
    assert created.status_code == 200 and created.headers["content-type"].startswith("text/html")
    assert after.status_code == 401  # one write committed: the token is gone
    assert "the token is revoked after 1 writes (401)" in banner
    assert "creates committed, then answered with an HTML page" in banner


def test_echoed_rejects_from_the_option() -> None:
    with serving("--echo-rejects") as (process, lines, port):
        headers = {"Authorization": "Token sim-source-token"}
        url = f"http://127.0.0.1:{port}/api/v2/connectors/alm/"
        body = {"name": "Echoed", "system": "jira", "params": {"alm_pass": 'Pa\\ss"1'}}
        refused = httpx.post(url, headers=headers, json=body, timeout=WAIT)
    assert refused.status_code == 400
    assert refused.text == "Invalid request: " + repr(body)
    assert "every write refused 400, the request echoed back as a Python repr" in "".join(lines)


def test_refuses_a_host_that_is_not_loopback(cli: Cli) -> None:
    code, out, err = cli("sim", "--host", "0.0.0.0", "--port", "0")
    assert code == 2 and out == ""
    assert "refusing to listen on 0.0.0.0" in err
    assert "--allow-remote" in err


def test_busy_port_and_bad_data_exit_2(tmp_path: Path, cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = cli("sim", "--port", str(port))
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    code, _, err = cli("sim", "--data", str(bad), "--port", "0")
    assert code == 2
    assert "a data file holds one JSON object" in err


def test_help_has_an_example(cli: Cli) -> None:
    code, out, _ = cli("sim", "--help")
    assert code == 0
    assert "Example:" in out
    assert "almmigrate sim --data samples/source.json" in out
    for option in ("--latency-ms", "--rate-limit", "--fail-rate", "--drop-rate", "--seed"):
        assert option in out
