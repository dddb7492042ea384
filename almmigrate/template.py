"""Empty workbooks for bulk creation of one ALM system's connectors and connections.

A template has the sheets and columns of the import layout (README "File
layouts"), one `params.<field>` column per field a person may set, and the
plugin schema written into the workbook where a person will see it: required
columns in bold red with a note, dropdowns for select, radio and boolean
fields, checkbox options and help text as notes on the header, secret columns
shaded and noted "supply via --secrets". Column names are never decorated, so
a filled template imports as it is.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from almmigrate import FORMAT_VERSION, __version__
from almmigrate.dataset import (
    CONNECTION_COLUMNS,
    CONNECTIONS,
    CONNECTOR_COLUMNS,
    CONNECTORS,
    FREQUENCIES,
    META,
    PARAM_PREFIX,
    PROJECT_COLUMNS,
    PROJECTS,
    ProjectRecord,
    Snapshot,
)
from almmigrate.errors import InputError
from almmigrate.files.atomic import atomic_file
from almmigrate.files.xlsx import (
    HouseBook,
    add_note,
    describe_workbook,
    house_workbook,
    print_layout,
    sheet_reference,
    write_row,
)
from almmigrate.generation import generation
from almmigrate.schema import (
    CHOICE_TYPES,
    DERIVED_PARAMS,
    PROJECT,
    SYSTEM,
    Field,
    Plugin,
    bundled_plugins,
)
from almmigrate.secrets import MASK, one_run, redact_url
from almmigrate.settings import ConnectionSettings
from almmigrate.vocabulary import META_KEY, plugin_generation, translate_plugins

if TYPE_CHECKING:
    from almmigrate.instance import Client

HELP = "help"
# Data validations cover the whole column below the header.
LAST_ROW = 1048576
# How far down the connectors sheet the connector_name dropdown looks.
CONNECTOR_PICK_ROWS = 1000
BOOLEAN_CHOICES = ("TRUE", "FALSE")
# Excel refuses a list validation whose formula is longer than 255 characters.
_MAX_LIST_FORMULA = 255

# Names are what a person reads along a row: wide enough for "Jira Cloud – Team Montréal".
NAME_WIDTH = 30


@dataclass(frozen=True)
class Column:
    """One column of a template sheet and what a person needs to know to fill it."""

    name: str
    note: str = ""
    required: bool = False
    secret: bool = False
    read_only: bool = False
    choices: tuple[str, ...] = ()  # a dropdown when not empty
    choices_formula: str | None = None  # a dropdown from a range, e.g. connectors!$B$2:$B$9
    text: bool = False  # format the column as text so 007 stays 007
    width: int = 14  # at least this many characters wide


# ---------------------------------------------------------------- columns


def connector_columns(plugin: Plugin) -> list[Column]:
    """The connectors sheet: the fixed columns, then every system-scope param."""
    fixed = [
        Column("id", "Leave empty: the target gives new connectors their id.", read_only=True),
        Column(
            "name",
            "The connector's name; unique on the instance.",
            required=True,
            text=True,
            width=NAME_WIDTH,
        ),
        # Not pre-filled: the reader takes a row holding only `system` for a
        # connector with no name, so empty rows would fail the import.
        Column(
            "system",
            f'Always "{plugin.id}" in this template: type it or pick it from the list.',
            required=True,
            choices=(plugin.id,),
        ),
        Column(
            "inaccessible",
            "TRUE when SD Elements cannot reach the ALM server.",
            choices=BOOLEAN_CHOICES,
        ),
        Column(
            "fields_editable_on_project",
            "Comma-separated param names a connection may override; empty for the "
            f"plugin's default ({', '.join(sorted(plugin.project_editable())) or 'none'}).",
            text=True,
        ),
    ]
    assert [c.name for c in fixed] == CONNECTOR_COLUMNS
    return fixed + [param_column(f) for f in _fields(plugin, SYSTEM)]


def connection_columns(plugin: Plugin) -> list[Column]:
    """The connections sheet: the fixed columns, then every project-scope param."""
    fixed = [
        Column("id", "Leave empty: the target gives new connections their id.", read_only=True),
        Column(
            "alias",
            "The connection's name; unique within its project.",
            required=True,
            text=True,
            width=NAME_WIDTH,
        ),
        Column(
            "project",
            "The SD Elements project id on the instance you import into: the projects "
            "sheet lists them in a template made with --url, and in an export of it.",
            required=True,
        ),
        Column(
            "project_name", "For your reference only; ignored on import.", read_only=True, text=True
        ),
        Column("connector", "Leave empty when connector_name is filled.", read_only=True),
        Column(
            "connector_name",
            "The connector's name: one on the connectors sheet (pick it from the list) "
            "or one already on the instance.",
            required=True,
            text=True,
            width=NAME_WIDTH,
            choices_formula=f"{sheet_reference(CONNECTORS)}!$B$2:$B${CONNECTOR_PICK_ROWS + 1}",
        ),
        Column("system", "Taken from the connector; may be left empty.", read_only=True),
        Column(
            "frequency",
            'How often the connection syncs; empty means "manually".',
            choices=FREQUENCIES,
        ),
        Column("debug_mode", "TRUE to log the sync in detail.", choices=BOOLEAN_CHOICES),
        Column(
            "inaccessible",
            "TRUE when SD Elements cannot reach the ALM server.",
            choices=BOOLEAN_CHOICES,
        ),
    ]
    assert [c.name for c in fixed] == CONNECTION_COLUMNS
    return fixed + [param_column(f) for f in _fields(plugin, PROJECT)]


def _fields(plugin: Plugin, scope: str) -> list[Field]:
    """Fields a person sets in that scope: not read-only, not derived by the server."""
    return [
        f for f in plugin.fields_in_scope(scope) if not f.readonly and f.name not in DERIVED_PARAMS
    ]


def param_column(spec: Field) -> Column:
    """A `params.<field>` column: dropdown, note and marks from the field's schema."""
    choices: tuple[str, ...] = ()
    if spec.field_type == "boolean":
        choices = BOOLEAN_CHOICES
    elif spec.field_type in CHOICE_TYPES:
        choices = spec.choices
    return Column(
        name=f"{PARAM_PREFIX}{spec.name}",
        note=field_note(spec),
        required=spec.required,
        secret=spec.is_secret,
        choices=choices,
        text=spec.field_type not in ("boolean", "integer"),
    )


def field_note(spec: Field) -> str:
    """What the header note says about a field: label, type, rules, help text."""
    lines = [spec.label or spec.name]
    kind = spec.field_type
    if spec.required:
        lines.append("REQUIRED.")
    if spec.is_secret:
        lines.append(
            f"SECRET: type {MASK} here and give the value in a secrets file "
            f"(--secrets SECRETS.csv, columns kind,name,field,value; field {spec.name})."
        )
    if kind == "boolean":
        lines.append("TRUE or FALSE.")
    elif kind in CHOICE_TYPES and spec.options:
        lines.append(
            "One of: "
            + ", ".join(_option_text(o.value, o.label) for o in spec.options if not o.disabled)
        )
    elif kind == "checkbox" and spec.options:
        lines.append(
            "Comma-separated, any of: "
            + ", ".join(_option_text(o.value, o.label) for o in spec.options if not o.disabled)
        )
    elif kind == "integer":
        lines.append("A whole number.")
    if spec.max_length:
        lines.append(f"At most {spec.max_length} characters.")
    if spec.default not in (None, ""):
        lines.append(f"Default: {_default_text(spec.default)}")
    for extra in (spec.help_text, spec.description):
        if extra and extra not in lines:
            lines.append(extra)
    if spec.placeholder and not spec.is_secret:
        lines.append(f"e.g. {spec.placeholder}")
    return "\n".join(lines)


def _default_text(value: Any) -> str:
    """A default as a person types it in a cell (booleans as TRUE/FALSE)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return "" if value is None else str(value)


def _option_text(value: str, label: str) -> str:
    return value if not label or label == value else f"{value} ({label})"


# ---------------------------------------------------------------- workbook


class _Styles:
    """The header formats of a template over the house ones, made once per workbook."""

    def __init__(self, book: HouseBook) -> None:
        header = {"bold": True, "pattern": 1}
        self.required = book.style(**header, font_color="#9C0006", bg_color="#FFC7CE")
        self.secret = book.style(**header, bg_color="#FFEB9C")
        self.secret_required = book.style(**header, font_color="#9C0006", bg_color="#FFEB9C")
        self.read_only = book.style(**header, bg_color="#D9D9D9")
        self.plain_header = book.style(**header, bg_color="#DDEBF7")
        self.bold = book.header
        # Typed into a text column, 007 stays 007 and 1e5 stays 1e5.
        self.text = book.style(num_format="@")
        self.wrap = book.wrap
        self.book = book

    def header(self, column: Column) -> Any:
        if column.secret:
            return self.secret_required if column.required else self.secret
        if column.required:
            return self.required
        return self.read_only if column.read_only else self.plain_header


def build_template(
    plugin: Plugin,
    target: str | os.PathLike[str] | IO[bytes],
    *,
    source: str = "bundled",
    projects: Sequence[ProjectRecord] = (),
) -> None:
    """Write the template workbook for one plugin to target (a path or a binary stream).

    source: where the schema came from, for the `_meta` sheet ("bundled" or a URL).
    projects: the instance's projects, listed on the projects sheet so that a
    person filling the connections sheet finds each project's id.
    """
    # A template is small: kept in memory (notes and dropdowns), never streamed.
    with house_workbook(target, streaming=False) as book:
        styles = _Styles(book)
        _fill_sheet(book.book.add_worksheet(CONNECTORS), connector_columns(plugin), styles)
        _fill_sheet(book.book.add_worksheet(CONNECTIONS), connection_columns(plugin), styles)
        projects_sheet = book.book.add_worksheet(PROJECTS)
        _fill_sheet(
            projects_sheet,
            [
                Column(name, "For your reference only; ignored on import.", read_only=True)
                for name in PROJECT_COLUMNS
            ],
            styles,
        )
        by_path = sorted(projects, key=lambda p: (p.business_unit, p.application, p.name, p.id))
        for number, project in enumerate(by_path, start=1):
            write_row(
                book,
                projects_sheet,
                number,
                (project.id, project.name, project.application, project.business_unit),
            )
        _write_meta(book.book.add_worksheet(META), plugin, source, styles)
        _write_help(book.book.add_worksheet(HELP), plugin, styles)


def _fill_sheet(sheet: Any, columns: list[Column], styles: _Styles) -> None:
    for index, column in enumerate(columns):
        sheet.write_string(0, index, column.name, styles.header(column))
        if column.note:
            add_note(sheet, 0, index, column.note)
        width = min(max(len(column.name) + 4, column.width), 48)
        sheet.set_column(index, index, width, styles.text if column.text else None)
        validation = _validation(column)
        if validation is not None:
            sheet.data_validation(1, index, LAST_ROW - 1, index, validation)
    sheet.freeze_panes(1, 0)
    print_layout(sheet)


def _validation(column: Column) -> dict[str, Any] | None:
    source: str | list[str]
    if column.choices_formula:
        source = column.choices_formula
        strict = False  # a connector already on the instance is not in the list
    elif column.choices:
        formula = '"' + ",".join(c.replace('"', '""') for c in column.choices) + '"'
        strict = len(formula) <= _MAX_LIST_FORMULA and not any("," in c for c in column.choices)
        if not strict:
            return None  # the note lists the choices; Excel cannot hold this list
        source = list(column.choices)
    else:
        return None
    return {
        "validate": "list",
        "source": source,
        "ignore_blank": True,
        "dropdown": True,
        "show_error": strict,
        "error_type": "stop" if strict else "warning",
        "error_title": column.name[:32],
        "error_message": f"Pick a value from the list for {column.name}."[:255],
        "show_input": True,
        "input_title": column.name[:32],
        "input_message": _short(column.note),
    }


def _short(text: str) -> str:
    """Excel's input message holds at most 255 characters."""
    return text if len(text) <= 250 else text[:247] + "..."


def _write_meta(sheet: Any, plugin: Plugin, source: str, styles: _Styles) -> None:
    rows = [
        ("kind", "template"),
        ("system", plugin.id),
        ("system name", plugin.name),
        ("schema source", source),
        (META_KEY, plugin_generation(plugin).api),
        ("tool version", __version__),
        ("format version", FORMAT_VERSION),
    ]
    sheet.write_string(0, 0, "key", styles.bold)
    sheet.write_string(0, 1, "value", styles.bold)
    for number, values in enumerate(rows, start=1):
        write_row(styles.book, sheet, number, values)
    sheet.set_column(0, 0, 18)
    sheet.set_column(1, 1, 40)
    print_layout(sheet)


def _write_help(sheet: Any, plugin: Plugin, styles: _Styles) -> None:
    lines = [
        f"Template for {plugin.name} ({plugin.id}) connectors and connections.",
        f"1. Fill one row per connector on the connectors sheet (system: {plugin.id}).",
        "2. Fill one row per connection on the connections sheet; pick connector_name from the list.",
        "3. Bold red headers are required; hover a header for its note; dropdowns offer the choices.",
        f"4. Secret columns (yellow): type {MASK} and give the values in a secrets file "
        "(kind,name,field,value).",
        f"5. Check it: {validate_command(plugin, 'FILE.xlsx')}",
        f"6. See what it would do: almmigrate plan FILE.xlsx --url URL{_secrets_option(plugin)}",
        f"7. Import it: almmigrate import FILE.xlsx --url URL{_secrets_option(plugin)}",
        "Grey columns need nothing when creating: the instance gives ids; names are for reference.",
    ]
    sheet.write_string(0, 0, lines[0], styles.bold)
    for number, line in enumerate(lines[1:], start=1):
        write_row(styles.book, sheet, number, [line])
    row = len(lines) + 1
    for index, name in enumerate(
        ["sheet", "column", "label", "type", "required", "secret", "choices", "default", "help"]
    ):
        sheet.write_string(row, index, name, styles.bold)
    header_row = row
    for sheet_name, scope in ((CONNECTORS, SYSTEM), (CONNECTIONS, PROJECT)):
        for spec in _fields(plugin, scope):
            row += 1
            write_row(
                styles.book,
                sheet,
                row,
                (
                    sheet_name,
                    f"{PARAM_PREFIX}{spec.name}",
                    spec.label,
                    spec.field_type,
                    "yes" if spec.required else "",
                    "yes" if spec.is_secret else "",
                    ", ".join(spec.choices),
                    _default_text(spec.default),
                    spec.help_text,
                ),
                {6: styles.wrap, 8: styles.wrap},  # choices and help wrap
            )
    sheet.set_column(0, 0, 14)
    sheet.set_column(1, 1, 34)
    sheet.set_column(2, 5, 18)
    sheet.set_column(6, 6, 30, styles.wrap)  # choices
    sheet.set_column(7, 7, 18)
    sheet.set_column(8, 8, 60, styles.wrap)  # help
    print_layout(sheet, header_row=header_row)


def validate_command(plugin: Plugin, path: str | os.PathLike[str]) -> str:
    """The command that checks a filled template before anything is sent.

    Every row of a template is a create. Offline, plain `validate` cannot tell
    a create from an update, so it skips the rules of a create (required
    params, a value for each masked secret); `--mode create` applies them, and
    `--secrets` gives the values a masked secret stands for.
    """
    return f"almmigrate validate {path} --mode create{_secrets_option(plugin)}"


def _secrets_option(plugin: Plugin) -> str:
    columns = connector_columns(plugin) + connection_columns(plugin)
    return " --secrets SECRETS.csv" if any(c.secret for c in columns) else ""


# ---------------------------------------------------------------- files


def template_filename(plugin: Plugin) -> str:
    return f"{plugin.id}.xlsx"


def write_template(
    plugin: Plugin,
    path: str | os.PathLike[str],
    *,
    source: str = "bundled",
    projects: Sequence[ProjectRecord] = (),
) -> Path:
    """Write one template to path atomically; raises InputError if it cannot."""
    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise InputError(f"a template is an .xlsx workbook; got {target.name!r}", file=str(target))
    with atomic_file(target) as stream:
        build_template(plugin, stream, source=source, projects=projects)
    return target


@dataclass(frozen=True)
class Written:
    """One template written: the system it is for and where."""

    plugin: Plugin
    path: Path


def write_all_templates(
    plugins: Mapping[str, Plugin],
    folder: str | os.PathLike[str],
    *,
    source: str = "bundled",
    projects: Sequence[ProjectRecord] = (),
) -> list[Written]:
    """One template per plugin in folder (created if missing), named `<system>.xlsx`, by id."""
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the folder: {error.strerror}", file=str(out)) from None
    written = []
    for plugin in sorted(plugins.values(), key=lambda p: p.id):
        path = write_template(
            plugin, out / template_filename(plugin), source=source, projects=projects
        )
        written.append(Written(plugin, path))
    return written


@dataclass(frozen=True)
class Templates:
    """What `almmigrate template` wrote, and the schemas it built them from."""

    written: list[Written]
    source: str  # "bundled", or the URL (redacted) of the instance the schemas came from
    systems: int  # how many systems' schemas that source gave
    published: bool  # False: an instance that publishes none; the bundled ones in its names


@one_run
def make_templates(
    out: str | os.PathLike[str],
    *,
    system: str | None = None,
    settings: ConnectionSettings | None = None,
    api: str | None = None,
) -> Templates:
    """`almmigrate template`: one system's template at out, or (system None) every one in folder out.

    With settings, the schemas and projects come from that instance (an instance that
    publishes no schema gets the bundled ones in its names); without, the bundled
    schemas in the names of generation `api` (ALM by default).
    """
    schemas = _schemas(settings, api)
    plugins, source, projects = schemas.plugins, schemas.source, schemas.projects
    if system is None:
        written = write_all_templates(plugins, out, source=source, projects=projects)
    else:
        plugin = find_plugin(plugins, system)
        path = write_template(plugin, out, source=source, projects=projects)
        written = [Written(plugin, path)]
    return Templates(written, source, len(plugins), schemas.published)


@dataclass(frozen=True)
class _Schemas:
    plugins: dict[str, Plugin]
    source: str
    projects: list[ProjectRecord]
    published: bool = True


def _schemas(settings: ConnectionSettings | None, api: str | None) -> _Schemas:
    """The plugins, where they come from and the instance's projects, for make_templates."""
    if settings is None:
        return _Schemas(translate_plugins(bundled_plugins(), generation(api)), "bundled", [])
    from almmigrate.instance import read_context, with_client
    from almmigrate.mapping import projects_of_snapshot

    def read(client: Client) -> tuple[dict[str, Plugin], bool, Snapshot]:
        published = client.list_plugins()
        plugins = published or translate_plugins(bundled_plugins(), client.generation)
        return plugins, bool(published), read_context(client, only=PROJECTS)

    plugins, published, instance = with_client(settings, read)
    projects = [
        ProjectRecord(p.id, p.name, p.application, p.business_unit)
        for p in projects_of_snapshot(instance)
    ]
    return _Schemas(plugins, redact_url(settings.url), projects, published)


def find_plugin(plugins: Mapping[str, Plugin], system: str) -> Plugin:
    """The plugin for a system id (case-insensitive), or InputError listing the known ones."""
    for plugin in plugins.values():
        if plugin.id.lower() == system.strip().lower():
            return plugin
    known = ", ".join(sorted(plugins)) or "none"
    raise InputError(f"unknown system {system!r}; known systems: {known}")


def describe_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Cell values, validations and notes of a template, for comparing two of them."""
    return describe_workbook(path)


def stale_templates(
    plugins: Mapping[str, Plugin], folder: str | os.PathLike[str], names: Iterable[str] = ()
) -> list[str]:
    """Templates in folder that differ from what the schemas would build now (names)."""
    wanted = set(names) or {template_filename(p) for p in plugins.values()}
    stale = []
    with tempfile.TemporaryDirectory() as fresh:
        write_all_templates(plugins, fresh)
        for name in sorted(wanted):
            current = Path(folder) / name
            if not current.is_file() or describe_template(current) != describe_template(
                Path(fresh) / name
            ):
                stale.append(name)
    return stale
