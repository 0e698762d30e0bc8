"""The first sheet of an XLSX file, read by the worker in bounded memory.

The archive is opened through `tracker.uploads.GuardedZipFile`: its directory is checked again
(the caps may have changed since the upload), and no part yields more than its entry declares.
openpyxl parses whole the few small parts it needs: content types, workbook (sheets, date
system), relationships, styles (which cells are dates). The shared strings and the sheet are
streamed here, each string, cell and row dropped from the tree as soon as it is read: openpyxl's
own read-only loops leave every element they have read attached to the document (~100 bytes a
row or string, for good) and let one row or string grow as large as its part (a 15 MB row of a
30 KB file took 430 MB). Every element read since the last one dropped counts against
ELEMENT_BUDGET, so no single string, row or cell can hold more.

All XML goes through defusedxml, here and in openpyxl (which uses it whenever it is installed):
a DTD declaring entities (billion laughs, external entities) fails the file before any expands.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import openpyxl
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.cell import range_boundaries
from openpyxl.worksheet._reader import WorkSheetParser
from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS

from tracker.csvfile import FileProblem
from tracker.uploads import FileRefused, GuardedZipFile, ZipLimits, format_bytes, shown

if not openpyxl.DEFUSEDXML:
    raise RuntimeError(
        "openpyxl must parse XML through defusedxml: install it (requirements.txt) and leave "
        "OPENPYXL_DEFUSEDXML unset"
    )

# Elements read since a string, cell or row was last dropped: a cell of rich text has a few
# dozen, a row of a hundred cells a few hundred.
ELEMENT_BUDGET = 10_000
# Excel's own width (column XFD).
MAX_ROW_CELLS = 16_384
# Parts openpyxl parses whole into a tree; Excel's largest styles (64,000 formats) take ~6 MiB.
WHOLE_PART_BYTES = 8 << 20
UNREADABLE = "not a readable Excel workbook"
Row = tuple[int, list, bool]
_ROW, _CELL, _SI, _T, _RUN, _SHEET_DATA, _DIMENSION = (
    f"{{{SHEET_MAIN_NS}}}{name}" for name in ("row", "c", "si", "t", "r", "sheetData", "dimension")
)


class _Archive(GuardedZipFile):
    def read(self, name, pwd=None) -> bytes:
        # What openpyxl reads whole; the sheet and the shared strings are opened and streamed.
        size = self.getinfo(name).file_size  # KeyError for a missing part, as openpyxl expects
        if size > WHOLE_PART_BYTES:
            raise FileProblem(
                1, "file", f"part {shown(name)} is larger than {format_bytes(WHOLE_PART_BYTES)}"
            )
        return super().read(name, pwd)


class _WorkbookReader(ExcelReader):
    """openpyxl's reader, over the guarded archive, reading only what the rows need."""

    def __init__(self, archive: _Archive) -> None:
        super().__init__(archive.fp, read_only=True, data_only=True, keep_links=False)
        self.archive.close()  # openpyxl's own ZipFile over the same file: ours reads instead
        self.archive = archive

    def read(self) -> None:
        self.read_manifest()
        self.read_strings()
        self.read_workbook()
        apply_stylesheet(self.archive, self.wb)

    def read_strings(self) -> None:
        part = self.package.find(SHARED_STRINGS)
        if part is not None:
            with self.archive.open(part.PartName[1:]) as source:
                self.shared_strings = read_shared_strings(source)

    def first_sheet(self) -> str | None:
        """The first worksheet's part (chartsheets are not worksheets), as openpyxl orders them."""
        for _sheet, rel in self.parser.find_sheets():
            if rel.target in self.valid_files and "chartsheet" not in rel.Type:
                return rel.target
        return None


class SheetRows:
    """Rows of a sheet as (row number, values of its first `width` columns, whether a value
    lies beyond them), in row order; `last_row` is what the sheet's dimension claims."""

    def __init__(self, source: IO[bytes], reader: _WorkbookReader, width: int) -> None:
        wb = reader.wb
        self.source = source
        self.width = width
        self.last_row: int | None = None
        # openpyxl's reading of one cell: shared strings, numbers, dates by style, booleans.
        self.parser = WorkSheetParser(
            source,
            reader.shared_strings,
            data_only=True,
            epoch=wb.epoch,
            date_formats=wb._date_formats,
            timedelta_formats=wb._timedelta_formats,
        )
        self.number = 0

    def __iter__(self) -> Iterator[Row]:
        try:
            yield from self._rows()
        except FileProblem:
            raise
        except Exception as exc:  # the parser on an untrusted file
            raise unreadable(exc, max(self.number, 1)) from None

    def _rows(self) -> Iterator[Row]:
        # path[d]: the open element at depth d (the worksheet is 0), for the three levels whose
        # elements are dropped when they end: sheetData and its siblings, rows, cells.
        path: list = [None] * 4
        depth = pending = last = 0
        values: list = []
        beyond = False
        for event, element in iterparse(self.source, events=("start", "end")):
            if event == "start":
                pending += 1
                if pending > ELEMENT_BUDGET:
                    raise FileProblem(max(self.number, 1), "file", _too_many_elements("row"))
                if depth < 4:
                    path[depth] = element
                    if depth == 2 and element.tag == _ROW:
                        self._start_row(element)
                        values, beyond = [], False
                depth += 1
                continue
            depth -= 1
            if depth == 3:
                if element.tag == _CELL and path[2].tag == _ROW:
                    beyond = self._cell(element, values) or beyond
            elif depth == 2:
                if element.tag == _ROW and self.number > last:
                    last = self.number  # as openpyxl, a row numbered before the last is skipped
                    yield self.number, values, beyond
            elif depth == 1:
                if element.tag == _DIMENSION:
                    self.last_row = _last_row(element.get("ref"))
                elif element.tag == _SHEET_DATA:
                    return  # what follows the rows (merged cells, formatting, ...) is not read
            else:
                continue
            path[depth - 1].remove(element)
            pending = 0

    def _start_row(self, element) -> None:
        number = element.get("r")
        if number is None:
            self.number += 1
        else:
            value = float(number)
            if not value.is_integer():
                raise ValueError(f"{number} is not a row number")
            self.number = int(value)
        self.parser.row_counter, self.parser.col_counter, self.cells = self.number, 0, 0

    def _cell(self, element, values: list) -> bool:
        """Put the cell's value in `values`; True when it lies beyond `width`."""
        self.cells += 1
        if self.cells > MAX_ROW_CELLS:
            raise FileProblem(self.number, "file", f"more than {MAX_ROW_CELLS} cells in one row")
        cell = self.parser.parse_cell(element)
        column, value = cell["column"], cell["value"]
        if value is None or value == "":
            return False
        if column > self.width:
            return True
        if column > len(values):
            values.extend([None] * (column - len(values)))
        values[column - 1] = value
        return False


def _too_many_elements(where: str) -> str:
    return (
        f"more than {ELEMENT_BUDGET} XML elements in one {where}: not what a spreadsheet "
        "program writes"
    )


def read_shared_strings(source: IO[bytes]) -> list[str]:
    """The shared string table, as openpyxl's `read_string_table` reads it, each string dropped
    from the tree once read."""
    strings: list[str] = []
    table = None
    depth = pending = 0
    for event, element in iterparse(source, events=("start", "end")):
        if event == "start":
            pending += 1
            if pending > ELEMENT_BUDGET:
                raise FileProblem(1, "file", _too_many_elements("shared string"))
            if depth == 0:
                table = element
            depth += 1
            continue
        depth -= 1
        if depth == 1:  # a child of the table: a string (or something to drop)
            if element.tag == _SI:
                strings.append(_text(element).replace("x005F_", ""))
            table.remove(element)
            pending = 0
    return strings


def _text(string) -> str:
    """A string's text without its formatting: its own `t`, then its runs' (openpyxl's
    `Text.content`; phonetic runs are not text), at a tenth of `Text.from_tree`'s cost."""
    runs = (run.findtext(_T) for run in string.iterfind(_RUN))
    return "".join(filter(None, (string.findtext(_T), *runs)))


@contextmanager
def open_first_sheet(path: Path, limits: ZipLimits, width: int) -> Iterator[SheetRows]:
    """The first worksheet of the workbook at `path`. Raises FileProblem when the archive is
    refused (its message) or the workbook cannot be read."""
    with open(path, "rb") as handle:
        try:
            archive = _Archive(handle, limits)
        except FileRefused as exc:  # a cap, or not a zip at all
            raise FileProblem(1, "file", exc.reason) from None
        except Exception:
            raise FileProblem(1, "file", UNREADABLE) from None
        with archive:
            try:
                reader = _WorkbookReader(archive)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # openpyxl's remarks on the file's content
                    reader.read()
                sheet = reader.first_sheet()
                if sheet is None:
                    raise FileProblem(1, "file", f"{UNREADABLE}: it has no worksheet")
                source = archive.open(sheet)
            except FileProblem:
                raise
            except Exception as exc:  # the parser on an untrusted file
                raise unreadable(exc, 1) from None
            with source:
                yield SheetRows(source, reader, width)


def unreadable(exc: BaseException, line: int) -> FileProblem:
    cause = exc if isinstance(exc, DefusedXmlException) else exc.__cause__
    if isinstance(cause, DefusedXmlException):
        reason = "its XML declares entities (a spreadsheet never does): refused unread"
    else:
        reason = f"{UNREADABLE} ({shown(str(exc) or type(exc).__name__, 160)})"
    return FileProblem(line, "file", reason)


def _last_row(ref: str | None) -> int | None:
    try:
        return range_boundaries(ref)[3] if ref else None
    except (TypeError, ValueError):
        return None
