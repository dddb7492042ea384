from __future__ import annotations

from almmigrate.errors import InputError, Problem, ValidationFailed


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
