"""A procedure's required documents: the text syntax, the CSV column, the migration, the admin
edit page, the API, and the intake form that starts with the checklist."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from tests.conftest import make_app
from tests.pages import csrf_of, post_form, sign_in, text_of
from tracker.audit.models import AuditEntry
from tracker.catalogue.documents import (
    KIND_WORDS,
    MAX_NAME,
    ChecklistInvalid,
    Problem,
    format_documents,
    parse_documents,
)
from tracker.catalogue.models import Procedure
from tracker.catalogue.operations import load_demo_catalogue, load_procedures_csv
from tracker.dossiers.models import DOCUMENT_KINDS, Dossier
from tracker.extensions import db

HEADER = "code,name,sector,agency,working_days,service_forms,fee_vnd,documents\n"
CHECKLIST = [
    {"name": "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp", "kind": "original", "count": 1},
    {"name": "Căn cước công dân", "kind": "copy", "count": 1},
    {"name": "Ảnh 4x6 cm", "kind": "certified_copy", "count": 2},
]


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ChecklistInvalid) as caught:
        parse_documents(text)
    return caught.value.problems


def procedure(code: str) -> Procedure:
    db.session.expire_all()
    return db.session.scalar(select(Procedure).where(Procedure.code == code))


# The syntax ---------------------------------------------------------------------------------


def test_names_kinds_and_counts_are_read_in_order():
    text = (
        "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp (bản chính);  Căn cước công dân (Bản sao)\n"
        "Ảnh   4x6 cm x2 (ban sao co chung thuc);;\n\n"
    )
    assert parse_documents(text) == CHECKLIST
    assert parse_documents("") == [] and parse_documents(" ; \n ") == []
    read = parse_documents(
        "A (sao y bản chính) 02 bản; B \u00d73; C (copy); D (certified_copy) x 99; "
        "Giấy xác nhận (nếu có); Sổ (bản sao) (bản chính)"
    )
    assert read == [
        {"name": "A", "kind": "certified_copy", "count": 2},
        {"name": "B", "kind": "original", "count": 3},
        {"name": "C", "kind": "copy", "count": 1},
        {"name": "D", "kind": "certified_copy", "count": 99},
        # Brackets that hold no kind belong to the name; only the last brackets are the kind.
        {"name": "Giấy xác nhận (nếu có)", "kind": "original", "count": 1},
        {"name": "Sổ (bản sao)", "kind": "original", "count": 1},
    ]
    # Decomposed accents (pasted from some Windows tools) are stored composed.
    assert parse_documents("To\u031b\u0300 khai")[0]["name"] == "Tờ khai"


def test_every_bad_document_is_reported_with_its_position():
    text = "(bản sao); CCCD x0; Tờ khai; tờ KHAI (bản chính); Ảnh x100; X x0000002; " + "a" * 301
    assert problems_of(text) == [
        Problem(1, "a document needs a name"),
        Problem(2, "the count must be between 1 and 99"),
        Problem(4, "this document is already in the list"),
        Problem(5, "the count must be between 1 and 99"),
        Problem(6, "the count must be between 1 and 99"),
        Problem(7, "too long"),
    ]
    assert problems_of(";".join(f"Giấy {n}" for n in range(51))) == [
        Problem(None, "at most 50 documents")
    ]
    # The same name as an original and as a copy is two documents, not a repeat.
    assert len(parse_documents("Giấy khai sinh (bản chính); Giấy khai sinh (bản sao)")) == 2
    assert parse_documents("a" * MAX_NAME)[0]["name"] == "a" * MAX_NAME
    # PostgreSQL cannot store a NUL in the dossier's document rows the checklist pre-fills.
    assert problems_of("Tờ khai; Ảnh\x00 x2") == [Problem(2, "must not contain NUL characters")]


def test_the_written_form_reads_back_the_same():
    documents = [
        *CHECKLIST,
        {"name": "Bản vẽ x2", "kind": "copy", "count": 1},
        {"name": "Giấy (bản sao)", "kind": "original", "count": 5},
    ]
    text = format_documents(documents)
    assert text.splitlines()[:3] == [
        "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp (bản chính)",
        "Căn cước công dân (bản sao)",
        "Ảnh 4x6 cm (bản sao có chứng thực) x2",
    ]
    assert parse_documents(text) == documents
    assert set(KIND_WORDS) == set(DOCUMENT_KINDS)


# The CSV column -----------------------------------------------------------------------------


def test_the_csv_column_loads_checklists_and_reports_bad_documents_by_line(app, catalogue):
    text = HEADER + (
        '1.001234,Cấp phiếu lý lịch tư pháp,TP,000.00.01.H19,10,two_way,,"'
        "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp (bản chính); Căn cước công dân (bản sao)\n"
        'Ảnh 4x6 cm (bản sao có chứng thực) x2"\n'  # lines 2-3: Alt+Enter inside the cell
        "1.009876,Cấp giấy phép xây dựng,TP,000.00.02.H19,15,two_way,,x3; Đơn x0; Bản vẽ\n"
        "1.004567,Cấp bản sao trích lục hộ tịch,TP,000.00.01.H19,3,return_only,,\n"
    )
    report = load_procedures_csv(io.StringIO(text))
    db.session.commit()

    assert [str(error) for error in report.errors] == [
        "line 4: documents[1]: a document needs a name",
        "line 4: documents[2]: the count must be between 1 and 99",
    ]
    assert (report.created, report.updated) == (0, 2)
    assert procedure("1.001234").documents == CHECKLIST
    assert procedure("1.009876").documents == []  # the bad line changed nothing
    assert procedure("1.004567").documents == []
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_key == "1.001234").order_by(AuditEntry.id)
    ).all()[-1]
    assert entry.after["documents"] == CHECKLIST


def test_without_the_column_a_reload_keeps_the_checklist_and_an_empty_cell_clears_it(
    app, catalogue
):
    row = "1.001234;Cấp phiếu lý lịch tư pháp;TP;000.00.01.H19;10;two_way;"
    semicolons = HEADER.replace(",", ";") + row + ';"Tờ khai (bản chính); CCCD (bản sao) x2"\n'
    assert load_procedures_csv(io.BytesIO(("\ufeff" + semicolons).encode())).ok
    expected = [
        {"name": "Tờ khai", "kind": "original", "count": 1},
        {"name": "CCCD", "kind": "copy", "count": 2},
    ]
    assert procedure("1.001234").documents == expected
    old_header = "code;name;sector;agency;working_days;service_forms;fee_vnd\n"
    assert load_procedures_csv(io.StringIO(old_header + row + "\n")).ok
    assert procedure("1.001234").documents == expected
    assert load_procedures_csv(io.StringIO(HEADER.replace(",", ";") + row + ";\n")).ok
    assert procedure("1.001234").documents == []


def test_the_sample_catalogue_has_checklists(app):
    _counts, report = load_demo_catalogue()
    assert report.ok
    documents = procedure("2.000488").documents
    assert documents[0] == {
        "name": "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp",
        "kind": "original",
        "count": 1,
    }
    assert {"kind": "copy"}.items() <= documents[1].items()
    assert {"kind": "original", "count": 2}.items() <= procedure("1.004546").documents[-1].items()
    assert procedure("1.008922").documents == []


# The migration ------------------------------------------------------------------------------


@pytest.fixture
def empty_database_url(backend, tmp_path, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"empty_{uuid.uuid4().hex[:10]}")


def test_the_migration_gives_existing_procedures_an_empty_checklist_and_goes_back(
    empty_database_url,
):
    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(revision="0003")
        with db.engine.begin() as connection:
            _insert_a_dossier(connection)  # its foreign key holds the procedure in place
        upgrade()
        assert db.session.scalar(select(Procedure.documents)) == []
        db.session.remove()
        downgrade(revision="0003")
        with db.engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("procedures")}
            assert "documents" not in columns and "code" in columns
            assert connection.scalar(sa.text("SELECT count(*) FROM dossiers")) == 1
        upgrade()
        db.session.remove()
        db.engine.dispose()


def _insert_a_dossier(connection) -> None:
    tables = sa.MetaData()
    tables.reflect(connection)
    now = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)

    def add(table: str, **values) -> int:
        result = connection.execute(sa.insert(tables.tables[table]).values(**values))
        return result.inserted_primary_key[0]

    channel = add("channels", code="post_l1", name_vi="Bưu cục", name_en="Post")
    office = add("offices", code="810000", name="Bưu cục Biên Hòa", channel_id=channel)
    sector = add("sectors", code="TP", name_vi="Tư pháp", name_en="Justice")
    agency = add("agencies", code="000.00.01.H19", name="Sở Tư pháp")
    flags = {"allows_two_way": True, "allows_return_only": True, "allows_send_only": True}
    procedure_id = add(
        "procedures",
        **{"code": "1.001234", "name": "Thủ tục", "search_name": "thu tuc", **flags},
        **{"sector_id": sector, "agency_id": agency, "working_days": 5},
    )
    add(
        "dossiers",
        **{"code": "D1", "service_form": "two_way", "procedure_id": procedure_id},
        **{"agency_id": agency, "office_id": office, "channel_id": channel},
        **{"applicant_name": "An", "applicant_name_folded": "an", "applicant_phone": "0912"},
        **{"fee_vnd": 0, "status": "received", "received_at": now, "supplement_days": 0},
        **{"status_changed_at": now, "lookup_secret_hash": "x", "created_at": now},
        **{"updated_at": now, "version": 1},
    )


# The admin's edit page ----------------------------------------------------------------------

EDIT = "/admin/catalogue/procedures/1.001234"


@pytest.fixture
def admin(make_staff, client, catalogue):
    staff = make_staff("admin")
    assert sign_in(client, staff.user.username).status_code == 302
    return staff


def edit_form(**overrides) -> dict:
    return {
        "name": "Cấp phiếu lý lịch tư pháp",
        "sector": "TP",
        "agency": "000.00.01.H19",
        "working_days": "10",
        "fee_vnd": "",
        "service_forms": ["two_way", "return_only", "send_only"],
        "active_from": "",
        "active_to": "",
        **overrides,
    }


def textarea_of(response, name: str) -> str:
    html = response.get_data(as_text=True)
    match = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', html, re.S)
    assert match, f"no textarea {name}"
    return unescape(match.group(1))


def test_the_admin_edits_the_checklist_one_document_per_line(app, client, admin):
    typed = (
        "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp\nCăn cước công dân (bản sao)\n\n"
        "Ảnh 4x6 cm (chứng thực) x2"
    )
    response = post_form(client, EDIT, edit_form(documents=typed))
    assert response.status_code == 302
    assert procedure("1.001234").documents == CHECKLIST
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "procedures.update")
    ).all()[-1]
    assert entry.actor_id == admin.user.id and entry.after["documents"] == CHECKLIST

    page = client.get(EDIT)
    assert "Thành phần hồ sơ phải nộp" in text_of(page)
    assert textarea_of(page, "documents") == format_documents(CHECKLIST)
    # Sent back unchanged, the written form saves the same list.
    again = post_form(client, EDIT, edit_form(documents=textarea_of(page, "documents")))
    assert again.status_code == 302 and procedure("1.001234").documents == CHECKLIST
    # A form without the field keeps the list; an empty box empties it.
    assert post_form(client, EDIT, edit_form()).status_code == 302
    assert procedure("1.001234").documents == CHECKLIST
    assert post_form(client, EDIT, edit_form(documents=" \n")).status_code == 302
    assert procedure("1.001234").documents == []


def test_bad_documents_are_shown_beside_the_box_with_what_was_typed(app, client, admin):
    post_form(client, EDIT, edit_form(documents="Tờ khai"))
    typed = "Tờ khai (bản chính)\n(bản sao)\nCCCD x0 & <b>"
    response = post_form(client, EDIT, edit_form(documents=typed, working_days="0"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = re.search(r'<ul class="field-errors" id="documents-error">(.*?)</ul>', html, re.S)
    assert errors, "no error beside the documents box"
    assert "Giấy tờ thứ 2: chưa có tên giấy tờ" in errors.group(1)
    assert 'aria-describedby="documents-hint documents-error"' in html
    assert "số nguyên dương" in html  # the other fields are still checked
    assert textarea_of(response, "documents") == typed
    assert procedure("1.001234").documents == [{"name": "Tờ khai", "kind": "original", "count": 1}]

    client.set_cookie("lang", "en")
    english = post_form(client, EDIT, edit_form(documents="A x0"))
    assert "Document 1: the count must be between 1 and 99" in text_of(english)
    assert "Required documents" in text_of(english)


def test_the_api_shows_the_checklist(app, client, catalogue):
    catalogue.procedure.documents = CHECKLIST
    db.session.commit()
    found = client.get("/api/v1/procedures", query_string={"q": "1.001234"}).get_json()
    assert found[0]["documents"] == CHECKLIST
    other = client.get("/api/v1/procedures", query_string={"q": "1.009876"}).get_json()
    assert other[0]["documents"] == []


# The intake form ----------------------------------------------------------------------------


class _FormFields(HTMLParser):
    """The fields a browser would post from the page's form: inputs, textareas, selects."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        checkable = attrs.get("type") in {"checkbox", "radio", "submit"}
        if tag == "input" and name and (not checkable or "checked" in attrs):
            self.fields[name] = attrs.get("value") or ""
        elif tag == "select":
            self._select = name
        elif (
            tag == "option"
            and self._select
            and ("selected" in attrs or self._select not in self.fields)
        ):
            self.fields[self._select] = attrs.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data


def form_fields(response) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(response.get_data(as_text=True))
    return parser.fields


def document_rows(fields: dict[str, str]) -> list[tuple[str, str, str]]:
    numbers = sorted({int(key.split(".")[1]) for key in fields if key.startswith("documents.")})
    return [
        tuple(fields[f"documents.{n}.{part}"] for part in ("name", "kind", "count"))
        for n in numbers
    ]


def test_the_intake_form_starts_with_the_checklist_and_logs_it(app, client, clerk, catalogue):
    catalogue.procedure.documents = CHECKLIST
    db.session.commit()
    sign_in(client, clerk.user.username)

    page = client.get("/dossiers/new", query_string={"procedure": "1.001234"})
    assert page.status_code == 200
    fields = form_fields(page)
    rows = document_rows(fields)
    assert rows[:3] == [
        ("Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp", "original", "1"),
        ("Căn cước công dân", "copy", "1"),
        ("Ảnh 4x6 cm", "certified_copy", "2"),
    ]
    assert rows[3:] and all(row == ("", "original", "1") for row in rows[3:])  # blank rows too
    # A procedure without a checklist opens with blank rows only.
    other = document_rows(form_fields(client.get("/dossiers/new?procedure=1.009876")))
    assert other and all(row == ("", "original", "1") for row in other)

    # The clerk fills in the applicant, drops the second document, adds one, and logs it.
    fields.update(
        {
            "applicant.name": "Nguyễn Văn An",
            "applicant.phone": "0912 345 678",
            "delivery_address": "12 Đường 30/4, Biên Hòa",
            "documents.1.name": "",
            "documents.3.name": "Giấy ủy quyền",
        }
    )
    response = client.post("/dossiers/new", data=fields)
    assert response.status_code == 201, text_of(response)
    dossier = db.session.scalars(select(Dossier)).one()
    assert [(d.name, d.kind, d.count) for d in dossier.documents] == [
        ("Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp", "original", 1),
        ("Ảnh 4x6 cm", "certified_copy", 2),
        ("Giấy ủy quyền", "original", 1),
    ]


def test_a_refused_intake_keeps_the_rows_as_sent_not_the_checklist(app, client, clerk, catalogue):
    catalogue.procedure.documents = CHECKLIST
    db.session.commit()
    sign_in(client, clerk.user.username)
    fields = form_fields(client.get("/dossiers/new?procedure=1.001234"))
    for n in range(3):
        fields[f"documents.{n}.name"], fields[f"documents.{n}.count"] = "", "1"
    fields["documents.0.name"] = "Chỉ một giấy"
    response = client.post("/dossiers/new", data=fields)  # no applicant: refused
    assert response.status_code == 422
    rows = document_rows(form_fields(response))
    assert rows[0] == ("Chỉ một giấy", "original", "1")
    assert all(row[0] == "" for row in rows[1:])
    assert db.session.scalar(select(sa.func.count(Dossier.id))) == 0


def test_the_load_page_names_the_bad_document_in_vietnamese(app, client, admin):
    body = HEADER + "1.001234,Cấp phiếu,TP,000.00.01.H19,10,two_way,,Tờ khai; CCCD x0\n"
    token = csrf_of(client.get("/admin/catalogue"))
    data = {"csrf_token": token, "file": (io.BytesIO(body.encode()), "p.csv", "text/csv")}
    response = client.post("/admin/catalogue/load", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "2 documents[2] số lượng phải từ 1 đến 99" in text_of(response)
    assert procedure("1.001234").documents == []


def test_clearing_a_name_leaves_the_document_out_whatever_its_count(app, client, clerk, catalogue):
    catalogue.procedure.documents = CHECKLIST
    db.session.commit()
    sign_in(client, clerk.user.username)
    fields = form_fields(client.get("/dossiers/new?procedure=1.001234"))
    assert fields["documents.2.count"] == "2"
    fields.update(
        {
            "applicant.name": "Nguyễn Văn An",
            "applicant.phone": "0912345678",
            "delivery_address": "12 Đường 30/4, Biên Hòa",
            "documents.2.name": "",  # the photos (x2): only the name is cleared
        }
    )
    assert client.post("/dossiers/new", data=fields).status_code == 201
    dossier = db.session.scalars(select(Dossier)).one()
    assert [d.name for d in dossier.documents] == [
        "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp",
        "Căn cước công dân",
    ]
