"""Import files: checked and stored in parts when they arrive, read back row by row by the job.

CSV: UTF-8 with or without BOM, comma, semicolon or tab separated (guessed from the header line),
quoted cells may span lines, blank rows are skipped; line numbers are physical lines as a
spreadsheet user counts them (line 1 is the header), as in `tracker.csvfile`. XLSX: the first
sheet, the header on row 1, line = row number. Neither is ever held in memory whole.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import openpyxl
from sqlalchemy import insert

from tracker.csvfile import FileProblem, csv_row
from tracker.extensions import db
from tracker.imports import queries
from tracker.imports.models import ImportFile
from tracker.imports.rows import Scope, read_header

PART_BYTES = 1 << 20
_DELIMITERS = (",", ";", "\t")
_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SAVE_AS = 'save it as "CSV UTF-8" or as an Excel workbook (.xlsx)'
Records = Iterator[tuple[int, list[str]]]


class TooLarge(Exception):
    """The upload is over the size limit."""


@dataclass
class StoredFile:
    """What checking and storing the file found."""

    file_format: str
    size: int = 0
    sha256: str = ""
    # Lines after the header (CSV) or the sheet's last row - 1 (XLSX): an estimate until the job
    # has read them all (blank lines are not rows).
    total_rows: int | None = None
    ignored: list[str] = field(default_factory=list)


def store_file(
    job_id: int | None, stream: BinaryIO, scope: Scope, max_bytes: int | None, *, store: bool
) -> StoredFile:
    """Check `stream` (format, encoding, header) and, with `store`, keep it in parts for the job.

    Raises FileProblem when it cannot be imported and TooLarge past `max_bytes`.
    """
    head = stream.read(PART_BYTES)
    if not head:
        raise FileProblem(1, "file", "the file is empty")
    if head.startswith(_OLE_MAGIC):
        raise FileProblem(1, "file", f"an Excel 97-2003 (.xls) file: {_SAVE_AS}")
    if head.startswith(_UTF16_BOMS):
        raise FileProblem(1, "file", f"UTF-16 text: {_SAVE_AS}")
    scan = None
    if head.startswith(_XLSX_MAGIC):
        stored = StoredFile("xlsx")
        stored.total_rows, stored.ignored = _check_workbook(stream, scope)
        stream.seek(0)
        head = stream.read(PART_BYTES)
    else:
        stored, scan = StoredFile("csv"), _CsvScan(scope)
    digest = hashlib.sha256()
    for number, part in enumerate(_parts(head, stream)):
        stored.size += len(part.data)
        if max_bytes is not None and stored.size > max_bytes:
            raise TooLarge(f"the file is larger than {max_bytes} bytes")
        digest.update(part.data)
        if scan is not None:
            scan.feed(part.data, final=part.last)
        if store:
            _store_part(job_id, number, part.data)
    stored.sha256 = digest.hexdigest()
    if scan is not None:
        stored.total_rows, stored.ignored = scan.rows, scan.ignored
    return stored


@dataclass
class _Part:
    data: bytes
    last: bool


def _parts(head: bytes, stream: BinaryIO) -> Iterator[_Part]:
    part = head
    while part:
        following = stream.read(PART_BYTES)
        yield _Part(part, last=not following)
        part = following


def _store_part(job_id: int, number: int, part: bytes) -> None:
    # zlib level 1: a few milliseconds per MiB, and text shrinks about fourfold.
    db.session.execute(
        insert(ImportFile.__table__),
        {"job_id": job_id, "part": number, "content": zlib.compress(part, 1)},
    )


class _CsvScan:
    """One pass over the bytes as they are stored: UTF-8, no NUL, the header, a line count."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.lines = 0
        self.header: bytes | None = None
        self.has_rows = False
        self.ignored: list[str] = []
        self.rows = 0
        self.last = b""

    def feed(self, part: bytes, *, final: bool) -> None:
        if b"\x00" in part:
            line = self.lines + part[: part.index(b"\x00")].count(b"\n") + 1
            raise FileProblem(line, "file", f"binary data, not CSV text: {_SAVE_AS}")
        try:
            self.decoder.decode(part, final)
        except UnicodeDecodeError as exc:
            line = self.lines + part[: max(exc.start, 0)].count(b"\n") + 1
            raise FileProblem(line, "file", f"not UTF-8 text: {_SAVE_AS}") from None
        rest = part
        if self.header is None:
            end = part.find(b"\n")
            if end < 0 and not final:
                raise FileProblem(1, "file", "the header line is too long")
            self.header, rest = (part, b"") if end < 0 else (part[:end], part[end + 1 :])
            self._check_header()
        self.has_rows = self.has_rows or bool(rest.translate(None, b" \t\r\n,;"))
        self.lines += part.count(b"\n")
        self.last = part[-1:] or self.last
        if final:
            self._finish()

    def _check_header(self) -> None:
        text = self.header.decode("utf-8-sig").rstrip("\r")
        delimiter = max(_DELIMITERS, key=text.count)
        cells = next(csv.reader([text], delimiter=delimiter), [])
        _, self.ignored = read_header(cells, self.scope)

    def _finish(self) -> None:
        if not self.has_rows:
            raise FileProblem(2, "file", "no rows after the header")
        physical = self.lines + (self.last != b"\n")
        self.rows = physical - 1


def _check_workbook(stream: BinaryIO, scope: Scope) -> tuple[int | None, list[str]]:
    stream.seek(0)
    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception:  # any failure of the parser on an untrusted file means the same
        raise FileProblem(1, "file", f"not a readable Excel workbook: {_SAVE_AS}") from None
    try:
        sheet = workbook.worksheets[0]
        header = next(sheet.iter_rows(max_row=1, values_only=True), None)
        if not header or not any(cell is not None for cell in header):
            raise FileProblem(1, "file", "the first sheet has no header on row 1")
        _, ignored = read_header([cell_text(cell) for cell in header], scope)
        last = sheet.max_row
        if last is not None and last < 2:
            raise FileProblem(2, "file", "no rows after the header")
        return (last - 1 if last else None), ignored
    finally:
        workbook.close()


@contextmanager
def local_copy(job_id: int, file_format: str, path: Path | None = None) -> Iterator[Path]:
    """A local file with the job's bytes: `path` when the caller has one (the command line),
    else a temporary copy written from the stored parts, one part at a time."""
    if path is not None:
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix=f"import-{job_id}-", suffix=f".{file_format}") as tmp:
        for content in queries.file_parts(job_id):
            tmp.write(zlib.decompress(content))
        tmp.flush()
        yield Path(tmp.name)


@contextmanager
def open_records(path: Path, file_format: str) -> Iterator[tuple[list[str], Records]]:
    """(header cells, (line, cells) per non-blank row), streamed from `path`."""
    if file_format == "xlsx":
        try:
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception:  # checked on upload; a file that fails now fails the job
            raise FileProblem(1, "file", "not a readable Excel workbook") from None
        try:
            rows = workbook.worksheets[0].iter_rows(values_only=True)
            header = [cell_text(cell) for cell in next(rows, ())]
            yield header, _xlsx_records(rows)
        finally:
            workbook.close()
        return
    with open(path, "rb") as raw:
        handle = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        first = handle.readline()
        handle.seek(0)
        reader = csv.reader(handle, delimiter=max(_DELIMITERS, key=first.count))
        header = next(reader, [])
        yield header, _csv_records(reader)


def _csv_records(reader) -> Records:
    start = reader.line_num + 1
    try:
        for cells in reader:
            if any(cells) and any(cell.strip() for cell in cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FileProblem(reader.line_num, "file", f"not readable as CSV ({exc})") from None
    except UnicodeDecodeError:
        raise FileProblem(start, "file", f"not UTF-8 text: {_SAVE_AS}") from None


def _xlsx_records(rows) -> Records:
    for line, values in enumerate(rows, start=2):
        cells = [cell_text(value) for value in values]
        if any(cells):
            yield line, cells


def cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV export would hold (dates in ISO 8601)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def errors_csv(errors: Iterable[tuple[int, str, str]], *, header: bool = True) -> Iterator[str]:
    """(line, field, message) rows as CSV text in pieces; the header starts with a BOM so that
    Excel reads the Vietnamese text as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        buffer.write("\ufeff")
        writer.writerow(("line", "field", "message"))
    for count, row in enumerate(errors, start=1):
        # Messages quote the file's values: none may come back as a spreadsheet formula.
        writer.writerow(csv_row(row))
        if count % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
