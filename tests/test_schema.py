from __future__ import annotations

import pytest

from almmigrate.schema import (
    CONNECTOR_SCOPE_DOUBT,
    DEPRECATED_DOUBT,
    PROJECT,
    READ_ONLY_DOUBT,
    SYSTEM,
    CoercionError,
    Field,
    Plugin,
    bundled_plugins,
    check_value,
    coerce_cell,
    is_secret,
    param_doubts,
    param_from_cell,
    validate_params,
)
from almmigrate.secrets import MASK


@pytest.fixture
def trac():
    return bundled_plugins()["trac"]


def test_bundled_plugins_cover_the_documented_systems():
    plugins = bundled_plugins()
    assert {"trac", "jira", "github", "rally"} <= set(plugins)
    # trac is exactly as the API reference documents it.
    trac = plugins["trac"]
    assert trac.command == "sync_trac"
    assert trac.field("alm_pass").field_type == "masked_string"
    assert trac.field("alm_project").scope == (PROJECT,)
    assert trac.field("conflict_policy").choices == ("alm", "sde")  # "timestamp" is disabled


def test_secret_fields_by_schema_and_by_name(trac):
    assert is_secret("alm_pass", trac)
    assert is_secret("alm_api_token")
    assert is_secret("custom_api_key")
    assert is_secret("client_secret")
    assert is_secret("ssh_private_key")
    assert is_secret("service_credentials")
    assert not is_secret("alm_server", trac)
    assert not is_secret("bypass_proxy")
    assert not is_secret("sde_min_priority", trac)


def test_check_value_messages(trac):
    assert check_value(trac.field("alm_method"), "gopher") == '"gopher" is not one of https, http'
    assert check_value(trac.field("alm_method"), "https") is None
    assert check_value(trac.field("how_tos_in_scope"), "TRUE") == "Must be a valid boolean."
    assert check_value(trac.field("how_tos_in_scope"), True) is None
    # A select takes the option's text or the same number (the API shows both).
    assert check_value(trac.field("sde_min_priority"), 7) is None
    assert check_value(trac.field("sde_min_priority"), "11") is not None
    assert check_value(trac.field("alm_phases"), "development,testing") is None
    assert check_value(trac.field("alm_phases"), "development,gopher") == (
        '"gopher" is not one of requirements, architecture-design, development, testing'
    )
    assert "255" in check_value(trac.field("alm_project"), "x" * 256)


def test_validate_params_required_by_scope(trac):
    problems = validate_params(
        trac, {"alm_server": "trac.example.com"}, scope=SYSTEM, creating=True
    )
    assert problems == {
        "alm_method": ["This field is required."],
        "alm_user": ["This field is required."],
        "alm_pass": ["This field is required."],
    }
    # A connection inherits its connector's params; it must bring only the project ones.
    inherited = {"alm_method": "https", "alm_server": "s", "alm_user": "u", "alm_pass": "p"}
    assert validate_params(trac, {}, scope=PROJECT, creating=True, inherited=inherited) == {
        "alm_project": ["This field is required."]
    }
    assert (
        validate_params(
            trac, {"alm_project": "M1"}, scope=PROJECT, creating=True, inherited=inherited
        )
        == {}
    )


def test_connector_only_params_on_a_connection_are_doubts_not_errors(trac):
    # Older instances hold them: the schema doubts, the server decides.
    assert validate_params(trac, {"alm_server": "x"}, scope=PROJECT, creating=False) == {}
    assert param_doubts(trac, {"alm_server": "x"}, scope=PROJECT) == {
        "alm_server": [CONNECTOR_SCOPE_DOUBT]
    }
    assert param_doubts(trac, {"alm_server": "x"}, scope=PROJECT, editable={"alm_server"}) == {}
    assert param_doubts(trac, {"alm_server": "x"}, scope=SYSTEM) == {}
    # A value that cannot be the field's type stays an error wherever it is set.
    assert validate_params(trac, {"alm_method": "gopher"}, scope=PROJECT, creating=False) == {
        "alm_method": ['"gopher" is not one of https, http']
    }


def test_read_only_and_deprecated_params_are_doubts(trac):
    fields = (
        Field("old", deprecated=True, scope=(SYSTEM, PROJECT)),
        Field("fixed", readonly=True, scope=(SYSTEM, PROJECT)),
    )
    plugin = Plugin("x", "X", fields=fields)
    assert validate_params(plugin, {"old": "a", "fixed": "b"}, scope=SYSTEM, creating=False) == {}
    assert param_doubts(plugin, {"old": "a", "fixed": "b", "unknown": 1}, scope=SYSTEM) == {
        "old": [DEPRECATED_DOUBT],
        "fixed": [READ_ONLY_DOUBT],
    }


@pytest.mark.parametrize(
    ("name", "cell", "expected"),
    [
        ("how_tos_in_scope", "TRUE", True),
        ("how_tos_in_scope", "false", False),
        ("how_tos_in_scope", 1, True),
        ("how_tos_in_scope", 0.0, False),
        ("alm_project", "007", "007"),
        ("alm_project", "NaN", "NaN"),
        ("alm_project", "TRUE", "TRUE"),
        ("alm_project", " spaced ", " spaced "),
        ("sde_min_priority", 7.0, "7"),
        # A number typed into a text cell, as LibreOffice and Excel save it; a select keeps
        # an integer (the API may hold 7 there; plan compares choices by text).
        ("sde_min_priority", 9, 9),
        ("alm_project", 12345, "12345"),
        ("alm_project", 1.5, "1.5"),
        ("sde_min_priority", "7", "7"),
        ("alm_pass", MASK, MASK),
    ],
)
def test_coerce_cell_by_field(trac, name, cell, expected):
    value = coerce_cell(trac.field(name), cell)
    assert value == expected
    assert type(value) is type(expected)


def test_coerce_integer_and_unknown_fields():
    jira = bundled_plugins()["jira"]
    assert coerce_cell(jira.field("alm_reference_context"), "5") == 5
    assert coerce_cell(jira.field("alm_reference_context"), 5.0) == 5
    assert coerce_cell(None, 7.0) == 7
    assert coerce_cell(None, "7") == "7"
    with pytest.raises(CoercionError, match="not a whole number"):
        coerce_cell(jira.field("alm_reference_context"), "five")


def test_coerce_bad_boolean_says_what_to_use(trac):
    with pytest.raises(CoercionError, match=r'"maybe" is not a boolean \(use TRUE or FALSE\)'):
        coerce_cell(trac.field("how_tos_in_scope"), "maybe")


def test_a_number_in_a_text_field_is_not_an_error(trac):
    # Params are JSON: instances hold 12345 in a text field, and a migration keeps it.
    assert check_value(trac.field("alm_project"), 12345) is None
    assert check_value(trac.field("alm_project"), 2.5) is None
    assert check_value(trac.field("alm_project"), True) == "Not a valid string."


@pytest.mark.parametrize(
    ("name", "cell", "text_only", "expected"),
    [
        # A workbook's cell keeps its type where the field takes it.
        ("alm_reference_context", "5", False, "5"),
        ("alm_reference_context", 5.0, False, 5),
        ("alm_project", 12345, False, 12345),
        ("alm_project", 12345.0, False, 12345),
        ("alm_project", 1.5, False, 1.5),
        # Past 2**53 a spreadsheet's double has lost digits: no integer is made up from it.
        ("alm_project", 12345678901234567890.0, False, 12345678901234567890.0),
        ("alm_project", 1e300, False, 1e300),
        ("alm_project", float(2**53), False, 2**53),
        ("sde_min_priority", 7.0, False, 7),
        ("sde_min_priority", "7", False, "7"),
        ("alm_validate_cert", True, False, True),
        # ... and is typed by the schema only where the field cannot hold it.
        ("alm_validate_cert", "TRUE", False, True),
        ("alm_validate_cert", 0, False, False),
        ("alm_reference_context", " 5 ", False, 5),
        # CSV text is typed by the schema: integers and booleans; the rest stays text.
        ("alm_reference_context", "5", True, 5),
        ("alm_validate_cert", "false", True, False),
        ("alm_project", "12345", True, "12345"),
        ("sde_min_priority", "7", True, "7"),
        ("alm_pass", MASK, False, MASK),
    ],
)
def test_a_params_cell_keeps_the_type_the_file_holds(name, cell, text_only, expected):
    jira = bundled_plugins()["jira"]
    value = param_from_cell(jira.field(name), cell, text_only=text_only)
    assert value == expected
    assert type(value) is type(expected)


def test_a_params_cell_the_field_cannot_hold_is_refused():
    jira = bundled_plugins()["jira"]
    with pytest.raises(CoercionError, match="not a whole number"):
        param_from_cell(jira.field("alm_reference_context"), 7.5, text_only=False)
    assert param_from_cell(None, 7.0, text_only=False) == 7  # not in the schema: as held
    assert param_from_cell(None, "7", text_only=True) == "7"
