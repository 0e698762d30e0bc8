"""Loading one catalogue table from a CSV file: what every loader shares (procedures,
communes, service areas).

Forgiving of the file and strict about each row: valid rows are loaded, every bad row is reported
with its line number (line 1 is the header), the field and the reason, and the caller decides
what a bad row means (the CLI commits the valid rows and exits 1). A file that cannot be read at
all (not UTF-8, missing or repeated columns, too many rows or header columns) loads nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tracker.audit.operations import record_audit
from tracker.csvfile import FileProblem, RowError, Source, read_text, records
from tracker.errors import Phrase
from tracker.extensions import db
from tracker.i18n import N_

# With the request's 2 MiB (MAX_CONTENT_LENGTH) and the csv module's 128 KiB cell, a cap on the
# rows (the caller's) and on the header's columns keep a load in the request bounded (README,
# "Files from outside").
MAX_HEADER_COLUMNS = 100
# PostgreSQL text holds no NUL: a cell or a field with one is refused, never sent to it.
NUL_MESSAGE = N_("must not contain NUL characters")
# [0-9], not \d: \d also matches other scripts' digits.
_DMY = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")
_ISO = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")


@dataclass
class LoadReport:
    """What a load did: counts, rows refused and columns ignored; `kind` names the rows
    ("procedures", "communes", "service_areas")."""

    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    kind: str = "procedures"

    @property
    def loaded(self) -> int:
        return self.created + self.updated

    @property
    def ok(self) -> bool:
        return not self.errors


class CellRefused(Exception):
    """One field of one row is invalid; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Columns:
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


RowLoader = Callable[[int, dict[str, str] | None], None]


def load_csv(
    source: Source, report: LoadReport, columns: Columns, load_row: RowLoader, *, max_rows: int
) -> LoadReport:
    """Read `source` and hand each row to `load_row(line, {column: cell})` (None for a row
    refused as a whole, already reported); flush at the end. UTF-8 with or without BOM; comma,
    semicolon or tab separated (guessed from the header)."""
    try:
        text = read_text(source)
        _check_shape(text, max_rows)
        rows = records(text)
        header = _check_header(next(rows, (1, [])), report, columns)
    except FileProblem as exc:
        report.errors.append(exc.error)
        return report
    if report.errors:
        return report
    try:
        for line, cells in rows:
            load_row(line, _row_dict(header, cells, line, report))
    except FileProblem as exc:
        report.errors.append(exc.error)
    db.session.flush()
    return report


def _check_shape(text: str, max_rows: int) -> None:
    """Rows and header columns within the caps, read before any row is loaded."""
    for count, (line, cells) in enumerate(records(text)):
        # Up to the last named column: Excel pads a CSV's lines with empty cells.
        if (
            count == 0
            and len(cells) > MAX_HEADER_COLUMNS
            and any(cell.strip() for cell in cells[MAX_HEADER_COLUMNS:])
        ):
            message = Phrase("more than %(most)s columns in the header", most=MAX_HEADER_COLUMNS)
            raise FileProblem(line, "header", message)
        if count > max_rows:
            message = "more than %(most)s rows after the header: split the file"
            raise FileProblem(line, "file", Phrase(message, most=max_rows))


def _check_header(first: tuple[int, list[str]], report: LoadReport, columns: Columns) -> list[str]:
    line, cells = first
    header = [cell.strip().lower().replace(" ", "_") for cell in cells]
    if not header:
        report.errors.append(RowError(1, "header", "the file is empty"))
    missing = [name for name in columns.required if name not in header]
    if header and missing:
        report.errors.append(
            RowError(
                line, "header", Phrase("missing column(s): %(names)s", names=", ".join(missing))
            )
        )
    duplicated = sorted(name for name, seen in Counter(header).items() if name and seen > 1)
    if duplicated:
        report.errors.append(
            RowError(
                line,
                "header",
                Phrase("repeated column(s): %(names)s", names=", ".join(duplicated)),
            )
        )
    known = (*columns.required, *columns.optional)
    report.ignored_columns = [name for name in header if name and name not in known]
    return header


def _row_dict(header: list[str], cells: list[str], line: int, report: LoadReport) -> dict | None:
    extra = [cell for cell in cells[len(header) :] if cell.strip()]
    if extra:
        report.errors.append(
            RowError(
                line,
                "row",
                Phrase(
                    "%(cells)s cells but %(columns)s columns", cells=len(cells), columns=len(header)
                ),
            )
        )
        return None
    cells = cells + [""] * (len(header) - len(cells))
    return {name: cell.strip() for name, cell in zip(header, cells, strict=True) if name}


def assign_audited(
    row: Any,
    fields: dict[str, Any],
    kind: str,
    actor_id: int | None = None,
    *,
    key: str | None = None,
) -> None:
    """Set a catalogue row's fields; a real change is audited (deadlines, fees and routes hang
    on it) under `key`, the row's code unless said."""
    before = None if row.id is None else {name: _plain(getattr(row, name)) for name in fields}
    for name, value in fields.items():
        setattr(row, name, value)
    after = {name: _plain(value) for name, value in fields.items()}
    if before != after:
        action = f"{kind}.{'create' if before is None else 'update'}"
        entity_key = key if key is not None else str(fields["code"])
        record_audit(actor_id, action, kind, entity_key, before=before, after=after)


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return getattr(value, "code", value)


def max_length(model: type, column: str) -> int:
    length = getattr(model.__table__.c[column].type, "length", None)
    return length or 1_000_000


def first_time(code: str, seen: dict[str, int]) -> str:
    """`code` if no earlier line of the file had it (`seen`: code -> line)."""
    if code in seen:
        raise CellRefused(
            Phrase("%(code)s is already on line %(line)s", code=code, line=seen[code])
        )
    return code


def nul_problems(row: dict[str, str]) -> list[tuple[str, str]]:
    """(column, reason) for each cell holding a NUL character."""
    return [(name, NUL_MESSAGE) for name, cell in row.items() if "\x00" in cell]


def clean_text(value: str) -> str:
    # Text pasted from Windows tools is often decomposed (NFD); store one form so search matches.
    return " ".join(unicodedata.normalize("NFC", value).split())


def cell_day(value: str) -> date | None:
    """A date cell: YYYY-MM-DD, or DD/MM/YYYY as Vietnamese Excel writes it; empty is None."""
    if not value:
        return None
    dmy, iso = _DMY.match(value), _ISO.match(value)
    try:
        if dmy:
            return date(int(dmy[3]), int(dmy[2]), int(dmy[1]))
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
    except ValueError:
        pass  # 31/02/2026: the shape of a date, not a date
    raise CellRefused("must be a date YYYY-MM-DD or DD/MM/YYYY")
