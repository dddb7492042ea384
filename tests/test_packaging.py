"""A plain (not editable) install works from any folder: samples, schemas and templates ship inside.

Builds the wheel offline, installs it with --no-deps --no-index into a fresh
venv that borrows this venv's third-party packages through a .pth file (not
this checkout: .pth files of a borrowed folder are not run, so the editable
install stays out), and runs the console script from a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv holding only the built wheel."""
    base = tmp_path_factory.mktemp("packaging")
    wheels = base / "wheels"
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                "--no-index", "-w", wheels, ROOT, cwd=base)  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = wheels.glob("almmigrate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for shipped in ("samples/source.json", "samples/target.json", "samples/secrets.csv",
                    "templates/jira.xlsx"):  # fmt: skip
        assert f"almmigrate/_bundled/{shipped}" in names
    assert "almmigrate/data/plugins/jira.json" in names
    venv = base / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    done = run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
               "--no-index", wheel, cwd=base)  # fmt: skip
    assert done.returncode == 0, done.stderr
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base)
    borrowed = sysconfig.get_paths()["purelib"]  # click, httpx, openpyxl ... of this venv
    (Path(site.stdout.strip()) / "borrowed.pth").write_text(borrowed + "\n")
    return venv / "bin"


def test_the_installed_package_is_the_wheel_not_this_checkout(installed, tmp_path):
    found = run(installed / "python", "-c", "import almmigrate; print(almmigrate.__file__)",
                cwd=tmp_path)  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert str(installed.parent) in found.stdout and str(ROOT) not in found.stdout


def test_demo_runs_from_any_folder(installed, tmp_path):
    result = run(installed / "almmigrate", "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "every object migrated." in result.stdout
    assert "_bundled/samples/source.json" in result.stdout
    assert (tmp_path / "almmigrate-demo" / "import-report.xlsx").is_file()
    assert "README" not in result.stdout  # a wheel has no README.md to point at


def test_template_runs_from_any_folder(installed, tmp_path):
    result = run(installed / "almmigrate", "template", "--system", "rally", "--out", "r.xlsx",
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r.xlsx").stat().st_size > 0
    listed = run(installed / "almmigrate", "--help", cwd=tmp_path)
    assert "demo" in listed.stdout and "template" in listed.stdout
