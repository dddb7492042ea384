"""Scale benchmark (a script, not a test): cost per object must stay flat, memory must stay low.

1. Cost per object at 1,000, 5,000 and 20,000 connections (20 connectors each):
   export to xlsx, then import that file into an empty target (no latency, no
   rate limit, concurrency 8). Milliseconds per object at each size, and the
   ratio of the largest size's cost to the smallest's (flat = close to 1).
2. Peak memory of `almmigrate export` and of `almmigrate import`, each for
   50,000 connections and each in its own child process, read with
   getrusage(RUSAGE_CHILDREN) (target: < 400 MB each).

Simulators run in forked child processes that are only reaped after the
measurement, so RUSAGE_CHILDREN sees the measured command alone. Prints the
figures and writes them as JSON to bench/out/scale.json.

Usage: .venv/bin/python bench/bench_scale.py [--sizes 1000,5000,20000] [--memory-connections 50000]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE_TOKEN = "bench-scale-source"
TARGET_TOKEN = "bench-scale-target"
CONNECTORS = 20
MEMORY_TARGET_MB = 400.0


def instance(connections: int, *, empty: bool = False) -> dict[str, Any]:
    """A generated instance; `empty` keeps its projects (same ids and names) and nothing else."""
    from almmigrate.sim.generate import generate_instance

    projects = max(10, connections // 10)
    data = generate_instance(connections=connections, connectors=CONNECTORS, projects=projects)
    if empty:
        data = {**data, "connectors": [], "connections": []}
    return data


def _serve(connections: int, empty: bool, token: str, urls: Any, stop: Any) -> None:
    from almmigrate.sim import SimServer

    with SimServer(data=instance(connections, empty=empty), token=token) as sim:
        urls.put(sim.url)
        stop.wait()


@contextmanager
def simulator(connections: int, token: str, *, empty: bool = False) -> Iterator[str]:
    """A simulator in a forked child process (fork: no resource-tracker child to count)."""
    context = multiprocessing.get_context("fork")
    urls, stop = context.Queue(), context.Event()
    process = context.Process(
        target=_serve, args=(connections, empty, token, urls, stop), daemon=True
    )
    process.start()
    try:
        yield urls.get(timeout=600)
    finally:
        stop.set()
        process.join(timeout=30)


def write_secrets(path: Path, connections: int) -> Path:
    """The secrets CSV supplying every generated connector's masked secrets."""
    from almmigrate.sim.generate import secret_rows

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["kind", "name", "field", "value"])
        writer.writeheader()
        writer.writerows(secret_rows(instance(connections)))
    return path


def cost_at(connections: int, work: Path) -> dict[str, Any]:
    """Export `connections` to xlsx, import the file into an empty target; ms per object."""
    from almmigrate.exporter import export
    from almmigrate.importer import RunOptions, import_file
    from almmigrate.prepare import ImportOptions
    from almmigrate.settings import ConnectionSettings

    objects = connections + CONNECTORS
    out = work / f"scale-{connections}.xlsx"
    secrets = write_secrets(work / f"secrets-{connections}.csv", connections)
    with simulator(connections, SOURCE_TOKEN) as source_url:
        started = time.perf_counter()
        summary = export(ConnectionSettings(source_url, SOURCE_TOKEN, concurrency=4), out)
        export_s = time.perf_counter() - started
    assert summary.connections == connections, summary
    with simulator(connections, TARGET_TOKEN, empty=True) as target_url:
        settings = ConnectionSettings(target_url, TARGET_TOKEN, rate=None, concurrency=8)
        started = time.perf_counter()
        run = import_file(out, settings, ImportOptions(secrets=secrets), RunOptions(concurrency=8))
        import_s = time.perf_counter() - started
    assert run.result is not None and run.exit_code == 0, run.result and run.result.summary
    created = run.result.summary.counts.get("created", 0)
    assert created == objects, run.result.summary.counts
    figures = {
        "connections": connections,
        "objects": objects,
        "export_s": round(export_s, 2),
        "import_s": round(import_s, 2),
        "export_ms_per_object": round(1000 * export_s / objects, 3),
        "import_ms_per_object": round(1000 * import_s / objects, 3),
        "import_requests": run.result.summary.requests,
    }
    print(
        f"  {connections:>6,} connections: export {figures['export_ms_per_object']:.3f} ms/object, "
        f"import {figures['import_ms_per_object']:.3f} ms/object",
        flush=True,
    )
    return figures


def flatness(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Largest size's cost per object over the smallest's, for export and import."""
    first, last = rows[0], rows[-1]
    return {
        kind: round(last[f"{kind}_ms_per_object"] / first[f"{kind}_ms_per_object"], 3)
        for kind in ("export", "import")
    }


def _almmigrate(*args: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SDE_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "almmigrate", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def memory_case(case: str, connections: int) -> dict[str, Any]:
    """One measurement, meant to run in a fresh process: peak RSS of one command in a child."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        work = Path(folder)
        out = work / "memory.xlsx"
        if case == "import":
            # Made here, in this process, so that only the import child is counted.
            from almmigrate.exporter import export
            from almmigrate.settings import ConnectionSettings

            with simulator(connections, SOURCE_TOKEN) as source_url:
                export(ConnectionSettings(source_url, SOURCE_TOKEN), out)
            secrets = write_secrets(work / "secrets.csv", connections)
        token = SOURCE_TOKEN if case == "export" else TARGET_TOKEN
        with simulator(connections, token, empty=case == "import") as url:
            if case == "export":
                args = ["export", "--url", url, "--out", str(out)]
            else:
                args = ["import", str(out), "--url", url, "--secrets", str(secrets)]
                args += ["--rate", "100000", "--no-adapt", "--concurrency", "8"]
                args += ["--report", str(work / "r.json")]
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            started = time.perf_counter()
            done = _almmigrate(*args, token=token)
            seconds = time.perf_counter() - started
            # Read before the simulator child is reaped: only the command counts.
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if done.returncode != 0:
            raise SystemExit(f"almmigrate {case} failed ({done.returncode}):\n{done.stderr}")
        xlsx_mb = out.stat().st_size / 1024 / 1024
    return {
        "command": case,
        "connections": connections,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "upper_bound": before >= peak_kb,  # an earlier child was larger: the figure is its peak
        "seconds": round(seconds, 2),
        "xlsx_mb": round(xlsx_mb, 2),
        "meets_target": peak_kb / 1024 < MEMORY_TARGET_MB,
    }


def memory(connections: int) -> dict[str, Any]:
    """Peak memory of export and of import, each measured from a fresh process."""
    results = {}
    for case in ("export", "import"):
        print(f"[memory] almmigrate {case}, {connections:,} connections", flush=True)
        done = subprocess.run(
            [sys.executable, __file__, "--memory-case", case, str(connections)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"memory case {case} failed:\n{done.stderr}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"  peak RSS {figures['peak_rss_mb']} MB in {figures['seconds']} s "
            f"(target < {MEMORY_TARGET_MB:.0f} MB) {'OK' if figures['meets_target'] else 'MISSED'}",
            flush=True,
        )
        results[case] = figures
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-case":
        print(json.dumps(memory_case(sys.argv[2], int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="connection counts, ascending")
    parser.add_argument("--memory-connections", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "scale.json")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[str, Any] = {"memory": memory(args.memory_connections)}
    print(f"[cost] export to xlsx and import into an empty target at {sizes}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        # A first, small round loads the modules and warms the caches; it is not counted.
        cost_at(100, Path(folder))
        results["cost"] = [cost_at(size, Path(folder)) for size in sizes]
    results["flatness"] = flatness(results["cost"])
    print(f"  cost at {sizes[-1]:,} / cost at {sizes[0]:,}: {results['flatness']}")
    results["python"] = sys.version.split()[0]
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
