"""xlsx write speed: this checkout's writer against an earlier revision's, and the libraries' floor.

A script, not a test (and not part of `make bench`): issue 15 replaced the
writer built on openpyxl private internals (e468c19) with XlsxWriter's public
API. This writes the same 50,000 connections x 30 columns (bench_tabular.py's
dataset, through layout.dataset_to_tables) to .xlsx, each case in its own
process (peak = that process's max RSS, the dataset included). Time is the
process's CPU time (user + system) for the write, best of --rounds with the cases
interleaved: on a machine shared with other work, wall time varies by 2x from
run to run while CPU time holds; wall time is printed too.

- old: `write_tables` of the revision given (--old), from `git archive`;
- new: `write_tables` of this checkout, as installed (the Rust writer where the
  fast-xlsx extra is: `make bench` installs it);
- new, XlsxWriter: the same with ALMMIGRATE_XLSX_WRITER=xlsxwriter, as a plain
  `pip install almmigrate` writes;
- xlsxwriter floor: the same tables' cells, each written with one bare public
  XlsxWriter call (write_string / write_number / write_boolean, constant-memory
  mode), no formats, widths, checks or print set-up: what XlsxWriter alone costs;
- openpyxl floor: the same cells appended with openpyxl's public write-only
  mode (`Workbook(write_only=True)`, `append`), no styles at all.

The floors are the least any writer on those public APIs can take here.

Usage: .venv/bin/python bench/bench_xlsx_write.py [--old e468c19] [--connections 50000]
Prints a table and writes bench/out/xlsx_write.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_readers import checkout

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[4])
from bench_tabular import dataset
from almmigrate.layout import dataset_to_tables
try:
    from almmigrate.files import write_tables
except ImportError:  # revisions before the file layer's rename
    from almmigrate.tabular import write_tables

case, path, connections = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = dataset(connections)


def xlsxwriter_floor():
    import xlsxwriter
    book = xlsxwriter.Workbook(path, {"constant_memory": True})
    for table in dataset_to_tables(data):
        sheet = book.add_worksheet(table.name)
        for index, column in enumerate(table.columns):
            sheet.write_string(0, index, column)
        for number, row in enumerate(table.rows, start=1):
            for index, column in enumerate(table.columns):
                value = row.get(column)
                if value is None:
                    continue
                kind = value.__class__
                if kind is bool:
                    sheet.write_boolean(number, index, value)
                elif kind is int or kind is float:
                    sheet.write_number(number, index, value)
                else:
                    sheet.write_string(number, index, str(value))
    book.close()


def openpyxl_floor():
    import openpyxl
    book = openpyxl.Workbook(write_only=True)
    for table in dataset_to_tables(data):
        sheet = book.create_sheet(table.name)
        sheet.append(table.columns)
        for row in table.rows:
            sheet.append([v if not isinstance(v, list) else ",".join(v)
                          for v in (row.get(c) for c in table.columns)])
    book.save(path)


if case == "new, XlsxWriter":
    import os
    os.environ["ALMMIGRATE_XLSX_WRITER"] = "xlsxwriter"
writer = ""  # the floors call their library directly
if case.startswith("new"):
    from almmigrate.files.xlsx import export_writer
    writer = export_writer()
started, cpu_started = time.perf_counter(), time.process_time()
if case in ("old", "new", "new, XlsxWriter"):
    write_tables(path, dataset_to_tables(data), meta=data.meta)
elif case == "xlsxwriter floor":
    xlsxwriter_floor()
else:
    openpyxl_floor()
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "peak_mb": round(peak, 1), "writer": writer}))
"""
CASES = ["old", "new", "new, XlsxWriter", "xlsxwriter floor", "openpyxl floor"]


def run_case(case: str, code_root: Path, path: Path, connections: int) -> dict[str, Any]:
    # Run from the code's own folder: `python -c` puts the current folder first on sys.path.
    done = subprocess.run(
        [sys.executable, "-c", CHILD, case, str(path), str(connections), str(HERE)],
        cwd=code_root,
        env={"PYTHONPATH": str(code_root)},
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["bytes"] = path.stat().st_size
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="e468c19", help="the revision to compare with")
    parser.add_argument("--connections", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs a case")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as work:
        old_root = checkout(args.old, Path(work))
        # Rounds interleave the cases, so a burst of load elsewhere hits each alike.
        for _ in range(args.rounds):
            for case in CASES:
                root = old_root if case == "old" else ROOT
                figures = run_case(case, root, Path(work) / "out.xlsx", args.connections)
                best = results.get(case)
                if best is None or figures["cpu_seconds"] < best["cpu_seconds"]:
                    results[case] = figures
    print(f"{args.connections:,} connections x 30 columns to .xlsx, best of {args.rounds}")
    print(f"{'case':18} {'CPU s':>7} {'/ old':>6} {'wall s':>7} {'peak MB':>8} {'MB file':>8}")
    for case in CASES:
        r = results[case]
        ratio = r["cpu_seconds"] / results["old"]["cpu_seconds"]
        print(
            f"{case:18} {r['cpu_seconds']:7.2f} {ratio:6.2f} {r['seconds']:7.2f} "
            f"{r['peak_mb']:8.1f} {r['bytes'] / 2**20:8.1f}"
        )
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "xlsx_write.json").write_text(
        json.dumps(
            {
                "connections": args.connections,
                "old": args.old,
                "rounds": args.rounds,
                "load_before_after": [load_before, os.getloadavg()[0]],
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
