"""Export benchmark (a script, not a test): speed against the bare page fetches, and peak memory.

1. 20,000 connections served by the simulator with 50 ms latency per request:
   the whole export (every list, shaping, writing) against the time the
   connection page fetches alone take with the same client settings
   (target: export <= 1.5x fetches).
2. Peak memory of an export of 50,000 connections to xlsx, run in a child
   process and read with getrusage(RUSAGE_CHILDREN) (target: < 400 MB).

The simulator runs in its own process so that its work does not share the
measuring process's interpreter. Prints the figures and writes them as JSON
to bench/out/export.json.

Usage: .venv/bin/python bench/bench_export.py [--connections 20000]
       [--memory-connections 50000] [--latency-ms 50] [--concurrency 4] [--page-size 100]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
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
TOKEN = "bench-export-token"
SPEED_TARGET = 1.5
MEMORY_TARGET_MB = 400.0


def _serve(connections: int, latency_ms: float, urls: Any, stop: Any) -> None:
    """Child process: generate an instance and serve it until told to stop."""
    from almmigrate.sim import Faults, SimServer
    from almmigrate.sim.generate import generate_instance

    data = generate_instance(connections=connections, seed=0)
    with SimServer(data=data, token=TOKEN, faults=Faults(latency_ms=latency_ms)) as sim:
        urls.put(sim.url)
        stop.wait()


@contextmanager
def simulator(connections: int, latency_ms: float) -> Iterator[str]:
    """A simulator in a child process (fork: no resource-tracker child to skew RUSAGE_CHILDREN)."""
    context = multiprocessing.get_context("fork")
    urls = context.Queue()
    stop = context.Event()
    process = context.Process(
        target=_serve, args=(connections, latency_ms, urls, stop), daemon=True
    )
    process.start()
    try:
        yield urls.get(timeout=300)
    finally:
        stop.set()
        process.join(timeout=30)


def settings_for(url: str, args: argparse.Namespace) -> Any:
    from almmigrate.settings import ConnectionSettings

    return ConnectionSettings(
        url=url, token=TOKEN, concurrency=args.concurrency, page_size=args.page_size
    )


def time_fetches(url: str, args: argparse.Namespace) -> tuple[float, int]:
    """Seconds to read every connection page, and how many connections came."""
    from almmigrate.client import SDEClient

    with SDEClient(settings_for(url, args)) as client:
        started = time.perf_counter()
        count = sum(1 for _ in client.iter_list(client.generation.connections))
        return time.perf_counter() - started, count


def time_all_fetches(url: str, args: argparse.Namespace) -> float:
    """Seconds to read every list an export reads (no shaping, no writing)."""
    from almmigrate.client import SDEClient
    from almmigrate.instance import iter_connections, read_context

    with SDEClient(settings_for(url, args)) as client:
        started = time.perf_counter()
        client.check()
        read_context(client)
        sum(1 for _ in iter_connections(client))
        return time.perf_counter() - started


def time_export(url: str, args: argparse.Namespace, out: Path, fmt: str) -> tuple[float, Any]:
    from almmigrate import earlywrite
    from almmigrate.exporter import export

    suffix = {"xlsx": ".xlsx", "xlsx after read": ".xlsx", "json": ".json", "csv": ""}[fmt]
    guess_after = earlywrite.GUESS_AFTER
    if fmt == "xlsx after read":
        earlywrite.GUESS_AFTER = sys.maxsize  # never guessed: every row written after the read
    try:
        started = time.perf_counter()
        summary = export(settings_for(url, args), out.with_name(out.name + suffix))
        return time.perf_counter() - started, summary
    finally:
        earlywrite.GUESS_AFTER = guess_after


def speed(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    print(
        f"[speed] {args.connections} connections, {args.latency_ms} ms latency, "
        f"concurrency {args.concurrency}, page size {args.page_size}"
    )
    results: dict[str, Any] = {
        "connections": args.connections,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "page_size": args.page_size,
    }
    with simulator(args.connections, args.latency_ms) as url:
        fetch_runs = []
        for _ in range(args.repeat):
            seconds, count = time_fetches(url, args)
            fetch_runs.append(seconds)
            assert count == args.connections, count
        fetch = min(fetch_runs)
        results["fetch_seconds"] = fetch_runs
        print(f"  connection pages alone: {fetch:.2f} s (best of {args.repeat})")
        every = min(time_all_fetches(url, args) for _ in range(args.repeat))
        results["all_lists_fetch_seconds"] = round(every, 3)
        print(f"  every list an export reads, nothing written: {every:.2f} s")
        # Interleaved, so that the machine's load weighs on every format alike. "xlsx after
        # read" is the xlsx export with its connection rows written only once every page is
        # read (no early workbook: as before almmigrate.earlywrite), in the same conditions.
        formats = ("xlsx", "xlsx after read", "json", "csv")
        runs: dict[str, list[float]] = {fmt: [] for fmt in formats}
        for index in range(args.repeat):
            for fmt in formats:
                seconds, summary = time_export(url, args, work / f"speed{index}-{fmt}", fmt)
                assert summary.connections == args.connections, summary
                runs[fmt].append(seconds)
        for fmt in formats:
            best = min(runs[fmt])
            ratio = best / fetch
            results[fmt] = {
                "export_seconds": runs[fmt],
                "ratio": round(ratio, 3),
                "ratio_to_all_lists": round(best / every, 3),
                "meets_target": ratio <= SPEED_TARGET,
            }
            print(
                f"  export to {fmt}: {best:.2f} s = {ratio:.2f}x the connection pages, "
                f"{best / every:.2f}x every list "
                f"(target <= {SPEED_TARGET}x) {'OK' if ratio <= SPEED_TARGET else 'MISSED'}"
            )
    return results


_CHILD = """
import sys
from almmigrate.exporter import export
from almmigrate.settings import ConnectionSettings
url, token, out, concurrency, page_size = sys.argv[1:6]
summary = export(ConnectionSettings(url=url, token=token, concurrency=int(concurrency),
                 page_size=int(page_size)), out)
print(summary.connections)
"""


def memory(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    print(f"[memory] {args.memory_connections} connections to xlsx, in a child process")
    with simulator(args.memory_connections, 0) as url:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = work / "memory.xlsx"
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                url,
                TOKEN,
                str(out),
                str(args.concurrency),
                str(args.page_size),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        # Read before the simulator child is reaped, so only the export child counts.
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise SystemExit(f"the export child failed:\n{done.stderr}")
    assert int(done.stdout.strip()) == args.memory_connections, done.stdout
    if before >= peak_kb:
        print("  warning: an earlier child had a larger peak; the figure is an upper bound")
    peak_mb = peak_kb / 1024
    size_mb = out.stat().st_size / 1024 / 1024
    print(
        f"  peak RSS {peak_mb:.0f} MB (target < {MEMORY_TARGET_MB:.0f} MB) "
        f"{'OK' if peak_mb < MEMORY_TARGET_MB else 'MISSED'}; "
        f"{seconds:.1f} s; workbook {size_mb:.1f} MB"
    )
    return {
        "connections": args.memory_connections,
        "peak_rss_mb": round(peak_mb, 1),
        "seconds": round(seconds, 2),
        "xlsx_mb": round(size_mb, 2),
        "meets_target": peak_mb < MEMORY_TARGET_MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=20_000)
    parser.add_argument("--memory-connections", type=int, default=50_000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "export.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        work = Path(folder)
        # Memory first: RUSAGE_CHILDREN keeps the largest child ever reaped.
        results = {"memory": memory(args, work), "speed": speed(args, work)}
    results["python"] = sys.version.split()[0]
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
