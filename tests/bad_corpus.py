"""The bad-input corpus in tests/fixtures/: each file, what refusing it says, and which commands must.

The folder holds every test file (one generator: tests/fixtures/make_fixtures.py);
OTHERS names the ones that are not the corpus.
"""

from __future__ import annotations

from pathlib import Path

BAD = Path(__file__).resolve().parent / "fixtures"
VALIDATE, PLAN, DRY_RUN = "validate", "plan", "import --dry-run"
ALL = (VALIDATE, PLAN)
# `import --dry-run` goes through the same reader and prepare_import as `plan`;
# it is run on a sample of every kind of failure to keep the suite fast.
DRY_RUN_TOO = {
    "xml-bomb.xlsx",
    "latin1.csv",
    "bad-choice.csv",
    "duplicate-names.csv",
    "masked-secret-no-value.csv",
    "unmapped-project.csv",
    "formula-without-value.xlsx",
}

# file -> (what the first line of stderr says, the commands that must refuse it)
CORPUS: dict[str, tuple[str, tuple[str, ...]]] = {
    "empty.xlsx": ("InputError: {path}: the file is empty", ALL),
    "empty.csv": ("InputError: {path}: the file is empty", ALL),
    "not-a-zip.xlsx": (
        "InputError: {path}: not a workbook (.xlsx, .xls or .ods): it is not a zip archive",
        ALL,
    ),
    "csv-named.xlsx": (
        "InputError: {path}: a CSV file named as a workbook; rename it to .csv",
        ALL,
    ),
    "binary-junk.xlsx": (
        "InputError: {path}: not a workbook (.xlsx, .xls or .ods): the file is binary data of another kind",
        ALL,
    ),
    "binary-junk.csv": ("InputError: {path}: binary data, not a CSV text file", ALL),
    "null-byte.csv": ("InputError: {path}: binary data, not a CSV text file", ALL),
    "latin1.csv": (
        "InputError: {path}: not UTF-8: byte 0xc9 at line 2, column 8; save it as CSV UTF-8",
        ALL,
    ),
    "utf16.csv": ("InputError: {path}: the file is UTF-16 text; save it as CSV UTF-8", ALL),
    "ragged-rows.csv": (
        "InputError: {path}: connectors row 3: this row has 11 cells but the header has 10; "
        "check for a stray comma or an unclosed quote",
        ALL,
    ),
    "huge-cell.csv": (
        "InputError: {path}: connectors row 2, params.alm_user: a cell holds 40,000 characters, "
        "more than 32,767",
        ALL,
    ),
    "broken.json": (
        "InputError: {path}: not valid JSON: Expecting property name enclosed in double quotes "
        "at line 1, column 69",
        ALL,
    ),
    "wrong-shape.json": (
        'InputError: {path}: expected a JSON object with "connectors", "connections" and '
        '"projects" lists',
        ALL,
    ),
    "xml-bomb.xlsx": (
        "InputError: {path}: xl/worksheets/sheet1.xml declares XML entities or a DTD "
        "(a possible XML bomb); refused",
        ALL,
    ),
    "hidden-sheet.xlsx": (
        'InputError: {path}: the sheet "connectors" is hidden; unhide it or delete it, then save',
        ALL,
    ),
    "merged-cells.xlsx": (
        "InputError: {path}: connectors: merged cells (C2:C3); unmerge them so every row has its "
        "own values",
        ALL,
    ),
    "formula-without-value.xlsx": (
        "InputError: {path}: connectors: cell G3 holds a formula with no saved value; open the "
        "file in Excel or LibreOffice and save it again, or type the value",
        ALL,
    ),
    "too-many-rows.csv": (
        "InputError: {path}: connectors: more than 100 rows; split the file",
        ALL,
    ),
    "unknown-system.csv": (
        'connectors row 2, system: "bugzilla" is not a known system (one of github, jira, rally, trac)',
        ALL,
    ),
    "bad-boolean.csv": (
        'connectors row 2, inaccessible: "maybe" is not a boolean (use TRUE or FALSE)',
        ALL,
    ),
    "bad-choice.csv": (
        'connectors row 2, params.alm_method: "gopher" is not one of https, http',
        ALL,
    ),
    "bad-integer.csv": (
        'connectors row 2, params.alm_reference_context: "five" is not a whole number',
        ALL,
    ),
    "too-long.csv": (
        "connectors row 2, params.title_format: Ensure this field has no more than 255 characters.",
        ALL,
    ),
    "wrong-types.json": ('connectors row 1, id: "one" is not a whole number', ALL),
    "duplicate-names.csv": ('connectors row 3, name: "Jira Fixture" is also on row 2', ALL),
    "duplicate-connections.csv": (
        'connections row 3, alias: "Backend sync" in project 722 is also on row 2',
        ALL,
    ),
    "duplicate-columns.csv": (
        'InputError: {path}: connectors row 1: the columns "name" and "Name " are the same '
        "column (names ignore case and surrounding spaces); keep one",
        ALL,
    ),
    "duplicate-key.json": (
        'InputError: {path}: the key "connectors" appears twice in one object; the first value '
        "would be dropped without a word: keep one",
        ALL,
    ),
    "missing-columns.csv": (
        'connections row 1: the column "project" or "project_name" is missing',
        ALL,
    ),
    "lone-surrogate.json": (
        "InputError: {path}: connectors row 2, params.alm_user: a JSON string that is not valid "
        "Unicode text: \\ud83d is half of a UTF-16 surrogate pair, without its other half; "
        "correct or remove it",
        ALL,
    ),
    "masked-secret-no-value.csv": (
        'connectors row 2, params.alm_pass: masked secret and no value for connector "Jira Fixture" '
        "in --secrets (needed to create it)",
        ("validate --mode create", PLAN),
    ),
    "unmapped-project.csv": (
        'connections row 2, project: project 12 ("Elsewhere") is not mapped to a target project: '
        "the file's projects are not this instance's: use --project-map or --auto-map-projects",
        (PLAN,),
    ),
}

# The other files in tests/fixtures, and who reads them.
OTHERS = {
    "make_fixtures.py",  # the generator
    "secrets-null-byte.csv",  # test_secretsfile
    # test_files: what the file layer reads or refuses beyond the corpus
    "old-excel.xlsx", "zip-bomb.xlsx", "unknown-kind.csv", "utf8-bom.csv", "utf8-plain.csv",
    "windows-newlines.csv", "mac-newlines.csv", "semicolons.csv", "text-values.csv",
    # made by LibreOffice: test_files, test_layout (sample_dataset re-saved or typed into)
    "libreoffice-saved.xlsx", "libreoffice-csv", "libreoffice-typed.xlsx",
    "libreoffice-resaved-connectors.csv", "libreoffice-formula-cached.xlsx",
    "libreoffice-error-cell.ods", "libreoffice-error-cell.xls",
    "libreoffice-error-cell-connections.ods", "libreoffice-percent.xlsx",
    "libreoffice-percent.ods", "libreoffice-percent.xls",
    # made by LibreOffice from libreoffice-instance.json's export: test_workbook, test_damage,
    # test_frames, test_cli_plan (conftest's lo_sim serves the instance)
    "libreoffice-instance.json", "libreoffice-roundtrip.xlsx", "libreoffice-edited.xlsx",
    "libreoffice-edited.ods", "libreoffice-edited.xls", "libreoffice-csv-roundtrip",
    # made by LibreOffice from libreoffice-tabs-instance.json's export: test_damage
    "libreoffice-tabs-instance.json", "libreoffice-tabs.xlsx", "libreoffice-tabs.ods",
    # made by LibreOffice in another encoding or with spaces between the cells: test_csvfiles
    "libreoffice-encodings",
}  # fmt: skip
