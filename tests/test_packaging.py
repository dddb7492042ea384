"""A plain (not editable) install works from any folder: samples, schemas and templates ship inside.

Builds the wheel offline, installs it with --no-deps --no-index into a fresh
venv that borrows this venv's third-party packages through a .pth file (not
this checkout: .pth files of a borrowed folder are not run, so the editable
install stays out), and runs the console script from a temporary folder.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib.metadata import packages_distributions
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


def _top_level_imports(folder: Path, pattern: str = "**/*.py") -> set[str]:
    """Every top-level module the .py files under folder import (function-level imports too),
    less the folder's own modules."""
    names: set[str] = set()
    paths = list(folder.glob(pattern))
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - {path.stem for path in paths}


def _distributions(modules: set[str]) -> set[str]:
    """The installed distributions those modules come from (the standard library's are none)."""
    providers = packages_distributions()
    return {
        canonicalize(dist)
        for module in modules - set(sys.stdlib_module_names) - {"almmigrate"}
        for dist in providers.get(module, [f"(not installed: {module})"])
    }


def canonicalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_declared_dependencies_are_exactly_what_the_code_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def declared(requirements: list[str]) -> set[str]:
        return {canonicalize(re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0]) for r in requirements}

    extras = project["optional-dependencies"]
    assert _distributions(_top_level_imports(ROOT / "almmigrate")) == declared(
        project["dependencies"]
    ) | declared(extras["fast-xlsx"])
    # The test extras: what tests and bench import beyond the tool's own, plus the tools
    # run by name (pytest plugins, ruff, mypy with pandas' stubs, hatchling for the wheel).
    # The fixture generator (tests/fixtures) runs by hand and may need more (LibreOffice).
    used_by_tests = _distributions(
        _top_level_imports(ROOT / "tests", "*.py") | _top_level_imports(ROOT / "bench")
    )
    run_by_name = {"pytest-timeout", "pytest-xdist", "ruff", "mypy", "pandas-stubs", "hatchling"}
    test_extras = declared(extras["test"])
    assert used_by_tests - declared(project["dependencies"]) | run_by_name == test_extras
