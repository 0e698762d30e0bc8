"""Files from outside are checked before they are parsed (README, "Files from outside").

The request judges an XLSX upload by its zip directory alone and a CSV upload by one pass over
its bytes; only the worker parses a workbook, through defusedxml, reading no part beyond what its
directory entry declares and dropping each string, cell and row once read. Every cap answers with
its reason (413 for sizes, 422 otherwise) and leaves nothing behind. Memory is measured with
tracemalloc; nothing here is timed.
"""

from __future__ import annotations

import io
import random
import re
import struct
import tracemalloc
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select

from tests.pages import csrf_of, sign_in, text_of
from tests.test_imports import HEADER, count, csv_bytes, result_row, run_job, upload
from tracker.catalogue.models import Procedure
from tracker.catalogue.operations import load_procedures_csv
from tracker.csvfile import FileProblem
from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.imports import files, xlsx
from tracker.imports.models import ImportFile, ImportJob
from tracker.imports.rows import Scope
from tracker.uploads import GuardedZipFile, ZipLimits, check_zip

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
TYPES = (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{TYPE}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{TYPE}.worksheet+xml"/>'
    "{strings}</Types>"
)
STRINGS_TYPE = (
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{TYPE}.sharedStrings+xml"/>'
)
BASE_PARTS = {
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ).encode(),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN_NS}" xmlns:r="{REL}">'
        '<sheets><sheet name="Kết quả" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ).encode(),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>"
    ).encode(),
}
# Each entity is ten of the one before: &lol9; is 10^9 times "lol", 3 GB of text.
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{("&lol%s;" % (n - 1 or "")) * 10}">' for n in range(1, 10))
    + "]>"
).encode()
ENTITIES = "its XML declares entities (a spreadsheet never does): refused unread"
OUTSIDE = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'


# Workbooks written part by part, streamed: a 100 MB part is never in memory whole ------------


def content_types(*, strings: bool, prolog: bytes = b'<?xml version="1.0"?>') -> bytes:
    return prolog + TYPES.format(strings=STRINGS_TYPE if strings else "").encode()


def write_xlsx(parts: dict, *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """An XLSX archive of BASE_PARTS and `parts` (bytes or an iterable of bytes; None: left out)."""
    types = content_types(strings=parts.get("xl/sharedStrings.xml") is not None)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in {"[Content_Types].xml": types, **BASE_PARTS, **parts}.items():
            if content is None:
                continue
            with archive.open(name, "w") as member:
                for piece in [content] if isinstance(content, bytes) else content:
                    member.write(piece)
    return buffer.getvalue()


def sheet(rows: Iterable[bytes], *, prolog: bytes = b"", dimension: str | None = None) -> bytes:
    head = prolog + f'<worksheet xmlns="{MAIN_NS}">'.encode()
    if dimension:
        head += f'<dimension ref="{dimension}"/>'.encode()
    return b"".join([head, b"<sheetData>", *rows, b"</sheetData></worksheet>"])


def row(number: int, values: Iterable[str]) -> bytes:
    cells = "".join(
        f'<c r="{get_column_letter(column)}{number}" t="inlineStr"><is><t>{escape(value)}</t>'
        "</is></c>"
        for column, value in enumerate(values, start=1)
        if value
    )
    return f'<row r="{number}">{cells}</row>'.encode()


def results_sheet(count: int, *, header=HEADER, **options) -> bytes:
    rows = [row(1, header)]
    rows += [row(n + 1, [result_row(n)[name] for name in HEADER]) for n in range(1, count + 1)]
    return sheet(rows, **options)


def strings(pieces: Iterable[bytes], *, prolog: bytes = b"") -> Iterator[bytes]:
    yield prolog + f'<sst xmlns="{MAIN_NS}">'.encode()
    yield from pieces
    yield b"</sst>"


def repeated(piece: bytes, total: int) -> Iterator[bytes]:
    chunk = piece * (MiB // len(piece))
    for _ in range(total // len(chunk)):
        yield chunk


def patch_entry(content: bytes, name: str, *, file_size=None, flag_bits=None) -> bytes:
    """The archive with `name`'s central-directory entry saying something else."""
    data = bytearray(content)
    end = data.rfind(b"PK\x05\x06")
    entries, _size, at = struct.unpack_from("<HLL", data, end + 10)
    for _ in range(entries):
        name_length, extra_length, comment_length = struct.unpack_from("<3H", data, at + 28)
        if data[at + 46 : at + 46 + name_length].decode() == name:
            if file_size is not None:
                struct.pack_into("<L", data, at + 24, file_size)
            if flag_bits is not None:
                struct.pack_into("<H", data, at + 8, flag_bits)
            return bytes(data)
        at += 46 + name_length + extra_length + comment_length
    raise KeyError(name)


@pytest.fixture(scope="session")
def bomb() -> bytes:
    """The issue's file: a few hundred KB whose shared strings inflate to ~100 MB."""
    text = repeated(b"<si><t>Nguyen Van An, 12 Duong 30/4</t></si>", 100 * MiB)
    return write_xlsx(
        {"xl/worksheets/sheet1.xml": results_sheet(1), "xl/sharedStrings.xml": strings(text)}
    )


@pytest.fixture(scope="session")
def styles_bomb() -> bytes:
    """A part openpyxl reads whole (the styles), ~100 MB inflated."""
    styles = repeated(b"<numFmt/>", 100 * MiB)
    return write_xlsx({"xl/worksheets/sheet1.xml": results_sheet(1), "xl/styles.xml": styles})


@pytest.fixture
def officer(make_staff, catalogue):
    return make_staff("agency", agency=catalogue.agency)


def peak_bytes(action) -> tuple[object, int]:
    """What `action()` returned (or raised) and the most memory it held at once."""
    tracemalloc.start()
    try:
        try:
            result = action()
        except Exception as exc:  # the result of the action, looked at by the test
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refused(response, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == ("payload_too_large" if status == 413 else "validation_failed")
    [message] = error["fields"]["file"]
    for fragment in fragments:
        assert fragment in message
    assert count(ImportJob) == 0 and count(ImportFile) == 0 and count(Dossier) == 0
    return message


# The request: an XLSX is judged by its zip directory, nothing inflated ----------------------


def test_the_issues_bomb_is_refused_from_its_directory_in_flat_memory(
    client, clerk, bomb, monkeypatch
):
    """Defence: the zip directory is read instead of the parts (UPLOAD_MAX_MEMBER_BYTES)."""
    assert len(bomb) < 400_000

    def never(*args, **kwargs):
        raise AssertionError("the request opened a part of the archive")

    monkeypatch.setattr(zipfile.ZipFile, "open", never)  # no part inflated, no parser fed
    response, peak = peak_bytes(lambda: upload(client, clerk, bomb, "ket-qua.xlsx"))

    refused(
        response,
        413,
        "part xl/sharedStrings.xml unpacks to 100 MiB, more than 64 MiB (UPLOAD_MAX_MEMBER_BYTES)",
    )
    assert peak < 5 * MiB
    _, check_peak = peak_bytes(lambda: check_zip(io.BytesIO(bomb), ZipLimits(1000, MiB, MiB, 100)))
    assert check_peak < 512 * 1024


def test_a_part_compressed_far_beyond_a_spreadsheet_is_refused_by_its_ratio(client, make_staff):
    """Defence: UPLOAD_MAX_RATIO, for a part within the size caps."""
    text = strings(repeated(b"<si><t>x</t></si>", 8 * MiB))
    content = write_xlsx(
        {"xl/worksheets/sheet1.xml": results_sheet(1), "xl/sharedStrings.xml": text}
    )

    refused(
        upload(client, make_staff("admin"), content, "ket-qua.xlsx"),
        422,
        "part xl/sharedStrings.xml unpacks to",
        "times its compressed size, more than 100 (UPLOAD_MAX_RATIO)",
    )


def test_parts_unpacking_to_more_than_the_total_are_413(app, client, officer, monkeypatch):
    """Defence: UPLOAD_MAX_UNCOMPRESSED_BYTES, parts each within UPLOAD_MAX_MEMBER_BYTES."""
    monkeypatch.setitem(app.config, "UPLOAD_MAX_UNCOMPRESSED_BYTES", 256 * 1024)
    monkeypatch.setitem(app.config, "UPLOAD_MAX_MEMBER_BYTES", 200 * 1024)
    noise = random.Random(7)
    media = {f"xl/media/image{n}.png": noise.randbytes(150 * 1024) for n in (1, 2)}
    content = write_xlsx({"xl/worksheets/sheet1.xml": results_sheet(1), **media})

    refused(
        upload(client, officer, content, "ket-qua.xlsx"),
        413,
        "the archive unpacks to more than 256 KiB (UPLOAD_MAX_UNCOMPRESSED_BYTES)",
    )


def test_too_many_parts_are_refused_before_the_directory_is_read(app, client, officer, monkeypatch):
    """Defence: UPLOAD_MAX_MEMBERS, counted from the end record: zipfile would build an object
    per entry of a directory as long as the upload."""
    monkeypatch.setitem(app.config, "UPLOAD_MAX_MEMBERS", 20)
    extra = {f"xl/printerSettings/p{n}.bin": b"" for n in range(20)}
    content = write_xlsx({"xl/worksheets/sheet1.xml": results_sheet(1), **extra})
    refused(upload(client, officer, content, "ket-qua.xlsx"), 422, "more than 20 parts")

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(30_000):
            archive.writestr(f"{n}", b"")
    many = buffer.getvalue()
    error, peak = peak_bytes(lambda: check_zip(io.BytesIO(many), ZipLimits(1000, MiB, MiB, 100)))
    assert "more than 1000 parts in the archive (UPLOAD_MAX_MEMBERS)" in error.reason
    assert peak < 512 * 1024


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04" + b"\x00" * 4000, "not a readable Excel workbook (not a zip archive)"),
        (write_xlsx({"[Content_Types].xml": None}), "a zip archive, not an Excel workbook"),
        (
            write_xlsx(
                {"xl/worksheets/sheet1.xml": results_sheet(1)}, compression=zipfile.ZIP_BZIP2
            ),
            "is compressed with method 12",
        ),
        (
            patch_entry(write_xlsx({}), "xl/workbook.xml", flag_bits=0x1),
            "part xl/workbook.xml is encrypted",
        ),
    ],
    ids=["not-a-zip", "not-a-workbook", "bzip2", "encrypted"],
)
def test_archives_no_spreadsheet_writes_are_422(client, officer, content, message):
    """Defence: only deflate (bounded per call) or stored parts; a workbook's first part."""
    refused(upload(client, officer, content, "ket-qua.xlsx"), 422, message)


# The worker: no part yields more than its entry declares ------------------------------------


@pytest.mark.parametrize(
    ("bomb_name", "part"),
    [("styles_bomb", "xl/styles.xml"), ("bomb", "xl/sharedStrings.xml")],
    ids=["read-whole", "streamed"],
)
def test_a_part_whose_entry_understates_it_fails_the_job_in_flat_memory(
    request, client, officer, catalogue, bomb_name, part
):
    """Defence: the guarded read (GuardedZipFile), for an entry that lies past every cap: a
    plain `ZipFile.read` of the lying styles inflates all 100 MB at once (210 MiB measured)."""
    lying = patch_entry(request.getfixturevalue(bomb_name), part, file_size=4096)
    response = upload(client, officer, lying, "ket-qua.xlsx")
    assert response.status_code == 202, response.get_json()  # 4 KiB, as far as it says

    job, peak = peak_bytes(lambda: run_job(response.get_json()["id"]))

    assert job.state == "failed"
    assert (
        job.message == f"line 1: file: not a readable Excel workbook (Bad CRC-32 for file '{part}')"
    )
    assert count(Dossier) == 0 and peak < 5 * MiB
    limits = ZipLimits(1000, 64 * MiB, 128 * MiB, 100)
    with GuardedZipFile(io.BytesIO(lying), limits) as archive:
        error, peak = peak_bytes(lambda: archive.read(part))
    assert isinstance(error, zipfile.BadZipFile) and peak < 5 * MiB


def test_the_worker_checks_the_directory_again(app, client, officer, catalogue, monkeypatch):
    """Defence: a job stored before a cap was lowered (or before caps existed) meets it."""
    content = write_xlsx({"xl/worksheets/sheet1.xml": results_sheet(2)})
    job_id = upload(client, officer, content, "ket-qua.xlsx").get_json()["id"]
    monkeypatch.setitem(app.config, "UPLOAD_MAX_MEMBERS", 3)

    job = run_job(job_id)

    assert job.state == "failed" and "more than 3 parts" in job.message
    assert count(Dossier) == 0


# The worker: XML through defusedxml ----------------------------------------------------------


def test_openpyxl_parses_xml_through_defusedxml():
    """Defence: openpyxl picks defusedxml up when it is installed (requirements.txt)."""
    from openpyxl.xml import functions

    assert openpyxl.xml.DEFUSEDXML is True
    assert functions.iterparse.__module__.startswith("defusedxml")
    assert functions.fromstring.__module__.startswith("defusedxml")


def test_no_other_xml_parser_is_imported():
    """Defence: XML is parsed through defusedxml (and openpyxl's use of it) only."""
    # xml.sax.saxutils only escapes text.
    direct = re.compile(
        r"^\s*(from|import)\s+(xml\.(etree|dom|parsers)|xml\.sax(?!\.saxutils)|lxml|pyexpat)\b",
        re.M,
    )
    sources = [*(ROOT / "tracker").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]
    assert [path for path in sources if direct.search(path.read_text("utf-8"))] == []


def one_cell(text: bytes) -> list[bytes]:
    return [row(1, HEADER), b'<row r="2"><c t="inlineStr"><is><t>' + text + b"</t></is></c></row>"]


@pytest.mark.parametrize(
    "parts",
    [
        {"xl/sharedStrings.xml": list(strings([b"<si><t>&lol9;</t></si>"], prolog=LAUGHS))},
        {"xl/worksheets/sheet1.xml": sheet(one_cell(b"&lol9;"), prolog=LAUGHS)},
        {"xl/worksheets/sheet1.xml": sheet(one_cell(b"&secret;"), prolog=OUTSIDE)},
        {"[Content_Types].xml": content_types(strings=False, prolog=LAUGHS)},
    ],
    ids=["laughs-in-strings", "laughs-in-sheet", "external-entity", "laughs-in-content-types"],
)
def test_xml_entities_fail_the_job_unexpanded(client, officer, catalogue, parts):
    """Defence: defusedxml refuses an entity declaration before anything expands (openpyxl's
    parse of the content types, the streamed strings and sheet alike)."""
    parts = {"xl/worksheets/sheet1.xml": results_sheet(2), **parts}
    if isinstance(parts.get("xl/sharedStrings.xml"), list):
        parts["xl/sharedStrings.xml"] = b"".join(parts["xl/sharedStrings.xml"])
    response = upload(client, officer, write_xlsx(parts), "ket-qua.xlsx")
    assert response.status_code == 202, response.get_json()

    job, peak = peak_bytes(lambda: run_job(response.get_json()["id"]))

    assert (job.state, job.message) == ("failed", f"line 1: file: {ENTITIES}")
    assert count(Dossier) == 0 and peak < 5 * MiB


# The worker: bounded rows, cells and strings ------------------------------------------------


def test_a_normal_workbook_reads_as_openpyxl_reads_it(tmp_path):
    """The streamed reading gives openpyxl's values: dates by style, numbers, booleans, text."""
    workbook = openpyxl.Workbook()
    sheet_ = workbook.active
    sheet_.append(["text", "int", "float", "date", "bool", "formula"])
    sheet_.append(
        [
            "Lê Thị Lan",
            912345678,
            15000.5,
            openpyxl.utils.datetime.from_excel(45000.375),
            True,
            "=1+1",
        ]
    )
    sheet_.append([])
    sheet_["C5"] = "far"
    sheet_.append(["x" * 10, None, -3])
    path = tmp_path / "book.xlsx"
    workbook.save(path)
    expected = [
        [value for value in values]
        for values in openpyxl.load_workbook(path, read_only=True, data_only=True).active.iter_rows(
            values_only=True
        )
    ]
    with xlsx.open_first_sheet(path, ZipLimits(1000, MiB, MiB, 100), 100) as rows:
        got = {number: values for number, values, _ in rows}
    for number, values in enumerate(expected, start=1):
        trimmed = list(values)
        while trimmed and trimmed[-1] is None:
            trimmed.pop()
        assert got.get(number, []) == trimmed


def test_shared_strings_rich_text_reads_as_openpyxl_reads_it(tmp_path):
    runs = (
        b"<si><r><rPr><b/></rPr><t>Nguy\xc3\xaan </t></r><r><t>V\xc4\x83n An</t></r>"
        b"<rPh sb='0' eb='1'><t>phonetic</t></rPh></si>"
    )
    content = write_xlsx(
        {
            "xl/sharedStrings.xml": strings([b"<si><t>agency_reference</t></si>", runs]),
            "xl/worksheets/sheet1.xml": sheet(
                [
                    b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>',
                    b'<row r="2"><c r="A2" t="s"><v>1</v></c></row>',
                ]
            ),
        }
    )
    path = tmp_path / "book.xlsx"
    path.write_bytes(content)
    with xlsx.open_first_sheet(path, ZipLimits(1000, MiB, MiB, 100), 100) as rows:
        assert [values for _, values, _ in rows] == [["agency_reference"], ["Nguyên Văn An"]]
    assert [list(r) for r in openpyxl.load_workbook(path, read_only=True).active.values] == [
        ["agency_reference"],
        ["Nguyên Văn An"],
    ]


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (
            {
                "xl/worksheets/sheet1.xml": sheet(
                    [row(1, HEADER), b'<row r="2">' + b"<c><v>1</v></c>" * 200_000 + b"</row>"]
                )
            },
            "line 2: file: more than 16384 cells in one row",
        ),
        (
            {
                "xl/worksheets/sheet1.xml": sheet(
                    [
                        row(1, HEADER),
                        b'<row r="2"><c t="inlineStr"><is>'
                        + b"<r><t>a</t></r>" * 20_000
                        + b"</is></c></row>",
                    ]
                )
            },
            "line 2: file: more than 10000 XML elements in one row: not what a spreadsheet"
            " program writes",
        ),
        (
            {
                "xl/worksheets/sheet1.xml": results_sheet(1),
                "xl/sharedStrings.xml": b"".join(
                    strings([b"<si>" + b"<r><t>a</t></r>" * 20_000 + b"</si>"])
                ),
            },
            "line 1: file: more than 10000 XML elements in one shared string: not what a"
            " spreadsheet program writes",
        ),
    ],
    ids=["wide-row", "deep-cell", "deep-string"],
)
def test_a_row_cell_or_string_past_its_bound_fails_the_job_in_flat_memory(
    app, client, officer, catalogue, monkeypatch, parts, message
):
    """Defence: the streamed reading drops each cell and row once read and bounds the XML
    held at once; openpyxl's own loop held the whole row (+430 MB for a 15 MB row)."""
    monkeypatch.setitem(app.config, "UPLOAD_MAX_RATIO", 10_000)  # let it through to the worker
    response = upload(client, officer, write_xlsx(parts), "ket-qua.xlsx")
    assert response.status_code == 202, response.get_json()

    job, peak = peak_bytes(lambda: run_job(response.get_json()["id"]))

    assert (job.state, job.message) == ("failed", message)
    assert count(Dossier) == 0 and peak < 5 * MiB


def test_rows_past_the_cap_fail_the_job_and_the_sheets_own_count_fails_it_first(
    app, client, officer, catalogue, monkeypatch
):
    """Defence: IMPORT_MAX_ROWS on an XLSX, by row number (a jump to row 10^9 reads nothing
    in between), and up front from the sheet's dimension: nothing imported."""
    monkeypatch.setitem(app.config, "IMPORT_MAX_ROWS", 3)
    jump = [
        row(1, HEADER),
        row(2, [result_row(1)[name] for name in HEADER]),
        b'<row r="999999999"/>',
    ]
    counted = write_xlsx({"xl/worksheets/sheet1.xml": results_sheet(5, dimension="A1:J6")})
    answers = [
        upload(client, officer, write_xlsx({"xl/worksheets/sheet1.xml": sheet(jump)}), "a.xlsx"),
        upload(client, officer, counted, "b.xlsx"),
    ]

    jumped, too_many = (run_job(answer.get_json()["id"]) for answer in answers)

    cap = "file: more than 3 rows after the header (IMPORT_MAX_ROWS): split the file"
    assert (jumped.message, too_many.message) == (f"line 999999999: {cap}", f"line 1: {cap}")
    assert jumped.state == too_many.state == "failed" and count(Dossier) == 0


def test_an_xlsx_header_past_the_column_cap_fails_the_job(
    app, client, officer, catalogue, monkeypatch
):
    """Defence: IMPORT_MAX_COLUMNS on the header (cells past the header's are never read)."""
    monkeypatch.setitem(app.config, "IMPORT_MAX_COLUMNS", 12)
    content = write_xlsx(
        {"xl/worksheets/sheet1.xml": results_sheet(1, header=(*HEADER, "stt", "x", "y"))}
    )

    job = run_job(upload(client, officer, content, "ket-qua.xlsx").get_json()["id"])

    assert (job.state, job.message) == (
        "failed",
        "line 1: file: more than 12 columns in the header (IMPORT_MAX_COLUMNS)",
    )


# CSV: lines, records, header and rows --------------------------------------------------------


def test_a_csv_line_of_10_mb_is_refused_on_upload_in_flat_memory(app, officer, tmp_path):
    """Defence: the upload's one pass refuses a line over 256 KiB (csv would build it whole)."""
    path = tmp_path / "long.csv"
    path.write_bytes(csv_bytes([result_row(1)]) + b"x" * (10 * MiB) + b"\n")
    limits = files.ReadLimits.from_config(app.config)

    def check():
        with path.open("rb") as stream:
            return files.store_file(None, stream, Scope(), limits, None, store=False)

    error, peak = peak_bytes(check)

    assert isinstance(error, FileProblem)
    assert str(error.error) == "line 3: file: a line longer than 256 KiB: not a list of results"
    assert peak < 5 * MiB


def test_a_csv_header_of_100_000_columns_is_422(client, officer):
    """Defence: IMPORT_MAX_COLUMNS on the header, read from its one line."""
    content = csv_bytes([result_row(1)], header=(*HEADER, *["x"] * 100_000))
    refused(
        upload(client, officer, content),
        422,
        "line 1: file: 100010 columns in the header, more than 100 (IMPORT_MAX_COLUMNS)",
    )


def test_csv_rows_past_the_cap_are_422_on_upload_and_in_the_command(
    app, client, officer, catalogue, monkeypatch, tmp_path
):
    """Defence: IMPORT_MAX_ROWS, counted in the upload's pass; the command line meets it too."""
    monkeypatch.setitem(app.config, "IMPORT_MAX_ROWS", 3)
    content = csv_bytes([result_row(n) for n in range(1, 5)])
    message = "line 5: file: more than 3 rows after the header (IMPORT_MAX_ROWS): split the file"
    refused(upload(client, officer, content), 422, message)

    path = tmp_path / "ket-qua.csv"
    path.write_bytes(content)
    result = app.test_cli_runner().invoke(args=["import", "dossiers", str(path)])
    assert result.exit_code == 1 and message in result.output
    assert count(ImportJob) == 0


def test_a_csv_record_spanning_many_short_lines_fails_the_job_in_flat_memory(
    client, officer, catalogue
):
    """Defence: the worker's bounded lines: a record may span lines (quoted cells), and csv
    builds it whole before the row cap or any check could see it."""
    # Each cell within the csv module's own limit (131,072), the row past 256 KiB.
    cells = {name: "x\n" * 50_000 for name in ("applicant_name", "delivery_address", "note")}
    content = csv_bytes([result_row(1, **cells), result_row(2)])
    response = upload(client, officer, content)
    assert response.status_code == 202, response.get_json()  # every line is short

    job, peak = peak_bytes(lambda: run_job(response.get_json()["id"]))

    assert (job.state, job.message) == (
        "failed",
        "line 2: file: a row longer than 256 KiB: not a list of results",
    )
    assert count(Dossier) == 0 and peak < 5 * MiB


# The catalogue's load: CSV only, in the request, bounded ------------------------------------


def test_the_catalogue_page_answers_an_oversized_file_beside_the_field(app, client, make_staff):
    """Defence: MAX_CONTENT_LENGTH, shown as the file field's error (413)."""
    staff = make_staff("admin")
    assert sign_in(client, staff.user.username).status_code == 302
    token = csrf_of(client.get("/admin/catalogue"))
    body = (
        f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        '--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\ncode,name\r\n{'x' * app.config['MAX_CONTENT_LENGTH']}"
        "\r\n--b--\r\n"
    ).encode()

    response = client.post(
        "/admin/catalogue/load", data=body, content_type="multipart/form-data; boundary=b"
    )

    assert response.status_code == 413
    html = response.get_data(as_text=True)
    error = re.search(r'<ul class="field-errors" id="file-error">(.*?)</ul>', html, re.S)
    assert error and "Tệp quá lớn: tối đa 2 MiB" in error.group(1)
    assert db.session.scalar(select(func.count()).select_from(Procedure)) == 3


def test_a_catalogue_file_past_its_caps_loads_nothing(app, catalogue, monkeypatch):
    """Defence: rows (MAX_PROCEDURE_ROWS) counted before any row is loaded; the header's
    columns (MAX_HEADER_COLUMNS) before the header is looked at (it was quadratic)."""
    monkeypatch.setattr("tracker.catalogue.operations.MAX_PROCEDURE_ROWS", 3)
    header = "code,name,sector,agency,working_days,service_forms\n"
    rows = "".join(f"9.00000{n},Thủ tục {n},TP,000.00.01.H19,5,two_way\n" for n in range(4))

    too_many = load_procedures_csv(io.BytesIO((header + rows).encode()))
    wide = load_procedures_csv(io.BytesIO((header.strip() + ",c" * 300_000 + "\n" + rows).encode()))

    assert [str(e) for e in too_many.errors] == [
        "line 5: file: more than 3 rows after the header: split the file"
    ]
    assert [str(e) for e in wide.errors] == ["line 1: header: more than 100 columns in the header"]
    assert too_many.loaded == wide.loaded == 0
    assert db.session.scalar(select(func.count()).select_from(Procedure)) == 3


def test_the_catalogue_page_names_the_cap_in_vietnamese(client, make_staff, monkeypatch):
    monkeypatch.setattr("tracker.catalogue.operations.MAX_PROCEDURE_ROWS", 1)
    staff = make_staff("admin")
    assert sign_in(client, staff.user.username).status_code == 302
    text = (
        "code,name,sector,agency,working_days,service_forms\n"
        "9.1,A,TP,000.00.01.H19,5,two_way\n9.2,B,TP,000.00.01.H19,5,two_way\n"
    )
    token = csrf_of(client.get("/admin/catalogue"))
    response = client.post(
        "/admin/catalogue/load",
        data={"csrf_token": token, "file": (io.BytesIO(text.encode()), "p.csv", "text/csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "hơn 1 dòng sau tiêu đề: hãy chia tệp thành nhiều tệp nhỏ hơn" in text_of(response)
