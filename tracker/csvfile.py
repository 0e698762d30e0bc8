"""Reading the CSV files people export from Excel: UTF-8 with or without BOM, comma, semicolon
or tab separated, quoted cells spanning lines, blank rows. Line numbers are physical lines, as a
spreadsheet user counts them (line 1 is the header).

And writing cells of the files the service hands out (CSV and XLSX) so that no spreadsheet takes
data for a formula: every writer puts its cells through `csv_cell` or `set_xlsx_cell`.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

Source = str | os.PathLike[str] | IO[bytes] | IO[str]
_DELIMITERS = (",", ";", "\t")
# What a spreadsheet reads as the start of a formula (or of a DDE call, =cmd|...), typed or opened.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 cannot hold (openpyxl refuses them): control characters other than tab, LF
# and CR.
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class FileProblem(Exception):
    """The file as a whole cannot be read; nothing in it is loaded."""

    def __init__(self, line: int, field: str, reason: str) -> None:
        super().__init__(reason)
        self.error = RowError(line, field, reason)


def read_text(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        raw: bytes | str = Path(source).read_bytes()
    else:
        raw = source.read()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise FileProblem(line, "file", 'not UTF-8 text: save it as "CSV UTF-8"') from None
    return raw.removeprefix("\ufeff")


def records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) per non-blank record; the delimiter is guessed from line 1."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(_DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FileProblem(reader.line_num, "file", f"not readable as CSV ({exc})") from None


def starts_like_formula(value: object) -> bool:
    """Text that a spreadsheet would take for a formula. Numbers are never text: -5 is -5."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell: text starting like a formula gets a leading `'`, which Excel and
    LibreOffice read as "this is text" (and hide); anything else, numbers included, as it is."""
    return "'" + value if starts_like_formula(value) else value


def csv_row(values: Iterable[Any]) -> list[Any]:
    """`csv_cell` of each value: what a `csv.writer` is given, for every file the service writes."""
    return [csv_cell(value) for value in values]


def set_xlsx_cell(cell: Any, value: Any) -> None:
    """Put `value` in an openpyxl cell; text is always a string cell, never a formula.

    openpyxl stores a string starting with `=` as a formula; it is forced back to a string
    cell, and text starting like a formula gets Excel's quote prefix, so that editing the cell
    does not make it one either. Characters XML cannot hold are dropped, not a failed export."""
    if isinstance(value, str):
        value = _NOT_IN_XML.sub("", value)
    cell.value = value
    if starts_like_formula(value):
        cell.data_type = "s"
        cell.quotePrefix = True
