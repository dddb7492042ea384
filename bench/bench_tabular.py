"""File-layer benchmark (a script, not a test): write and read N connections x 30 columns.

Each case runs in a fresh child process so that its peak memory (getrusage
maxrss) is its own: writing .xlsx / .json / a CSV folder from a Dataset, and
reading each back into a typed Dataset (files + layout). Target: writing
50,000 connections to xlsx stays well under 400 MB peak.

Usage: .venv/bin/python bench/bench_tabular.py [--connections 50000]
Prints a table and writes bench/out/tabular.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMATS = ["export.xlsx", "export.json", "export_csv"]
MEMORY_TARGET_MB = 400.0


def dataset(connections: int):  # type: ignore[no-untyped-def]
    from almmigrate.dataset import ConnectionRecord, Dataset
    from almmigrate.secrets import MASK

    records = []
    for i in range(connections):
        params = {f"custom_{k}": f"value {i} {k}" for k in range(16)}
        params |= {"alm_project": f"PRJ-{i}", "alm_pass": MASK, "alm_validate_cert": i % 2 == 0}
        params |= {"alm_reference_context": i, "sde_min_priority": "7", "title_format": f"=T{i}"}
        records.append(
            ConnectionRecord(
                id=i + 1,
                alias=f"connection {i}",
                project=1000 + i,
                project_name=f"Project {i}",
                connector=1 + i % 50,
                connector_name=f"Connector {i % 50}",
                system="jira",
                frequency="daily",
                debug_mode=False,
                inaccessible=False,
                params=params,
            )
        )
    return Dataset(connections=records, meta={"source_url": "http://bench"})


def child(action: str, path: str, connections: int) -> None:
    from almmigrate.files import read_tables, write_tables
    from almmigrate.layout import dataset_to_tables, tables_to_dataset
    from almmigrate.schema import bundled_plugins

    if action == "write":
        data = dataset(connections)
        started = time.perf_counter()
        write_tables(path, dataset_to_tables(data), meta=data.meta)
    else:
        started = time.perf_counter()
        back, problems = tables_to_dataset(read_tables(path), bundled_plugins(), source=path)
        assert len(back.connections) == connections and not problems
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(elapsed, 2), "peak_mb": round(peak_mb, 1)}))


def run(connections: int) -> list[dict[str, object]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in FORMATS:
            path = str(Path(tmp) / name)
            for action in ("write", "read"):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", action, path, str(connections)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                figures = json.loads(out.strip().splitlines()[-1])
                results.append({"format": name, "action": action, **figures})
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50_000)
    args = parser.parse_args()
    results = run(args.connections)
    print(f"{args.connections:,} connections x 30 columns (peak = whole child process)")
    for r in results:
        print(
            f"  {r['action']:5} {r['format']:12} {r['seconds']:7.2f} s  peak {r['peak_mb']:7.1f} MB"
        )
    xlsx_write = next(r for r in results if r["format"] == "export.xlsx" and r["action"] == "write")
    verdict = "ok" if float(xlsx_write["peak_mb"]) < MEMORY_TARGET_MB else "OVER"  # type: ignore[arg-type]
    print(
        f"xlsx write peak {xlsx_write['peak_mb']} MB (target < {MEMORY_TARGET_MB:.0f} MB): {verdict}"
    )
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "tabular.json").write_text(
        json.dumps({"connections": args.connections, "results": results}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
