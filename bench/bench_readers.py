"""Workbook reader against an earlier revision's, on every workbook fixture and 50,000 rows.

A script, not a test (and not part of `make bench`): issue 15 replaced the
hand-written expat reader (on openpyxl internals) with calamine; this reads
each workbook in tests/fixtures and templates/, plus a 50,000-connection
export written by bench_tabular.py, with the revision given and with this
checkout, each in its own process, and prints what each made of it and how long.

Usage: .venv/bin/python bench/bench_readers.py [--old e468c19]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
READ = r"""
import json, sys, time
from almmigrate.files import read_tables
out = {}
for path in sys.argv[1:]:
    started = time.perf_counter()
    try:
        tables = read_tables(path)
        what = "read %d rows" % sum(len(list(t.rows)) for t in tables.values())
    except Exception as error:
        what = "refused: " + str(error).split(": ", 1)[-1][:70]
    out[path] = (round(time.perf_counter() - started, 3), what)
print(json.dumps(out))
"""


def read_with(code_root: Path, files: list[str]) -> dict[str, list]:
    # Run from the code's own folder: `python -c` puts the current folder first on sys.path.
    done = subprocess.run(
        [sys.executable, "-c", READ, *files],
        cwd=code_root,
        env={"PYTHONPATH": str(code_root)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def checkout(revision: str, work: Path) -> Path:
    """The almmigrate package of an earlier revision (git archive), in work/old."""
    old_root = work / "old"
    old_root.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "almmigrate"],
        check=True,
        capture_output=True,
    ).stdout
    archive_path = work / "old.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(old_root, filter="data")
    return old_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="e468c19", help="the revision to compare with")
    args = parser.parse_args()
    folders = ["tests/fixtures"]
    files = sorted(
        str(p)
        for d in [*folders, "templates"]
        for p in (ROOT / d).iterdir()
        if p.suffix in (".xlsx", ".xlsm", ".xls", ".ods")
    )
    with tempfile.TemporaryDirectory() as work:
        big = Path(work) / "export.xlsx"
        subprocess.run(
            [sys.executable, str(HERE / "bench_tabular.py"), "--child", "write", str(big), "50000"],
            check=True,
            capture_output=True,
        )
        files.append(str(big))
        old_root = checkout(args.old, Path(work))
        old = read_with(old_root, files)
        new = read_with(ROOT, files)
        print(f"{'file':34} {'old s':>7}  {'old reader':44} {'new s':>7}  new reader")
        for path in files:
            name = "50,000-row export" if path == str(big) else Path(path).name
            (t_old, r_old), (t_new, r_new) = old[path], new[path]
            print(f"{name:34} {t_old:7.3f}  {r_old[:44]:44} {t_new:7.3f}  {r_new[:60]}")


if __name__ == "__main__":
    main()
