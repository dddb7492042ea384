"""The secrets file: kind,name,field,value; values registered, never in messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from almmigrate.errors import InputError
from almmigrate.plan_types import PlanItem
from almmigrate.secrets import scrub
from almmigrate.secretsfile import SecretValues, load_secrets

CANARY = "canary-S3cret-7f3a"


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "secrets.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_reads_values_and_registers_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeffkind,name,field,value\r\n"
        f'connector,"Jira ""Prod""",alm_pass,"{CANARY}, with comma"\r\n'
        "connection,NaN,alm_pass,0007\r\n"
        "\r\n",
    )
    secrets = load_secrets(path)
    assert len(secrets) == 2
    assert secrets.lookup("connector", 'Jira "Prod"', "alm_pass") == f"{CANARY}, with comma"
    assert secrets.lookup("connection", "NaN", "alm_pass") == "0007"
    assert secrets.lookup("connector", "NaN", "alm_pass") is None
    assert CANARY not in scrub(f"failed with {CANARY}, with comma")


def test_bundled_sample_reads(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parent.parent / "samples" / "secrets.csv"
    secrets = load_secrets(sample)
    assert (
        secrets.lookup("connector", "Jira Cloud – Montréal", "alm_pass") == "S3cret-jira-montreal-1"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the secrets file is empty"),
        ("name,field,value\nx,y,z\n", "row 1: missing column kind"),
        (
            f"kind,name,field,value\nproject,x,alm_pass,{CANARY}\n",
            'row 2, kind: kind "project" is not one of',
        ),
        (f"kind,name,field,value\nconnector,,alm_pass,{CANARY}\n", "row 2, name: name is empty"),
        (f"kind,name,field,value\nconnector,x,,{CANARY}\n", "row 2, field: field is empty"),
        (
            "kind,name,field,value\nconnector,x,alm_pass,\n",
            "row 2, value: value is empty; fill in the secret or delete the row",
        ),
        ("kind,name,field,value\nconnector,x\n", "row 2: expected 4 cells, found 2"),
        (
            f"kind,name,field,value\nconnector,x,alm_pass,{CANARY}\nconnector,x,alm_pass,{CANARY}2\n",
            'row 3: alm_pass of connector "x" is given twice',
        ),
        (
            f"kind,name,field,value\nconnector,x,alm_pass,{CANARY}\x00\n",
            "row 2, value: value holds the control character U+0000 (NUL) at character 19",
        ),
        (
            f"kind,name,field,value\nconnector,x,alm_pass,\x1b{CANARY}\n",
            "row 2, value: value holds the control character U+001B at character 1",
        ),
    ],
)
def test_bad_files_name_the_row_and_never_the_value(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_secrets(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert CANARY not in str(caught.value)


def test_latin1_file_is_refused_with_the_encoding_problem(tmp_path: Path) -> None:
    """Told as every CSV's encoding fault is (files.csvfiles): the byte, its line and column."""
    path = write(tmp_path, "kind,name,field,value\nconnector,Équipe,alm_pass,x1234\n", "latin-1")
    with pytest.raises(
        InputError, match=r"not UTF-8: byte 0xc9 at line 2, column 11; save it as CSV UTF-8"
    ):
        load_secrets(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_secrets(tmp_path / "nope.csv")


def test_repr_shows_no_value() -> None:
    secrets = SecretValues()
    secrets.add("connector", "Jira", "alm_pass", CANARY)
    assert CANARY not in repr(secrets)
    item = PlanItem("connector", "create", "Jira", body={"params": {"alm_pass": CANARY}})
    assert CANARY not in repr(item)


def test_a_nul_byte_saved_in_a_value_is_refused(fixtures_dir: Path) -> None:
    path = fixtures_dir / "secrets-null-byte.csv"
    with pytest.raises(InputError) as caught:
        load_secrets(path)
    assert str(caught.value).endswith(
        "row 3, value: value holds the control character U+0000 (NUL) at character 5, "
        "which no password carries: check how the file was made"
    )
