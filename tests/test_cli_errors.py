"""Bad connection input through the CLI: one clear line, exit 3 (2 for refused plain http), no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from almmigrate.sim import LoopbackServer

CANARY_TOKEN = "CANARY-cli-token-7a6b5c4d3e"


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


@pytest.fixture
def html_site() -> Iterator[str]:
    """A web server on loopback that is not SD Elements: every path is a welcome page."""

    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse("<!doctype html><html><title>Welcome to nginx!</title></html>")

    yield from serve(Starlette(routes=[Route("/{path:path}", page)]))


@pytest.fixture
def foreign_api() -> Iterator[str]:
    """Another REST API on loopback: every path is a DRF-style page of objects, not SD Elements'."""

    async def page(request: Any) -> JSONResponse:
        return JSONResponse({"count": 1, "next": None, "previous": None, "results": [{"pk": 1}]})

    yield from serve(Starlette(routes=[Route("/{path:path}", page)]))


def serve(app: Starlette) -> Iterator[str]:
    with LoopbackServer(app, log_level="error") as server:
        yield server.url


def export(cli: Cli, tmp_path: Path, url: str, token: str, *flags: str):
    out = tmp_path / "out.xlsx"
    return cli(*flags, "export", "--url", url, "--token", token, "--out", str(out))


def test_unreachable_host(cli: Cli, tmp_path: Path, closed_port: int) -> None:
    port = closed_port
    code, out, err = export(cli, tmp_path, f"http://127.0.0.1:{port}", CANARY_TOKEN)
    assert code == 3
    assert error_lines(err) == [
        f"Unreachable: 127.0.0.1:{port} refused the connection: check --url (host and port) and "
        "that the instance is up [GET http://127.0.0.1:"
        f"{port}/api/v2/connectors/issue-tracker/?page_size=1] (gave up after 3 attempts)"
    ]  # the first path asked: the newer generation's
    assert out == ""
    assert not (tmp_path / "out.xlsx").exists()


def test_wrong_token(cli: Cli, tmp_path: Path, source_sim: Any) -> None:
    code, _, err = export(cli, tmp_path, source_sim.url, CANARY_TOKEN)
    assert code == 3
    (line,) = error_lines(err)
    assert line.startswith(
        "AuthenticationFailed: the instance refused the token: check SDE_TOKEN or --token [GET "
    )
    assert line.endswith("-> 401: Invalid token.]")
    assert CANARY_TOKEN not in err


def test_tls_failure(cli: Cli, tmp_path: Path, html_site: str) -> None:
    url = html_site.replace("http://", "https://")  # https to a server speaking plain http
    code, _, err = export(cli, tmp_path, url, CANARY_TOKEN)
    assert code == 3
    (line,) = error_lines(err)
    assert line.startswith("Unreachable: TLS handshake with 127.0.0.1 failed")
    assert "check the scheme and port in --url" in line


def test_a_url_that_is_not_sd_elements(cli: Cli, tmp_path: Path, html_site: str) -> None:
    code, _, err = export(cli, tmp_path, html_site, CANARY_TOKEN)
    assert code == 3
    (line,) = error_lines(err)
    assert line.startswith(f"NotAnInstance: {html_site} does not look like an SD Elements instance")
    assert "answered with an HTML page; --url should be the instance root" in line


def test_another_rest_api_is_not_an_instance_and_no_traceback(
    cli: Cli, tmp_path: Path, foreign_api: str
) -> None:
    code, out, err = export(cli, tmp_path, foreign_api, CANARY_TOKEN)
    assert code == 3
    (line,) = error_lines(err)
    assert line.startswith(
        f"NotAnInstance: {foreign_api} does not look like an SD Elements instance"
    )
    assert "/api/v2/" in line and "answered with an object without the field" in line
    assert line.endswith("--url should be the instance root, e.g. https://sde.example.com")
    assert out == "" and not (tmp_path / "out.xlsx").exists()


@pytest.mark.parametrize("url", ["not a url", "https://sde example.com", 'https://"sde"'])
def test_a_url_with_spaces_or_quotes_is_bad_input_not_an_unreachable_host(
    cli: Cli, tmp_path: Path, url: str
) -> None:
    code, _, err = export(cli, tmp_path, url, CANARY_TOKEN)
    assert code == 2
    assert error_lines(err) == [
        f"InputError: --url {url!r} is not an http(s) address: "
        "--url should be the instance root, e.g. https://sde.example.com"
    ]


def test_plain_http_to_another_host_is_refused_before_anything_is_sent(
    cli: Cli, tmp_path: Path
) -> None:
    code, _, err = export(cli, tmp_path, "http://sde.example.com", CANARY_TOKEN)
    assert code == 2
    assert error_lines(err) == [
        "InputError: refusing to send the token over plain http to sde.example.com: use an "
        "https:// URL, or pass --allow-http if this network is trusted"
    ]


def test_tracebacks_only_with_verbose(cli: Cli, tmp_path: Path, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    code, _, quiet = export(cli, tmp_path, url, CANARY_TOKEN)
    assert code == 3 and "Traceback" not in quiet
    code, _, loud = export(cli, tmp_path, url, CANARY_TOKEN, "-v")
    assert code == 3
    assert "Traceback (most recent call last)" in loud
    assert loud.rstrip().splitlines()[-1].startswith("Unreachable: 127.0.0.1:")


@pytest.mark.parametrize("verbosity", ["-v", "-vv", "-vvv"])
def test_the_token_never_shows_at_any_verbosity(
    cli: Cli, tmp_path: Path, make_sim: Any, verbosity: str
) -> None:
    sim = make_sim(token=CANARY_TOKEN)
    code, out, err = export(cli, tmp_path, sim.url, CANARY_TOKEN, verbosity)
    assert code == 0, err
    if verbosity != "-v":
        assert "DEBUG almmigrate.client: GET" in err  # the per-request lines are there...
    assert CANARY_TOKEN not in out + err  # ...without the token
    assert CANARY_TOKEN.encode() not in (tmp_path / "out.xlsx").read_bytes()
    # and when the token is refused
    code, out, err = export(cli, tmp_path, sim.url + "/api/v2/", CANARY_TOKEN + "x", verbosity)
    assert code == 3
    assert CANARY_TOKEN not in out + err
