"""Import files: checked and stored in parts when they arrive, read back row by row by the job.

CSV: UTF-8 with or without BOM, comma, semicolon or tab separated (guessed from the header line),
quoted cells may span lines, blank rows are skipped; line numbers are physical lines as a
spreadsheet user counts them (line 1 is the header), as in `tracker.csvfile`. XLSX: the first
sheet, the header on row 1, line = row number. Neither is ever held in memory whole.

What the upload may cost is checked here before anything parses it (README, "Files from
outside"): bytes (IMPORT_MAX_BYTES); for CSV, in the same pass as storing, the longest line,
the header's columns and the number of lines; for XLSX, the zip directory alone
(`tracker.uploads.check_zip`), no byte inflated. Only the worker parses a workbook
(`tracker.imports.xlsx`); it enforces the same caps again as it reads.
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

from sqlalchemy import insert

from tracker.csvfile import FileProblem, csv_row
from tracker.extensions import db
from tracker.imports import queries, xlsx
from tracker.imports.models import ImportFile
from tracker.imports.rows import Scope, read_header
from tracker.uploads import FileRefused, FileTooLarge, NotAZip, ZipLimits, check_zip, format_bytes

PART_BYTES = 1 << 20
DECODE_STEP = 64 << 10
_DELIMITERS = (",", ";", "\t")
_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SAVE_AS = 'save it as "CSV UTF-8" or as an Excel workbook (.xlsx)'
# A CSV row (a record, which may span lines) holds at most this many characters, and a line at
# most this many bytes: csv builds a whole record in memory before it hands it over. Twice the
# csv module's own limit on one cell (131,072), which a single long cell meets first.
MAX_ROW_CHARS = 256 * 1024
Records = Iterator[tuple[int, list[str]]]


@dataclass(frozen=True)
class ReadLimits:
    """Caps of one job's file: lines after the header, the header's columns, the archive."""

    rows: int
    columns: int
    zip: ZipLimits

    @classmethod
    def from_config(cls, config) -> ReadLimits:
        return cls(
            config["IMPORT_MAX_ROWS"], config["IMPORT_MAX_COLUMNS"], ZipLimits.from_config(config)
        )


@dataclass
class Opened:
    """A file open for the job: its header, its records, its rows as far as they are known."""

    header: list[str]
    records: Records
    total_rows: int | None = None


@dataclass
class StoredFile:
    """What checking and storing the file found."""

    file_format: str
    size: int = 0
    sha256: str = ""
    # Lines after the header (CSV): an estimate until the job has read them all (blank lines are
    # not rows). XLSX: unknown until the worker opens the sheet.
    total_rows: int | None = None
    ignored: list[str] = field(default_factory=list)


def store_file(
    job_id: int | None,
    stream: BinaryIO,
    scope: Scope,
    limits: ReadLimits,
    max_bytes: int | None,
    *,
    store: bool,
) -> StoredFile:
    """Check `stream` and, with `store`, keep it in parts for the job. Nothing here parses a
    workbook: an XLSX file is judged by its zip directory, a CSV file by one pass over its bytes
    (UTF-8, no NUL, line lengths, the header, the line count).

    Raises FileProblem when it cannot be imported, FileRefused / FileTooLarge past a cap.
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
        check_workbook_archive(stream, limits.zip)
        stream.seek(0)
        head = stream.read(PART_BYTES)
    else:
        stored, scan = StoredFile("csv"), _CsvScan(scope, limits)
    digest = hashlib.sha256()
    for number, part in enumerate(_parts(head, stream)):
        stored.size += len(part.data)
        if max_bytes is not None and stored.size > max_bytes:
            raise FileTooLarge(
                f"the file is larger than {format_bytes(max_bytes)} (IMPORT_MAX_BYTES)"
            )
        digest.update(part.data)
        if scan is not None:
            scan.feed(part.data, final=part.last)
        if store:
            _store_part(job_id, number, part.data)
    stored.sha256 = digest.hexdigest()
    if scan is not None:
        stored.total_rows, stored.ignored = scan.rows, scan.ignored
    return stored


def check_workbook_archive(stream: BinaryIO, limits: ZipLimits) -> None:
    """The zip directory of an XLSX file, within the caps and with a workbook's first part."""
    try:
        entries = check_zip(stream, limits)
    except NotAZip:
        raise FileRefused(
            f"not a readable Excel workbook (not a zip archive): {_SAVE_AS}"
        ) from None
    if not any(entry.filename == "[Content_Types].xml" for entry in entries):
        raise FileRefused(f"a zip archive, not an Excel workbook: {_SAVE_AS}")


def too_many_rows(limit: int) -> str:
    return f"more than {limit} rows after the header (IMPORT_MAX_ROWS): split the file"


def _check_width(cells: list, limit: int) -> None:
    """The header's columns, up to its last named one (Excel pads a CSV with empty cells)."""
    width = next((i + 1 for i in range(len(cells) - 1, -1, -1) if str(cells[i]).strip()), 0)
    if width > limit:
        raise FileProblem(
            1, "file", f"{width} columns in the header, more than {limit} (IMPORT_MAX_COLUMNS)"
        )


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
    """One pass over the bytes as they are stored: UTF-8, no NUL, no line longer than
    MAX_ROW_CHARS bytes, the header (csv reads that line alone), a line count."""

    def __init__(self, scope: Scope, limits: ReadLimits) -> None:
        self.scope = scope
        self.limits = limits
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.lines = 0
        self.run = 0  # bytes of the line still open at the end of the last part
        self.header: bytes | None = None
        self.has_rows = False
        self.ignored: list[str] = []
        self.rows = 0
        self.last = b""

    def feed(self, part: bytes, *, final: bool) -> None:
        if b"\x00" in part:
            line = self.lines + part[: part.index(b"\x00")].count(b"\n") + 1
            raise FileProblem(line, "file", f"binary data, not CSV text: {_SAVE_AS}")
        self._check_utf8(part, final)
        self._check_lines(part)
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

    def _check_utf8(self, part: bytes, final: bool) -> None:
        # In slices: the decoder's text is thrown away, and a whole part's would weigh 1-4 MiB.
        for offset in range(0, len(part), DECODE_STEP):
            last = final and offset + DECODE_STEP >= len(part)
            try:
                self.decoder.decode(part[offset : offset + DECODE_STEP], last)
            except UnicodeDecodeError as exc:
                line = self.lines + part[: offset + max(exc.start, 0)].count(b"\n") + 1
                raise FileProblem(line, "file", f"not UTF-8 text: {_SAVE_AS}") from None

    def _check_lines(self, part: bytes) -> None:
        start, line = 0, self.lines + 1
        while (end := part.find(b"\n", start)) >= 0:
            if self.run + end - start > MAX_ROW_CHARS:
                break
            start, line, self.run = end + 1, line + 1, 0
        else:
            self.run += len(part) - start
            if self.run <= MAX_ROW_CHARS:
                return
        limit = format_bytes(MAX_ROW_CHARS)
        raise FileProblem(line, "file", f"a line longer than {limit}: not a list of results")

    def _check_header(self) -> None:
        text = self.header.decode("utf-8-sig").rstrip("\r")
        delimiter = max(_DELIMITERS, key=text.count)
        cells = next(csv.reader([text], delimiter=delimiter), [])
        _check_width(cells, self.limits.columns)
        _, self.ignored = read_header(cells, self.scope)

    def _finish(self) -> None:
        if not self.has_rows:
            raise FileProblem(2, "file", "no rows after the header")
        physical = self.lines + (self.last != b"\n")
        self.rows = physical - 1
        if self.rows > self.limits.rows:
            raise FileProblem(self.limits.rows + 2, "file", too_many_rows(self.limits.rows))


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
def open_records(path: Path, file_format: str, limits: ReadLimits) -> Iterator[Opened]:
    """The header and the (line, cells) of every non-blank row, streamed from `path`. Raises
    FileProblem, now or while the records are read, for a file past a cap or unreadable."""
    if file_format == "xlsx":
        with xlsx.open_first_sheet(path, limits.zip, limits.columns) as sheet:
            rows = iter(sheet)
            header = _xlsx_header(next(rows, None), limits.columns)
            total = sheet.last_row - 1 if sheet.last_row else None
            if total is not None and total > limits.rows:  # what the sheet says of itself
                raise FileProblem(1, "file", too_many_rows(limits.rows))
            yield Opened(header, _xlsx_records(rows, limits.rows), total)
        return
    with open(path, "rb") as raw:
        handle = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        first = handle.readline(MAX_ROW_CHARS + 1)
        handle.seek(0)
        lines = _BoundedLines(handle)
        reader = csv.reader(lines, delimiter=max(_DELIMITERS, key=first.count))
        header = _csv_header(reader, lines)
        _check_width(header, limits.columns)
        yield Opened(header, _csv_records(reader, lines, limits.rows))


class _BoundedLines:
    """The lines csv.reader reads, refusing a record (which may span lines) longer than
    MAX_ROW_CHARS: csv builds a whole record in memory before handing it over."""

    def __init__(self, handle: io.TextIOBase) -> None:
        self.handle = handle
        self.room = MAX_ROW_CHARS
        self.start = 1

    def __iter__(self) -> Iterator[str]:
        readline = self.handle.readline
        while line := readline(self.room + 1):
            self.room -= len(line)
            if self.room < 0:
                limit = format_bytes(MAX_ROW_CHARS)
                raise FileProblem(
                    self.start, "file", f"a row longer than {limit}: not a list of results"
                )
            yield line

    def next_record(self, start: int) -> None:
        self.room, self.start = MAX_ROW_CHARS, start


def _csv_header(reader, lines: _BoundedLines) -> list[str]:
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise FileProblem(1, "file", f"not readable as CSV ({exc})") from None
    except UnicodeDecodeError:
        raise FileProblem(1, "file", f"not UTF-8 text: {_SAVE_AS}") from None
    lines.next_record(reader.line_num + 1)
    return header


def _csv_records(reader, lines: _BoundedLines, max_rows: int) -> Records:
    start = reader.line_num + 1
    try:
        for cells in reader:
            if start > max_rows + 1:
                raise FileProblem(start, "file", too_many_rows(max_rows))
            if any(cells) and any(cell.strip() for cell in cells):
                yield start, cells
            start = reader.line_num + 1
            lines.next_record(start)
    except csv.Error as exc:
        raise FileProblem(reader.line_num, "file", f"not readable as CSV ({exc})") from None
    except UnicodeDecodeError:
        raise FileProblem(start, "file", f"not UTF-8 text: {_SAVE_AS}") from None


def _xlsx_header(first: xlsx.Row | None, max_columns: int) -> list[str]:
    if first is None or first[0] != 1 or not any(cell_text(v) for v in first[1]):
        raise FileProblem(1, "file", "the first sheet has no header on row 1")
    _, values, beyond = first
    if beyond:
        raise FileProblem(
            1, "file", f"more than {max_columns} columns in the header (IMPORT_MAX_COLUMNS)"
        )
    return [cell_text(value) for value in values]


def _xlsx_records(rows: Iterator[xlsx.Row], max_rows: int) -> Records:
    found = False
    for line, values, _beyond in rows:  # a value past the header's columns is not read
        if line > max_rows + 1:
            raise FileProblem(line, "file", too_many_rows(max_rows))
        cells = [cell_text(value) for value in values]
        if any(cells):
            found = True
            yield line, cells
    if not found:
        raise FileProblem(2, "file", "no rows after the header")


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
