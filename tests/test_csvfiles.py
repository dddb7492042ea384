"""One CSV decoder for every CSV almmigrate reads: data files, project maps and secrets files
refused for the same faults with the same message and position (files/csvfiles.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from almmigrate.errors import InputError
from almmigrate.files import read_tables
from almmigrate.files.csvfiles import read_records, sniff_delimiter
from almmigrate.mapping import read_map
from almmigrate.reader import read_dataset
from almmigrate.secretsfile import load_secrets

# Saved by LibreOffice 7 (tests/fixtures/make_fixtures.py --libreoffice: encoding_files()).
SAVED = Path(__file__).resolve().parent / "fixtures" / "libreoffice-encodings"
NO_DELIMITER = (
    "the delimiter is not recognised: line 1 holds no comma, semicolon or tab between "
    "the column names; save it as CSV with commas"
)
READERS: dict[str, tuple[Callable[[Path], Any], str]] = {
    "data": (read_tables, "id,name,system"),
    "project map": (read_map, "source_project,target_project"),
    "secrets file": (load_secrets, "kind,name,field,value"),
}


def refusal(read: Callable[[Path], Any], path: Path) -> str:
    with pytest.raises(InputError) as caught:
        read(path)
    return str(caught.value)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        # "Western Europe (Windows-1252)": Équipe's É is 0xc9, Jira Cloud – Montréal's – is 0x96
        (SAVED / "cp1252", "connectors.csv: not UTF-8: byte 0x96 at line 2, column 15; save it"),
        (SAVED / "cp1252" / "projects.csv", "not UTF-8: byte 0xc9 at line 2, column 33; save it"),
        # Before: "the column "id" is missing" / "this row has 3 cells but the header has 1".
        (SAVED / "spaces", f"spaces/connectors.csv: {NO_DELIMITER}"),
        (SAVED / "spaces" / "projects.csv", NO_DELIMITER),
    ],
)
def test_a_data_csv_libreoffice_saved_in_another_encoding_or_delimiter_says_what_is_wrong(
    path: Path, message: str
) -> None:
    assert message in refusal(read_dataset, path)


def test_a_project_map_and_a_secrets_file_saved_as_windows_1252_name_the_byte_line_and_column():
    assert refusal(read_map, SAVED / "map-cp1252.csv") == (
        f"{SAVED / 'map-cp1252.csv'}: not UTF-8: byte 0xc9 at line 2, column 16; "
        "save it as CSV UTF-8"
    )
    message = refusal(load_secrets, SAVED / "secrets-cp1252.csv")
    assert message == (
        f"{SAVED / 'secrets-cp1252.csv'}: not UTF-8: byte 0x96 at line 2, column 25; "
        "save it as CSV UTF-8"
    )
    assert "S3cret" not in message


FAULTS: list[tuple[str, Callable[[str], bytes], str]] = [
    (
        "latin-1",
        lambda header: f"{header},x\n1,2,3,Équipe\n".encode("latin-1"),
        "not UTF-8: byte 0xc9 at line 2, column 7; save it as CSV UTF-8",
    ),
    (
        "UTF-16 with its byte-order mark",
        lambda header: f"{header}\n".encode("utf-16"),
        "the file is UTF-16 text; save it as CSV UTF-8",
    ),
    (
        "UTF-16 without a byte-order mark",
        lambda header: f"{header}\n".encode("utf-16-le"),
        "the file is UTF-16 text without a byte-order mark; save it as CSV UTF-8",
    ),
    (
        "spaces between the column names",
        lambda header: f"{header.replace(',', ' ')}\n1 2 3\n".encode(),
        NO_DELIMITER,
    ),
    (
        "a pipe between quoted column names",
        lambda header: ('"' + header.replace(",", '"|"') + '"\n').encode(),
        "the delimiter is not recognised: line 1 holds no comma, semicolon or tab between "
        "the column names (',' expected after '\"'); save it as CSV with commas",
    ),
    ("an empty file", lambda header: b"", "is empty"),
]


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize(("fault", "content", "message"), FAULTS, ids=[f[0] for f in FAULTS])
def test_every_csv_reader_refuses_the_same_fault_with_the_same_message(
    tmp_path: Path, reader: str, fault: str, content: Callable[[str], bytes], message: str
) -> None:
    read, header = READERS[reader]
    path = tmp_path / "file.csv"
    path.write_bytes(content(header))
    assert refusal(read, path).startswith(f"{path}: ")
    assert message in refusal(read, path)


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_csv_reader_reads_semicolons_and_tabs_as_excel_saves_in_some_locales(
    tmp_path: Path, reader: str
) -> None:
    read, header = READERS[reader]
    rows = {
        "data": "1,Jira A,jira",
        "project map": "1,722",
        "secrets file": "connector,Jira A,alm_pass,pa;ss,word",
    }
    for mark in (";", "\t"):
        path = tmp_path / f"file{ord(mark)}.csv"
        line = (
            rows[reader].replace(",", mark)
            if reader != "secrets file"
            else (mark.join(["connector", "Jira A", "alm_pass", '"pa;ss,word"']))
        )
        path.write_text(f"{header.replace(',', mark)}\n{line}\n", encoding="utf-8-sig")
        found = read(path)
        if reader == "data":
            assert found["connectors"].rows == [{"id": "1", "name": "Jira A", "system": "jira"}]
        elif reader == "project map":
            assert found.targets == {1: 722}
        else:
            assert found.lookup("connector", "Jira A", "alm_pass") == "pa;ss,word"


def test_broken_quoting_past_the_header_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text('source_project,target_project\n1,2\n3,"4"x\n', encoding="utf-8")
    assert refusal(read_map, path) == (
        f"{path}: not a readable CSV file at line 3: ',' expected after '\"'; "
        "check for an unclosed quote"
    )


def test_the_delimiter_is_told_from_the_header_line_only() -> None:
    assert sniff_delimiter("a;b;c\r\n") == ";"
    assert sniff_delimiter("a\tb\n") == "\t"
    assert sniff_delimiter("a,b;c\n") == ","  # a tie goes to the comma
    assert sniff_delimiter("kind,name,field,value\n") == ","


def test_records_carry_the_row_a_spreadsheet_shows(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('a,b\n1,"two\nlines"\n\n3,4\n', encoding="utf-8")
    source = read_records(path)
    assert source.header == ["a", "b"]
    assert list(source) == [(2, ["1", "two\nlines"]), (3, []), (4, ["3", "4"])]
