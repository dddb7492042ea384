"""The file layout (README, "File layouts"): Dataset -> sheets -> file -> sheets -> Dataset gives back the same typed values."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from export_data import xlsx_gives_back
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset, ProjectRecord
from almmigrate.errors import InputError
from almmigrate.files import Table, read_tables, write_tables
from almmigrate.layout import dataset_to_tables, tables_to_dataset
from almmigrate.schema import bundled_plugins
from almmigrate.secrets import MASK

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PLUGINS = bundled_plugins()
FORMATS = ["out.xlsx", "out.json", "out_folder"]


def sample_dataset() -> Dataset:
    """Every awkward value a real export holds; tests/fixtures/make_fixtures.py writes it."""
    connectors = [
        ConnectorRecord(
            id=1,
            name="Jira main",
            system="jira",
            inaccessible=False,
            fields_editable_on_project=["alm_project", "sde_min_priority"],
            params={
                "alm_server": '=HYPERLINK("http://evil.example","click")',
                "alm_method": "https",
                "alm_validate_cert": True,
                "alm_reference_context": 7,
                "alm_user": "-admin",
                "alm_pass": MASK,
                "alm_project": "007",
                "sde_tags_filter": "'quoted",
                "jira_version": "7",
                "sde_statuses_in_scope": "TODO,DONE",
                "title_format": " caf\u00e9 \u2615 \nline two ",
                "alm_context_root": "@root",
                "session_capture_socket": "TRUE",
                "alm_title_format": 'say "hi", then, go',
            },
        ),
        ConnectorRecord(
            id=2,
            name="GitHub +1",
            system="github",
            inaccessible=True,
            params={
                "alm_api_token": MASK,
                "how_tos_in_scope": False,
                "github_repo_owner": "\tTabbed",
                "alm_server": "x_x0041_y",
                "sde_min_priority": "7",
                "alm_project": "+x",
            },
        ),
    ]
    connections = [
        ConnectionRecord(
            id=31,
            alias="Jira conn",
            project=11,
            project_name="Proj",
            connector=1,
            connector_name="Jira main",
            system="jira",
            frequency="daily",
            debug_mode=False,
            inaccessible=False,
            params={"alm_project": "-PROJ", "sde_min_priority": "7"},
            last_job={
                "id": 4,
                "succeeded": False,
                "ready": True,
                "automatic": False,
                "user": 1,
                "last_run": "2016-12-15T22:45:27.412Z",
                "result_message": "=ERR line\r\nsecond",
            },
        ),
        ConnectionRecord(
            id=32,
            alias="GitHub conn",
            project=12,
            project_name="Proj + 2",
            connector=2,
            connector_name="GitHub +1",
            system="github",
            frequency="manually",
            debug_mode=True,
            inaccessible=False,
            params={"alm_project": "@team/repo", "alm_validate_cert": False},
        ),
    ]
    projects = [
        ProjectRecord(id=11, name="Proj", application="App", business_unit="BU"),
        ProjectRecord(id=12, name="Proj + 2", application="App", business_unit="=BU"),
    ]
    meta = {"source_url": "http://127.0.0.1:8000", "format_version": "1", "api": "alm"}
    return Dataset(connectors, connections, projects, meta)


def plain(records: list[Any]) -> list[dict[str, Any]]:
    """Records without their row numbers, with each value tagged by its type (7 is not "7")."""
    return [
        _tagged({k: v for k, v in dataclasses.asdict(r).items() if k != "row"}) for r in records
    ]


def _tagged(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _tagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tagged(v) for v in value]
    return (type(value).__name__, value)


def round_trip(dataset: Dataset, path: Path) -> tuple[Dataset, list[Any]]:
    write_tables(path, dataset_to_tables(dataset), meta=dataset.meta)
    return tables_to_dataset(read_tables(path), PLUGINS, source=str(path))


def assert_same(back: Dataset, dataset: Dataset) -> None:
    assert plain(back.connectors) == plain(dataset.connectors)
    assert plain(back.connections) == plain(dataset.connections)
    assert plain(back.projects) == plain(dataset.projects)
    assert back.meta == dataset.meta


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", [*FORMATS, "out.csv"])
def test_every_format_gives_back_the_same_typed_dataset(tmp_path: Path, name: str) -> None:
    dataset = sample_dataset()
    if name == "out.csv":  # a single CSV file holds one sheet (no _meta: its names tell the api)
        dataset = Dataset(connections=dataset.connections, meta={"api": "alm"})
    back, problems = round_trip(dataset, tmp_path / name)
    assert problems == []
    assert_same(back, dataset)


def test_rows_are_the_rows_a_person_sees(tmp_path: Path) -> None:
    back, _ = round_trip(sample_dataset(), tmp_path / "out.xlsx")
    assert [r.row for r in back.connectors] == [2, 3]
    back, _ = round_trip(sample_dataset(), tmp_path / "out.json")
    assert [r.row for r in back.connections] == [1, 2]


def test_columns_follow_the_spec_layout() -> None:
    tables = {t.name: t for t in dataset_to_tables(sample_dataset())}
    assert tables["connectors"].columns[:5] == [
        "id",
        "name",
        "system",
        "inaccessible",
        "fields_editable_on_project",
    ]
    params = [c for c in tables["connectors"].columns if c.startswith("params.")]
    assert params == sorted(params) and "params.alm_pass" in params
    connection_columns = tables["connections"].columns
    assert connection_columns[:10] == [
        "id",
        "alias",
        "project",
        "project_name",
        "connector",
        "connector_name",
        "system",
        "frequency",
        "debug_mode",
        "inaccessible",
    ]
    assert "last_job.succeeded" in connection_columns
    assert tables["projects"].columns == ["id", "name", "application", "business_unit"]


def test_last_job_columns_read_when_then_whether_then_what_then_the_rest() -> None:
    dataset = sample_dataset()
    assert dataset.connections[0].last_job is not None
    dataset.connections[0].last_job["zz_extra"] = "kept"  # a field this version does not know
    connections = dataset_to_tables(dataset)[1]
    assert [c for c in connections.columns if c.startswith("last_job.")] == [
        "last_job.last_run",
        "last_job.succeeded",
        "last_job.result_message",
        "last_job.ready",
        "last_job.automatic",
        "last_job.id",
        "last_job.user",
        "last_job.zz_extra",
    ]


def test_no_last_job_columns_when_no_record_has_one() -> None:
    dataset = sample_dataset()
    for record in dataset.connections:
        record.last_job = None
    connections = dataset_to_tables(dataset)[1]
    assert not [c for c in connections.columns if c.startswith("last_job.")]


def test_json_document_is_typed_and_nested(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_tables(path, dataset_to_tables(sample_dataset()), meta={"source_url": "http://x"})
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format_version"] == "1"
    assert document["_meta"] == {"source_url": "http://x"}
    first = document["connectors"][0]
    assert first["params"]["alm_reference_context"] == 7
    assert first["params"]["jira_version"] == "7"
    assert first["fields_editable_on_project"] == ["alm_project", "sde_min_priority"]
    assert "params.alm_pass" not in first
    assert document["connections"][0]["last_job"]["succeeded"] is False
    # A param a record does not have is left out, not written as null.
    assert "alm_pass" not in document["connectors"][1]["params"]


def as_libreoffice_saves_it(dataset: Dataset, *, csv: bool = False) -> Dataset:
    """What LibreOffice itself changes when it re-saves our export (its limits, not ours).

    A cell cannot hold CR (CRLF becomes LF); and its CSV export writes a leading
    apostrophe as is, which our CSV escape strips. (A literal "_x0041_" survives:
    LibreOffice escapes it as "_x005F_x0041_", which calamine decodes exactly.)
    """
    connectors, connections = dataset.connectors, dataset.connections
    assert connections[0].last_job is not None
    connections[0].last_job["result_message"] = "=ERR line\nsecond"
    if csv:
        connectors[0].params["sde_tags_filter"] = "quoted"
    return dataset


def test_libreoffice_saved_workbook_reads_back_to_the_dataset() -> None:
    tables = read_tables(FIXTURES / "libreoffice-saved.xlsx")
    back, problems = tables_to_dataset(tables, PLUGINS, source="lo")
    assert problems == []
    assert_same(back, as_libreoffice_saves_it(sample_dataset()))


def test_a_workbook_edited_in_libreoffice_differs_by_exactly_the_edits() -> None:
    """Three cells typed in Calc (via UNO): 8 in an integer field, 9 in a select, FALSE in a flag.

    Typed cells keep their type, as an API value does (the API holds 7 and "7" alike in a
    select); validation and plan judge the value.
    """
    back, problems = tables_to_dataset(
        read_tables(FIXTURES / "libreoffice-typed.xlsx"), PLUGINS, source="lo"
    )
    assert problems == []
    expected = as_libreoffice_saves_it(sample_dataset())
    expected.connectors[0].params["alm_reference_context"] = 8
    expected.connections[0].params["sde_min_priority"] = 9  # typed in Calc: a number
    expected.connections[1].debug_mode = False
    assert_same(back, expected)


def test_our_csv_resaved_by_libreoffice_keeps_every_escape() -> None:
    back, problems = tables_to_dataset(
        read_tables(FIXTURES / "libreoffice-resaved-connectors.csv"), PLUGINS, source="lo"
    )
    assert problems == []
    expected = sample_dataset()
    # Calc reads the digits 007 in a CSV as the number 7: the one change it makes.
    expected.connectors[0].params["alm_project"] = "7"
    assert plain(back.connectors) == plain(expected.connectors)


def test_libreoffice_saved_csv_folder_reads_back_to_the_dataset() -> None:
    back, problems = tables_to_dataset(
        read_tables(FIXTURES / "libreoffice-csv"), PLUGINS, source="lo"
    )
    assert problems == []
    assert_same(back, as_libreoffice_saves_it(sample_dataset(), csv=True))


# ---------------------------------------------------------------- typing cells


def connections_table(rows: list[dict[str, Any]], file_format: str = "csv") -> Table:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    numbers = list(range(2, len(rows) + 2))
    return Table("connections", columns, rows, row_numbers=numbers, file_format=file_format)


def test_a_bad_boolean_names_sheet_row_and_column() -> None:
    rows = [
        {"alias": "a", "project": "1", "connector": "1", "system": "jira"},
        {"alias": "b", "project": "1", "connector": "1", "system": "jira"},
        {"alias": "c", "project": "1", "connector": "1", "system": "jira"},
    ]
    rows[2]["params.alm_validate_cert"] = "maybe"
    dataset, problems = tables_to_dataset({"connections": connections_table(rows)}, PLUGINS)
    assert [str(p) for p in problems] == [
        'connections row 4, params.alm_validate_cert: "maybe" is not a boolean (use TRUE or FALSE)'
    ]
    assert "alm_validate_cert" not in dataset.connections[2].params


def test_spreadsheet_forms_of_booleans_and_numbers_are_typed_by_schema() -> None:
    row = {
        "id": 7.0,
        "alias": "a",
        "project": "12",
        "connector": 3.0,
        "system": "jira",
        "debug_mode": 1,
        "inaccessible": "false",
        "params.alm_validate_cert": "TRUE",
        "params.how_tos_in_scope": 0,
        "params.alm_reference_context": 7.0,
        "params.sde_min_priority": 7.0,
        "params.jira_version": 9,
        "params.alm_user": 12,
        "params.alm_project": "007",
        "params.unknown_thing": 5.0,
    }
    dataset, problems = tables_to_dataset(
        {"connections": connections_table([row], "xlsx")}, PLUGINS
    )
    assert problems == []
    record = dataset.connections[0]
    assert (record.id, record.project, record.connector) == (7, 12, 3)
    assert (record.debug_mode, record.inaccessible) == (True, False)
    assert plain([record])[0]["params"] == {
        "alm_validate_cert": ("bool", True),
        "how_tos_in_scope": ("bool", False),
        "alm_reference_context": ("int", 7),
        # A number cell keeps its type, a whole 7.0 as 7 (an API 7 stays 7), in a select or
        # a text field too (instances hold numbers there): the target decides what it keeps.
        "sde_min_priority": ("int", 7),
        "jira_version": ("int", 9),
        "alm_user": ("int", 12),
        "alm_project": ("str", "007"),
        "unknown_thing": ("int", 5),
    }


def test_csv_text_survives_in_text_fields(tmp_path: Path) -> None:
    tables = read_tables(FIXTURES / "text-values.csv")
    dataset, problems = tables_to_dataset(tables, PLUGINS)
    assert problems == []
    found = [(r.params["alm_project"], r.params["sde_tags_filter"]) for r in dataset.connections]
    assert found == [("007", "1e5"), ("NaN", "null"), ("None", "N/A"), ("TRUE", "  spaced  ")]


def test_connection_params_are_typed_by_the_connectors_system_when_system_is_empty() -> None:
    connectors = Table(
        "connectors",
        ["id", "name", "system"],
        [{"id": "5", "name": "J", "system": "jira"}],
        file_format="csv",
    )
    rows = [{"alias": "a", "project": "1", "connector_name": "J", "params.alm_validate_cert": "no"}]
    dataset, problems = tables_to_dataset(
        {"connectors": connectors, "connections": connections_table(rows)}, PLUGINS
    )
    assert problems == []
    assert dataset.connections[0].params == {"alm_validate_cert": False}


def test_bad_fixed_cells_are_problems_and_the_mask_stays_the_mask() -> None:
    rows = [
        {
            "id": "abc",
            "alias": "a",
            "project": MASK,
            "connector": "1",
            "debug_mode": "sometimes",
            "system": "jira",
            "params.alm_pass": MASK,
        }
    ]
    dataset, problems = tables_to_dataset({"connections": connections_table(rows)}, PLUGINS)
    assert [str(p) for p in problems] == [
        'connections row 2, id: "abc" is not a whole number',
        f'connections row 2, project: "{MASK}" is not a whole number',
        'connections row 2, debug_mode: "sometimes" is not a boolean (use TRUE or FALSE)',
    ]
    assert dataset.connections[0].params == {"alm_pass": MASK}


def test_missing_required_columns_are_problems() -> None:
    connectors = Table("connectors", ["id", "name"], [{"id": "1", "name": "x"}], file_format="csv")
    connections = connections_table([{"alias": "a", "project": "1"}])
    _, problems = tables_to_dataset({"connectors": connectors, "connections": connections}, PLUGINS)
    assert [str(p) for p in problems] == [
        'connectors row 1: the column "system" is missing',
        'connections row 1: the column "connector" or "connector_name" is missing',
    ]


def test_read_only_columns_are_kept_and_unknown_columns_warn() -> None:
    rows = [
        {
            "alias": "a",
            "project": "1",
            "connector": "1",
            "command": "sync_jira",
            "in_progress": "FALSE",
            "last_job.succeeded": "TRUE",
            "notes": "mine",
        }
    ]
    dataset, problems = tables_to_dataset({"connections": connections_table(rows)}, PLUGINS)
    assert [(p.severity, str(p)) for p in problems] == [
        (
            "warning",
            "connections row 1, notes: this column is not part of the layout and is ignored",
        )
    ]
    record = dataset.connections[0]
    assert (record.command, record.in_progress, record.last_job) == (
        "sync_jira",
        False,
        {"succeeded": True},
    )


def test_fields_editable_on_project_forms() -> None:
    rows = [
        {
            "name": "a",
            "system": "jira",
            "fields_editable_on_project": "alm_project, sde_min_priority",
        },
        {"name": "b", "system": "jira", "fields_editable_on_project": None},
    ]
    table = Table("connectors", ["name", "system", "fields_editable_on_project"], rows)
    dataset, _ = tables_to_dataset({"connectors": table}, PLUGINS)
    assert [r.fields_editable_on_project for r in dataset.connectors] == [
        ["alm_project", "sde_min_priority"],
        None,
    ]
    typed = Table("connectors", table.columns, [{**rows[1], "fields_editable_on_project": []}])
    typed.file_format = "json"
    dataset, _ = tables_to_dataset({"connectors": typed}, PLUGINS)
    assert dataset.connectors[0].fields_editable_on_project == []


def test_json_is_taken_exactly_as_typed() -> None:
    row = {"alias": "a", "project": 1, "connector": 1, "system": "jira"}
    row |= {"params.alm_project": "", "params.alm_reference_context": "7"}
    dataset, _ = tables_to_dataset({"connections": connections_table([row], "json")}, PLUGINS)
    assert dataset.connections[0].params == {"alm_project": "", "alm_reference_context": "7"}


def test_fifty_thousand_records_lay_out_in_one_pass() -> None:
    records = [
        ConnectionRecord(alias=f"c{i}", project=i, connector=1, params={f"p{i % 7}": i})
        for i in range(50_000)
    ]
    table = dataset_to_tables(Dataset(connections=records))[1]
    rows = list(table.rows)
    assert len(rows) == 50_000 and rows[-1]["params.p5"] == 49_999
    assert [c for c in table.columns if c.startswith("params.")] == [
        f"params.p{i}" for i in range(7)
    ]


# ---------------------------------------------------------------- properties

# Any character but lone surrogates (no UTF-8 form) and NUL (no CSV can carry it).
_XLSX_SAFE = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
_TEXT = st.text(_XLSX_SAFE, min_size=1, max_size=40)
_FORMULA_TEXT = st.builds(
    lambda a, b: a + b,
    st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'", "_x0041_"]),
    st.text(_XLSX_SAFE, max_size=20),
)
_ANY_TEXT = st.one_of(_TEXT, _FORMULA_TEXT)
_NUMBER = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
)


def _connector(text: str, flag: bool, number: int | float) -> ConnectorRecord:
    params: dict[str, Any] = {
        "alm_project": text,  # a string field
        "alm_validate_cert": flag,  # boolean
        "how_tos_in_scope": not flag,
    }
    if isinstance(number, int):
        params["alm_reference_context"] = number  # integer
    return ConnectorRecord(name=text, system="jira", params=params, inaccessible=flag, id=1)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=_ANY_TEXT, flag=st.booleans(), number=_NUMBER, name=st.sampled_from(FORMATS))
@example(text="\ufffe", flag=False, number=0, name="out.xlsx")  # refused: read back _xFFFE_
def test_any_text_boolean_and_number_survive_every_format(
    tmp_path: Path, text: str, flag: bool, number: int | float, name: str
) -> None:
    dataset = Dataset(connectors=[_connector(text, flag, number)])
    if name != "out_folder":  # typed formats keep numbers of any kind, even in unknown params
        dataset.connectors[0].params["custom_number"] = number
        dataset.connectors[0].params["custom_text"] = text
    if name == "out.xlsx" and not xlsx_gives_back(text):
        with pytest.raises(InputError, match="it would read back changed"):
            round_trip(dataset, tmp_path / name)
        return
    back, problems = round_trip(dataset, tmp_path / name)
    assert problems == []
    assert plain(back.connectors) == plain(dataset.connectors)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(digits=st.from_regex(r"\A[0-9]{1,6}\Z"), name=st.sampled_from(FORMATS))
def test_number_like_text_stays_text_and_numbers_stay_numbers(
    tmp_path: Path, digits: str, name: str
) -> None:
    params = {"jira_version": digits, "alm_reference_context": int(digits)}
    dataset = Dataset(connectors=[ConnectorRecord(name="n", system="jira", params=params)])
    back, _ = round_trip(dataset, tmp_path / name)
    assert plain(back.connectors) == plain(dataset.connectors)
    assert not math.isnan(float(digits))
