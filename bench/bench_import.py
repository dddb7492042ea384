"""Benchmark: import throughput under a rate-limited, slow target.

The simulator answers with 100 ms latency and allows 40 requests/s. We import
400 connections and their 20 connectors (migrate from a fast source, so only
the target is measured) with --rate 40 --concurrency 8, then with one request
at a time (concurrency 1, same simulator settings), and compare.

Targets (issue 5): achieved rate >= 90% of the limit, <= 5% of requests
throttled, >= 4x faster than the one-at-a-time loop.

    .venv/bin/python bench/bench_import.py        # writes bench/out/import.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from almmigrate.importer import RunOptions, migrate
from almmigrate.prepare import ImportOptions
from almmigrate.settings import ConnectionSettings
from almmigrate.sim import Faults, SimServer
from almmigrate.sim.generate import generate_instance

LATENCY_MS = 100
LIMIT = 40.0
CONNECTIONS = 400
CONNECTORS = 20
OUT = Path(__file__).resolve().parent / "out" / "import.json"


def instances() -> tuple[dict[str, Any], dict[str, Any]]:
    """A source and an empty target with the same projects under other ids."""
    source = generate_instance(
        connections=CONNECTIONS, connectors=CONNECTORS, projects=100, token="bench-source"
    )
    target = {
        "token": "bench-target",
        "business_units": source["business_units"],
        "applications": source["applications"],
        "projects": [{**p, "id": p["id"] + 5000} for p in source["projects"]],
        "connectors": [],
        "connections": [],
    }
    return source, target


def run(source: SimServer, target_data: dict[str, Any], concurrency: int) -> dict[str, Any]:
    faults = Faults(latency_ms=LATENCY_MS, rate_limit=LIMIT)
    with SimServer(target_data, faults=faults) as target:
        result = migrate(
            ConnectionSettings(source.url, source.token),
            ConnectionSettings(target.url, target.token, rate=LIMIT, concurrency=concurrency),
            ImportOptions(),
            RunOptions(concurrency=concurrency, batch_size=50),
        )
        assert result.result is not None and result.exit_code == 0
        held = target.state.snapshot()
        assert len(held["connections"]) == CONNECTIONS and len(held["connectors"]) == CONNECTORS
        summary = result.result.summary
        return {
            "concurrency": concurrency,
            "objects": sum(summary.counts.values()),
            "requests": summary.requests,
            "throttled": summary.throttled,
            "throttled_share": round(summary.throttled / max(1, summary.requests), 4),
            "retries": summary.retries,
            "elapsed_s": round(summary.elapsed, 3),
            "rate_per_s": round(summary.rate, 2),
            "server_throttled": target.stats.throttled,
        }


def main() -> int:
    source_data, target_data = instances()
    with SimServer(source_data) as source:
        parallel = run(source, target_data, concurrency=8)
        print(f"parallel: {parallel}", file=sys.stderr)
        loop = run(source, target_data, concurrency=1)
        print(f"one at a time: {loop}", file=sys.stderr)
    figures = {
        "latency_ms": LATENCY_MS,
        "limit_per_s": LIMIT,
        "parallel": parallel,
        "one_at_a_time": loop,
        "rate_share_of_limit": round(parallel["rate_per_s"] / LIMIT, 3),
        "throttled_share": parallel["throttled_share"],
        "speedup": round(loop["elapsed_s"] / parallel["elapsed_s"], 2),
    }
    figures["targets_met"] = (
        figures["rate_share_of_limit"] >= 0.9
        and figures["throttled_share"] <= 0.05
        and figures["speedup"] >= 4
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=1))
    return 0 if figures["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
