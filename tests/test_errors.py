from __future__ import annotations

from almmigrate.errors import InputError, Problem, ValidationFailed, parse_error_body


def test_parse_detail_error_message_in_that_order():
    assert parse_error_body({"detail": "Not found.", "error": "x"}).message == "Not found."
    assert parse_error_body({"error": "Bad thing"}).message == "Bad thing"
    assert parse_error_body({"message": "Oops"}).message == "Oops"


def test_parse_field_map_keeps_fields():
    body = parse_error_body(
        {"params": {"alm_method": ['"gopher" is not one of https, http']}, "name": ["required"]}
    )
    assert body.fields == {
        "params.alm_method": ['"gopher" is not one of https, http'],
        "name": ["required"],
    }
    assert "params.alm_method" in body.message


def test_parse_raw_text_when_not_json():
    assert parse_error_body(None, "<html>Bad Gateway</html>").message == "<html>Bad Gateway</html>"
    assert parse_error_body(None, "x" * 1000).message == "x" * 300 + "... (700 more characters)"


def test_problem_and_input_error_locations():
    problem = Problem(
        '"gopher" is not one of https, http',
        sheet="connections",
        row=14,
        column="params.alm_method",
    )
    assert (
        str(problem) == 'connections row 14, params.alm_method: "gopher" is not one of https, http'
    )
    error = InputError("not UTF-8", file="x.csv", row=3)
    assert str(error) == "x.csv: row 3: not UTF-8"
    failed = ValidationFailed(
        [problem, Problem("unknown param", severity="warning")], file="f.xlsx"
    )
    assert str(failed) == "f.xlsx: 1 problem found, nothing was written"
    assert failed.exit_code == 2
