"""`almmigrate map-projects` against two simulators: repeated names, ambiguity, missing projects."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli

from almmigrate.mapping import read_map
from almmigrate.sim import SimServer


def map_projects(cli: Cli, source: SimServer, target: SimServer, out: Path) -> tuple[int, str, str]:
    return cli(
        "map-projects",
        "--source-url",
        source.url,
        "--source-token",
        source.token,
        "--target-url",
        target.url,
        "--target-token",
        target.token,
        "--out",
        str(out),
    )


def rows_of(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {row["source_project"]: row for row in csv.DictReader(handle)}


def test_samples_match_where_project_names_repeat_across_applications(
    cli: Cli, source_sim: SimServer, target_sim: SimServer, tmp_path: Path
) -> None:
    out = tmp_path / "map.csv"
    code, stdout, err = map_projects(cli, source_sim, target_sim, out)
    assert (code, stdout, err) == (
        0,
        f"44 source projects: 44 exact, 0 ambiguous, 0 missing. Map written to {out}\n",
        "",
    )
    rows = rows_of(out)
    # "Backend": Portail client 🚀 (1 -> 722) and Mobile Banking (8 -> 530);
    # "Onboarding": HR Systems (19 -> 799) and Merchant Portal (41 -> 596).
    picked = {k: rows[k]["target_project"] for k in ("1", "8", "19", "41")}
    assert picked == {"1": "722", "8": "530", "19": "799", "41": "596"}
    assert rows["8"] == {
        "source_project": "8",
        "target_project": "530",
        "match": "exact",
        "source_business_unit": "Retail Banking",
        "source_application": "Mobile Banking",
        "source_project_name": "Backend",
        "target_business_unit": "Retail Banking",
        "target_application": "Mobile Banking",
        "target_project_name": "Backend",
        "candidates": "",
    }
    assert len(read_map(out)) == 44
    assert source_sim.stats.writes == 0 and target_sim.stats.writes == 0


def test_ambiguous_and_missing_are_left_for_review(
    cli: Cli,
    make_sim: Any,
    source_data: dict,
    target_data: dict,
    tmp_path: Path,
) -> None:
    # Case and spacing differ, still exact; a twin makes "Ledger" ambiguous; "Refunds" is gone.
    for project in target_data["projects"]:
        if project["name"] == "Backend" and project["id"] == 530:
            project["name"] = "  BACKEND "
    ledger = next(p for p in target_data["projects"] if p["name"] == "Ledger")
    target_data["projects"].append({**ledger, "id": 5000, "name": "ledger", "slug": "ledger-2"})
    target_data["projects"] = [p for p in target_data["projects"] if p["name"] != "Refunds"]
    target_data["connections"] = [c for c in target_data["connections"] if c["project"] != 827]
    source, target = make_sim(source_data), make_sim(target_data)
    out = tmp_path / "map.csv"
    code, stdout, err = map_projects(cli, source, target, out)
    assert code == 0
    assert stdout == f"44 source projects: 42 exact, 1 ambiguous, 1 missing. Map written to {out}\n"
    assert "Review the rows without a target_project" in err
    rows = rows_of(out)
    assert (rows["8"]["match"], rows["8"]["target_project"]) == ("exact", "530")
    assert (rows["39"]["match"], rows["39"]["target_project"]) == ("ambiguous", "")
    assert rows["39"]["candidates"] == (
        '797: Payments "Core" > Payments API > Ledger; 5000: Payments "Core" > Payments API > ledger'
    )
    assert (rows["40"]["match"], rows["40"]["target_project"]) == ("missing", "")
    assert set(read_map(out).targets) == {int(k) for k in rows} - {39, 40}


def test_missing_options_are_a_usage_error(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SDE_SOURCE_URL", "SDE_SOURCE_TOKEN", "SDE_TARGET_URL", "SDE_TARGET_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = cli("map-projects", "--out", str(tmp_path / "m.csv"))
    assert code == 2
    assert "Missing --source-url (or the SDE_SOURCE_URL environment variable)." in err
    assert not (tmp_path / "m.csv").exists()


def test_help_has_an_example(cli: Cli) -> None:
    code, out, _ = cli("map-projects", "--help")
    assert code == 0
    assert "  Example:\n    almmigrate map-projects --source-url" in out
