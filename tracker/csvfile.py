"""Reading the CSV files people export from Excel: UTF-8 with or without BOM, comma, semicolon
or tab separated, quoted cells spanning lines, blank rows. Line numbers are physical lines, as a
spreadsheet user counts them (line 1 is the header)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

Source = str | os.PathLike[str] | IO[bytes] | IO[str]
_DELIMITERS = (",", ";", "\t")


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
