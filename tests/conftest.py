"""Shared fixtures: simulated SD Elements instances on loopback, and secret canaries.

    def test_something(source_sim, target_sim): ...      # the bundled samples, fresh per test
    def test_other(make_sim):
        sim = make_sim({"token": "t", ...}, faults=Faults(rate_limit=5))
    def test_cli(cli):
        code, out, err = cli("validate", "file.xlsx")   # the CLI in this process
    def test_leak(canaries, tmp_path):
        secret = canaries.new("jira-pass")                # a unique, searchable value
        ...
        canaries.assert_absent(tmp_path, result.output)   # files, folders and text

Every simulator is a real HTTP server on 127.0.0.1 (port 0) and is stopped
when the test ends.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli, CliResult, run_cli
from hypothesis import HealthCheck, settings

from almmigrate.files.xlsx import PYTHON_WRITER, WRITER_VARIABLE
from almmigrate.sim import Faults, SimServer

# The suite writes exports the way a plain `pip install almmigrate` does, with
# XlsxWriter; tests/test_rustbook.py holds the Rust writer (the fast-xlsx extra)
# to the same output. ALMMIGRATE_XLSX_WRITER=rust_xlsxwriter runs it all on the latter.
os.environ.setdefault(WRITER_VARIABLE, PYTHON_WRITER)

# Hypothesis times each example (a 200 ms deadline) and its data generation (the too_slow
# health check): on a loaded CI machine (2 noisy cores) both measure the machine, not the
# code. Off for every test, one that sets its own settings included (they inherit these;
# one that lists suppress_health_check names too_slow itself).
settings.register_profile("almmigrate", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("almmigrate")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SOURCE_TOKEN = "sim-source-token"
TARGET_TOKEN = "sim-target-token"

SimFactory = Callable[..., SimServer]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """`cli(*args) -> (code, out, err)`: `almmigrate ARGS` in this process (tests/cli_runs.py)."""

    def run(*args: str) -> CliResult:
        return run_cli(capsys, *args)

    return run


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def _source_data() -> dict[str, Any]:
    return json.loads((SAMPLES / "source.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def _target_data() -> dict[str, Any]:
    return json.loads((SAMPLES / "target.json").read_text(encoding="utf-8"))


@pytest.fixture
def source_data(_source_data: dict[str, Any]) -> dict[str, Any]:
    """samples/source.json as a dict (a private copy: change it freely)."""
    return json.loads(json.dumps(_source_data))


@pytest.fixture
def target_data(_target_data: dict[str, Any]) -> dict[str, Any]:
    """samples/target.json as a dict (a private copy: change it freely)."""
    return json.loads(json.dumps(_target_data))


@pytest.fixture
def sample_secrets() -> list[dict[str, str]]:
    """Rows of samples/secrets.csv (kind, name, field, value)."""
    with (SAMPLES / "secrets.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def secrets_csv() -> Path:
    return SAMPLES / "secrets.csv"


@pytest.fixture
def make_sim() -> Iterator[SimFactory]:
    """Start simulators: make_sim(data=None, token=None, faults=None, api=None) -> SimServer.

    data is a path or a dict in the data-file format; the default is samples/source.json.
    The store copies what it is given, so one dict can seed several simulators.
    """
    started: list[SimServer] = []

    def make(
        data: str | Path | Mapping[str, Any] | None = None,
        token: str | None = None,
        faults: Faults | None = None,
        api: str | None = None,
    ) -> SimServer:
        data = data if data is not None else SAMPLES / "source.json"
        sim = SimServer(data, token, faults, api=api)
        started.append(sim.start())
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def source_sim(make_sim: SimFactory, _source_data: dict[str, Any]) -> SimServer:
    """The source sample instance (token sim-source-token), fresh for this test."""
    return make_sim(_source_data)


@pytest.fixture
def target_sim(make_sim: SimFactory, _target_data: dict[str, Any]) -> SimServer:
    """The target sample instance (token sim-target-token), fresh for this test."""
    return make_sim(_target_data)


class Canaries:
    """Unique secret values to plant, then look for in every output."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def new(self, label: str = "secret") -> str:
        value = f"CANARY-{label}-{uuid.uuid4().hex[:12]}"
        self.values.append(value)
        return value

    def add(self, *values: str) -> None:
        """Also watch for values that already exist (sample secrets, tokens)."""
        self.values.extend(v for v in values if v)

    def found_in(self, *outputs: str | bytes | Path) -> list[str]:
        """Each `value in place` found, for a readable assertion message."""
        hits = []
        for output in outputs:
            for place, blob in _blobs(output):
                hits.extend(f"{v!r} in {place}" for v in self.values if v.encode("utf-8") in blob)
        return hits

    def assert_absent(self, *outputs: str | bytes | Path) -> None:
        hits = self.found_in(*outputs)
        assert not hits, "secret leaked: " + "; ".join(hits)


def _blobs(output: str | bytes | Path) -> Iterator[tuple[str, bytes]]:
    if isinstance(output, Path):
        files = sorted(p for p in output.rglob("*") if p.is_file()) if output.is_dir() else [output]
        for path in files:
            # An xlsx is a zip: look inside, where the cell text is.
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    for member in archive.namelist():
                        yield f"{path}!{member}", archive.read(member)
            yield str(path), path.read_bytes()
    elif isinstance(output, bytes):
        yield "output", output
    else:
        yield "output", output.encode("utf-8")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses every connection for the whole test.

    Bound and never listening, so held: a port found free and let go could be another
    test's server (another xdist worker's) by the time the client connects to it.
    """
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


@pytest.fixture
def canaries() -> Canaries:
    return Canaries()


@pytest.fixture(autouse=True)
def _private_run_locks(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any) -> None:
    # Per-target run locks live in the user's state directory: keep the tests' own.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def exported(source_sim: SimServer, tmp_path: Path) -> Path:
    """The sample source exported to JSON (secrets masked)."""
    from almmigrate.exporter import export
    from almmigrate.settings import ConnectionSettings

    path = tmp_path / "export.json"
    export(ConnectionSettings(source_sim.url, source_sim.token), path)
    return path


@pytest.fixture
def empty_target(make_sim: SimFactory, target_data: dict[str, Any]) -> SimServer:
    """The sample target with its projects and no connector or connection."""
    return make_sim({**target_data, "connectors": [], "connections": []})


@pytest.fixture
def lo_sim(make_sim: SimFactory) -> SimServer:
    """The instance the LibreOffice fixtures (tests/fixtures/libreoffice-*) were exported from."""
    return make_sim(FIXTURES / "libreoffice-instance.json")


@pytest.fixture(autouse=True)
def _own_working_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A command that writes into the current folder (migrate's default journal) must
    # leave nothing in the checkout, and no test may see another's files there.
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
