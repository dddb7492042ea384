"""Client benchmark (a script, not a test): concurrent pagination and the shared rate limit.

1. Listing 10,000 connections (page_size 100) from a simulator with 50 ms latency
   per request, at concurrency 1, 4 and 8: seconds and the speed-up over 1.
2. 200 GETs with --rate 40 across 8 workers against the same simulator: the
   achieved rate (target: >= 90% of 40, never above it).
3. 200 GETs across 8 workers, no client limit, against a simulator limited to
   20 requests/s: every request succeeds, how many were throttled, the rate.

The simulator runs in its own process. Prints the figures and writes them as
JSON to bench/out/client.json.

Usage: .venv/bin/python bench/bench_client.py [--connections 10000] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TOKEN = "bench-client-token"


def _serve(
    connections: int, latency_ms: float, rate_limit: float | None, urls: Any, stop: Any
) -> None:
    from almmigrate.sim import Faults, SimServer
    from almmigrate.sim.generate import generate_instance

    data = generate_instance(connections=connections, seed=0, with_last_job=False)
    faults = Faults(latency_ms=latency_ms, rate_limit=rate_limit)
    with SimServer(data=data, token=TOKEN, faults=faults) as sim:
        urls.put(sim.url)
        stop.wait()


def _with_sim(
    connections: int,
    latency_ms: float,
    rate_limit: float | None,
    run: Callable[[str], dict[str, Any]],
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    urls, stop = context.Queue(), context.Event()
    child = context.Process(target=_serve, args=(connections, latency_ms, rate_limit, urls, stop))
    child.start()
    try:
        return run(urls.get(timeout=120))
    finally:
        stop.set()
        child.join(30)


def _client(url: str, **settings: Any) -> Any:
    from almmigrate.client import SDEClient
    from almmigrate.settings import ConnectionSettings

    return SDEClient(ConnectionSettings(url=url, token=TOKEN, **settings))


def _listing(url: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for workers in (1, 4, 8):
        with _client(url, concurrency=workers, page_size=100) as client:
            started = time.perf_counter()
            count = sum(1 for _ in client.iter_list(client.generation.connections))
            figures[f"concurrency_{workers}"] = {
                "seconds": round(time.perf_counter() - started, 2),
                "objects": count,
                "requests": client.stats.requests,
            }
    base = figures["concurrency_1"]["seconds"]
    for workers in (4, 8):
        figures[f"concurrency_{workers}"]["speedup"] = round(
            base / figures[f"concurrency_{workers}"]["seconds"], 2
        )
    return figures


def _burst(url: str, requests: int, workers: int, rate: float | None) -> dict[str, Any]:
    with _client(url, concurrency=workers, rate=rate, retries=10) as client:
        per_worker = requests // workers
        threads = [
            threading.Thread(
                target=lambda: [client.get("business-units/") for _ in range(per_worker)]
            )
            for _ in range(workers)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        stats = client.stats.snapshot()
    done = per_worker * workers
    return {
        "calls": done,
        "seconds": round(seconds, 2),
        "achieved_rate": round(done / seconds, 2),
        "requests": stats["requests"],
        "throttled": stats["throttled"],
        "retries": stats["retries"],
        "failures": stats["failures"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    results: dict[str, Any] = {"latency_ms": args.latency_ms}
    results["listing"] = _with_sim(args.connections, args.latency_ms, None, _listing)
    results["client_rate_40"] = _with_sim(
        100, args.latency_ms, None, lambda url: _burst(url, 200, 8, 40.0)
    )
    results["server_limit_20"] = _with_sim(
        100, args.latency_ms, 20.0, lambda url: _burst(url, 200, 8, None)
    )
    print(json.dumps(results, indent=2))
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "client.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
