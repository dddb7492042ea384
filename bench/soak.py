"""Fault soak (a script, not a test): many migrations through a misbehaving target, each exactly once.

Each round migrates a generated source (default 300 connections, 12 connectors)
into a fresh, empty target that answers 503s, drops connections after
committing writes, throttles with 429 (Retry-After in seconds on even rounds,
as an HTTP date on odd ones) and, every third round, is slow for a while past
the client's timeout. After each round every object must be on the target
exactly once with every field equal. The soak is bounded: it stops after
--rounds rounds or --minutes minutes, whichever comes first.

Prints one line a round and writes bench/out/soak.json; exit 1 if any round
lost or duplicated an object.

Usage: .venv/bin/python bench/soak.py [--rounds 12] [--minutes 3] [--connections 300]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def instances(
    connections: int, connectors: int, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A source and an empty target holding the same projects under other ids."""
    from almmigrate.sim.generate import generate_instance

    source = generate_instance(
        connections=connections, connectors=connectors, projects=30, seed=seed, token="soak-src"
    )
    target = {
        "token": "soak-tgt",
        "business_units": source["business_units"],
        "applications": source["applications"],
        "projects": [{**p, "id": p["id"] + 7000} for p in reversed(source["projects"])],
        "connectors": [],
        "connections": [],
    }
    return source, target


def objects_by_key(state: dict[str, Any]) -> Counter[tuple[Any, ...]]:
    """Every object as (its natural key, its fields), counted; ids left out."""
    names = {c["id"]: c["name"] for c in state["connectors"]}
    inherited = {c["id"]: c["params"] for c in state["connectors"]}
    project_names = {p["id"]: p["name"] for p in state["projects"]}
    held: Counter[tuple[Any, ...]] = Counter()
    for c in state["connectors"]:
        held[("connector", c["name"], c["system"], json.dumps(c["params"], sort_keys=True))] += 1
    for c in state["connections"]:
        params = json.dumps({**inherited[c["connector"]], **c["params"]}, sort_keys=True)
        held[
            (
                "connection",
                project_names[c["project"]],
                c["alias"],
                names[c["connector"]],
                c["frequency"],
                params,
            )
        ] += 1
    return held


class AbandonedRequests(logging.Filter):
    """Drops the traceback the simulator's server logs for each request the client gave up on."""

    def filter(self, record: logging.LogRecord) -> bool:
        from starlette.requests import ClientDisconnect

        return not (record.exc_info and isinstance(record.exc_info[1], ClientDisconnect))


def slow_window(
    target: Any, faults: Any, after_writes: int, requests: int, stop: Any, seen: list[int]
) -> None:
    """Make the target slow past the timeout for `requests` requests once it saw `after_writes`.

    Appends to `seen` how many requests arrived while it was slow.
    """
    from dataclasses import replace

    while target.stats.writes < after_writes and not stop.is_set():
        time.sleep(0.005)
    start = target.stats.requests
    target.set_faults(replace(faults, latency_ms=1500))
    while target.stats.requests < start + requests and not stop.is_set():
        time.sleep(0.005)
    target.set_faults(faults)
    seen.append(target.stats.requests - start)


def one_round(index: int, args: argparse.Namespace) -> dict[str, Any]:
    from almmigrate.importer import RunOptions, migrate
    from almmigrate.prepare import ImportOptions
    from almmigrate.settings import ConnectionSettings
    from almmigrate.sim import Faults, SimServer

    source_data, target_data = instances(args.connections, args.connectors, seed=index)
    faults = Faults(
        fail_rate=0.1,
        drop_rate=0.05,
        rate_limit=40,
        seed=index,
        retry_after_date=index % 2 == 1,
    )
    slow = index % 3 == 2
    with SimServer(source_data) as source, SimServer(target_data, faults=faults) as target:
        stop = threading.Event()
        slow_requests: list[int] = []
        watcher = threading.Thread(
            target=slow_window, args=(target, faults, 40, 16, stop, slow_requests), daemon=True
        )
        if slow:
            watcher.start()
        started = time.monotonic()
        try:
            run = migrate(
                ConnectionSettings(source.url, source.token),
                ConnectionSettings(
                    target.url, target.token, rate=None, concurrency=8, retries=10, timeout=0.5
                ),
                ImportOptions(),
                RunOptions(concurrency=8, batch_size=25),
            )
        finally:
            stop.set()
            if slow:
                watcher.join(5)
        elapsed = time.monotonic() - started
        want, got = objects_by_key(source.state.snapshot()), objects_by_key(target.state.snapshot())
        stats = target.stats.as_dict()
    summary = run.result.summary if run.result is not None else None
    return {
        "round": index,
        "retry_after": "http-date" if faults.retry_after_date else "seconds",
        "slow_window": slow,
        "requests_while_slow": sum(slow_requests),
        "exit_code": run.exit_code,
        "objects": sum(want.values()),
        "duplicated": sum(n - 1 for n in got.values() if n > 1),
        "missing_or_wrong": sum((want - got).values()),
        "exactly_once": got == want,
        "adopted": summary.counts.get("adopted", 0) if summary else 0,
        "retries": summary.retries if summary else 0,
        "server": {k: stats[k] for k in ("requests", "writes", "throttled", "failed", "dropped")},
        "seconds": round(elapsed, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--connectors", type=int, default=12)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "soak.json")
    args = parser.parse_args()
    logging.getLogger("uvicorn.error").addFilter(AbandonedRequests())
    deadline = time.monotonic() + 60 * args.minutes
    rounds = []
    for index in range(args.rounds):
        if time.monotonic() >= deadline:
            print(f"time bound of {args.minutes} min reached after {index} rounds")
            break
        result = one_round(index, args)
        rounds.append(result)
        print(
            f"round {index}: exit {result['exit_code']}, {result['objects']} objects, "
            f"exactly once: {result['exactly_once']}, adopted {result['adopted']}, "
            f"retries {result['retries']}, server {result['server']}, {result['seconds']} s",
            flush=True,
        )
    ok = all(r["exactly_once"] and r["exit_code"] == 0 for r in rounds)
    totals = {
        key: sum(r["server"][key] for r in rounds)
        for key in ("requests", "writes", "throttled", "failed", "dropped")
    }
    figures = {
        "rounds": len(rounds),
        "objects": sum(r["objects"] for r in rounds),
        "all_exactly_once": ok,
        "duplicated": sum(r["duplicated"] for r in rounds),
        "missing_or_wrong": sum(r["missing_or_wrong"] for r in rounds),
        "server_totals": totals,
        "seconds": round(sum(r["seconds"] for r in rounds), 1),
        "per_round": rounds,
        "python": sys.version.split()[0],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"soak: {len(rounds)} rounds, every object exactly once: {ok}; results: {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
