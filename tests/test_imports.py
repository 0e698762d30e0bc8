"""Imports: upload (CSV, XLSX), the job in process and in a real worker, natural keys, row
errors, malformed files, scope, progress and resumption."""

from __future__ import annotations

import csv
import io
import re
import time
import zlib
from datetime import date, datetime, timedelta

import openpyxl
import pytest
from sqlalchemy import func, select

from tracker.audit.models import AuditEntry
from tracker.calendar import VN_TZ, today_vn, utcnow
from tracker.catalogue.models import Office, Procedure
from tracker.dossiers import codes, s10
from tracker.dossiers.models import CodeCounter, Dossier, StatusEvent
from tracker.extensions import db
from tracker.feeds.models import FeedBatch, FeedEvent
from tracker.imports import bulk, operations, runner
from tracker.imports.models import ImportFile, ImportJob, ImportRowError
from tracker.notifications.messages import NOTIFY_STATUSES
from tracker.outbox.models import OutboxMessage
from tracker.outbox.operations import acquire_lease, release_lease

HEADER = (
    "agency_reference",
    "procedure_code",
    "applicant_name",
    "applicant_phone",
    "delivery_address",
    "postal_item_number",
    "received_at",
    "office_code",
    "fee_vnd",
    "note",
)


def item_number(serial: int) -> str:
    digits = f"{serial:08d}"
    return f"RR{digits}{s10.check_digit(digits)}VN"


def result_row(n: int, **overrides) -> dict[str, str]:
    """A valid one-way result of procedure 1.004567 (agency 000.00.01.H19), office 810000."""
    row = {
        "agency_reference": f"HS-{n:06d}",
        "procedure_code": "1.004567",
        "applicant_name": "Nguyễn Thị Hương",
        "applicant_phone": "0912 345 678",
        "delivery_address": "12 Đường 30/4, Biên Hòa, Đồng Nai",
        "postal_item_number": item_number(n),
        "received_at": f"{today_vn() - timedelta(days=3):%d/%m/%Y} 09:{n % 60:02d}",
        "office_code": "810000",
        "fee_vnd": "15.000",
        "note": "",
    }
    row.update(overrides)
    return row


def csv_bytes(rows: list[dict[str, str]], header=HEADER, delimiter=",", bom=True) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, delimiter=delimiter, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode()


def upload(client, staff, content: bytes, filename: str = "ket-qua.csv"):
    return client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(content), filename)},
        headers=staff.headers,
        content_type="multipart/form-data",
    )


def run_job(job_id: int) -> ImportJob:
    job = runner.run_job(job_id)
    db.session.commit()
    return job


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def error_lines(client, staff, job_id: int) -> list[tuple[str, str, str]]:
    # buffered: the test client reads the streamed body inside the request's own context.
    response = client.get(
        f"/api/v1/imports/{job_id}/errors.csv", headers=staff.headers, buffered=True
    )
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="import-{job_id}-errors.csv"'
    )
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeffline,field,message")
    return [tuple(row) for row in csv.reader(io.StringIO(text.lstrip("\ufeff")))][1:]


@pytest.fixture
def officer(make_staff, catalogue):
    return make_staff("agency", agency=catalogue.agency)


# Upload and run -----------------------------------------------------------------------------


def test_csv_upload_is_queued_then_imported_as_one_way_dossiers(client, officer, catalogue):
    rows = [result_row(n) for n in range(1, 6)]

    response = upload(client, officer, csv_bytes(rows))

    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["state"] == "queued" and job["total_rows"] == 5 and job["agency"] == "000.00.01.H19"
    assert response.headers["Location"].endswith(f"/api/v1/imports/{job['id']}")
    assert count(OutboxMessage, OutboxMessage.task == "imports.run") == 1

    run_job(job["id"])

    body = client.get(f"/api/v1/imports/{job['id']}", headers=officer.headers).get_json()
    assert (body["state"], body["rows_done"], body["total_rows"]) == ("done", 5, 5)
    assert (body["created"], body["existing"], body["errors"]) == (5, 0, 0)
    assert body["started_at"] and body["finished_at"]
    dossiers = db.session.scalars(select(Dossier).order_by(Dossier.agency_reference)).all()
    assert [d.agency_reference for d in dossiers] == [f"HS-{n:06d}" for n in range(1, 6)]
    first = dossiers[0]
    received_on = (today_vn() - timedelta(days=3)).strftime("%y%m%d")
    assert re.fullmatch(rf"000\.00\.01\.H19-{received_on}-000[1-5]", first.code)
    assert (first.service_form, first.status, first.fee_vnd) == (
        "return_only",
        "result_collected",
        15000,
    )
    assert (
        first.applicant_phone == "0912345678" and first.applicant_name_folded == "nguyen thi huong"
    )
    assert first.office.code == "810000" and first.channel.code == "post_l1"
    assert first.received_at == first.status_changed_at and first.version == 1
    assert first.created_by_id == officer.user.id and len(first.lookup_secret_hash) == 64
    event = db.session.scalar(select(StatusEvent).where(StatusEvent.dossier_id == first.id))
    assert (event.source, event.to_status, event.occurred_at) == (
        "import",
        "result_collected",
        first.received_at,
    )
    assert event.data == {"import_job": job["id"], "line": 2}
    # No notification: none is due for result_collected (if one ever is, imports must queue it).
    assert operations.STATUS not in NOTIFY_STATUSES
    # One audit entry for the job, none per row; the stored file is dropped.
    assert count(AuditEntry, AuditEntry.entity == "import_job") == 1
    assert count(AuditEntry, AuditEntry.entity == "dossier") == 0
    assert count(ImportFile) == 0
    counter = db.session.get(CodeCounter, ("000.00.01.H19", today_vn() - timedelta(days=3)))
    assert counter.last_seq == 5


def test_imported_codes_share_the_daily_counter_with_intake(
    client, clerk, officer, create_dossier, catalogue
):
    day = today_vn() - timedelta(days=1)
    received = f"{day:%Y-%m-%d} 08:00"
    create_dossier(service_form="return_only", procedure_code="1.004567", received_at=received)
    rows = [result_row(n, received_at=received) for n in (1, 2)]

    run_job(upload(client, officer, csv_bytes(rows)).get_json()["id"])
    after = create_dossier(
        service_form="return_only", procedure_code="1.004567", received_at=f"{day:%Y-%m-%d} 17:00"
    )

    prefix = f"000.00.01.H19-{day:%y%m%d}-"
    assert set(db.session.scalars(select(Dossier.code))) == {
        f"{prefix}000{n}" for n in (1, 2, 3, 4)
    }
    assert after["code"] == f"{prefix}0004"


def test_postal_events_waiting_for_an_imported_item_are_handed_to_the_feeds(
    client, officer, catalogue
):
    batch = FeedBatch(source="postal", event_count=1)
    waiting = FeedEvent(
        batch=batch,
        source="postal",
        event_id="ev-1",
        item_number=item_number(2),
        raw_code="EMI",
        occurred_at=utcnow(),
        payload={},
        state="unmatched",
    )
    db.session.add_all([batch, waiting])
    db.session.commit()

    run_job(upload(client, officer, csv_bytes([result_row(1), result_row(2)])).get_json()["id"])

    tasks = db.session.execute(
        select(OutboxMessage.task, OutboxMessage.kwargs).where(OutboxMessage.task != "imports.run")
    ).all()
    assert tasks == [("feeds.apply_unmatched", {"item_number": item_number(2)})]


def test_xlsx_upload_with_spreadsheet_cells(client, officer, catalogue):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["STT", *HEADER])
    received = datetime.now() - timedelta(days=1)
    # A phone typed as a number loses its leading zero; dates are date cells.
    sheet.append(
        [
            1,
            "HS-1",
            "1.004567",
            "Trần Văn Bình",
            912345678,
            "Long Khánh",
            None,
            received,
            "810000",
            20000,
        ]
    )
    sheet.append([])
    sheet.append(
        [
            2,
            "HS-2",
            "1.004567",
            "Lê Thị Lan",
            "0987654321",
            "Biên Hòa",
            item_number(7),
            received,
            "810000",
        ]
    )
    content = io.BytesIO()
    workbook.save(content)

    response = upload(client, officer, content.getvalue(), "ket-qua.xlsx")

    assert response.status_code == 202, response.get_json()
    # The request does not parse a workbook: its header and rows are the worker's to read.
    assert response.get_json()["format"] == "xlsx"
    assert response.get_json()["message"] is None and response.get_json()["total_rows"] is None
    job = run_job(response.get_json()["id"])
    assert (job.state, job.created_count, job.error_count) == ("done", 2, 0)
    assert job.message == "ignored column(s): stt"
    phones = set(db.session.scalars(select(Dossier.applicant_phone)))
    assert phones == {"0912345678", "0987654321"}


def test_the_same_file_twice_creates_nothing_new(client, officer, catalogue):
    rows = [result_row(n) for n in range(1, 8)]
    # In the file twice: by reference, and by item number for a row without reference.
    rows.append(result_row(3))
    rows.append(result_row(99, agency_reference="", postal_item_number=item_number(50)))
    rows.append(result_row(98, agency_reference="", postal_item_number=item_number(50)))
    content = csv_bytes(rows)

    first = run_job(upload(client, officer, content).get_json()["id"])
    assert (first.created_count, first.existing_count, first.error_count) == (8, 2, 0)
    second = run_job(upload(client, officer, content).get_json()["id"])

    assert (second.created_count, second.existing_count, second.error_count) == (0, 10, 0)
    assert count(Dossier) == 8 and count(StatusEvent) == 8


# Row errors ---------------------------------------------------------------------------------


def test_bad_rows_are_reported_by_line_and_field_and_the_rest_imported(
    client, officer, catalogue, create_dossier
):
    closed = Office(
        code="819999", name="Bưu cục đã đóng", channel=catalogue.channel, active_to=date(2020, 1, 1)
    )
    counter_only = Procedure(
        code="1.007777",
        name="Thủ tục chỉ nhận tại quầy",
        sector=catalogue.sector,
        agency=catalogue.agency,
        working_days=5,
        allows_return_only=False,
    )
    db.session.add_all([closed, counter_only])
    db.session.commit()
    create_dossier(postal_item_number=item_number(900))
    future = (datetime.now(VN_TZ) + timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    received = today_vn() - timedelta(days=3)
    bad = [  # line 3 onwards
        ("procedure_code", result_row(10, procedure_code="9.999999")),
        ("procedure_code", result_row(11, procedure_code="1.009876")),  # another agency's
        ("procedure_code", result_row(12, procedure_code="1.007777")),
        ("office_code", result_row(13, office_code="819999")),
        ("applicant_phone", result_row(14, applicant_phone="12345")),
        ("postal_item_number", result_row(15, postal_item_number="RR123456784VN")),
        ("received_at", result_row(16, received_at=future)),
        ("received_at", result_row(17, received_at="hôm qua")),
        ("delivery_address", result_row(18, delivery_address="")),
        ("fee_vnd", result_row(19, fee_vnd="-5")),
        ("agency_reference", result_row(20, agency_reference="", postal_item_number="")),
        ("postal_item_number", result_row(21, postal_item_number=item_number(900))),
    ]
    early = f"{received - timedelta(days=1):%Y-%m-%d}"
    rows = [
        result_row(1),
        *(row for _, row in bad),
        result_row(2),
        result_row(3, appointment_date=early),  # line 16
    ]
    content = csv_bytes(rows, header=(*HEADER, "appointment_date"))

    job = run_job(upload(client, officer, content).get_json()["id"])

    assert (job.rows_done, job.created_count, job.error_count) == (15, 2, 13)
    errors = error_lines(client, officer, job.id)
    expected = {str(line): column for line, (column, _) in enumerate(bad, start=3)}
    expected["16"] = "appointment_date"
    assert {line: column for line, column, _ in errors} == expected
    assert len(errors) == 13  # one error each
    messages = {line: message for line, _, message in errors}
    assert messages["3"] == "no procedure with code 9.999999"
    assert messages["4"] == "not a procedure of agency 000.00.01.H19"
    assert messages["5"] == "procedure 1.007777 allows only two_way, send_only, not return_only"
    assert messages["6"] == f"no office with code 819999 active on {received}"
    assert messages["8"] == "check digit does not match (not a valid S10 item number)"
    assert messages["9"] == "must not be in the future"
    assert messages["14"] == "already used by another dossier within 12 months"
    assert messages["16"] == "must not be before the day of receipt"
    assert count(ImportRowError) == 13
    references = set(db.session.scalars(select(Dossier.agency_reference)))
    assert references == {None, "HS-000001", "HS-000002"}


def test_a_clerk_imports_for_their_own_office_and_others_see_404(
    client, clerk, make_staff, catalogue
):
    rows = [result_row(1, office_code=""), result_row(2, office_code="811000"), result_row(3)]

    job = run_job(upload(client, clerk, csv_bytes(rows)).get_json()["id"])

    assert (job.created_count, job.error_count) == (2, 1)
    assert error_lines(client, clerk, job.id) == [
        ("3", "office_code", "this import is for office 810000 only")
    ]
    other_clerk = make_staff("clerk", office=catalogue.other_office)
    assert client.get(f"/api/v1/imports/{job.id}", headers=other_clerk.headers).status_code == 404
    assert (
        client.get(f"/api/v1/imports/{job.id}/errors.csv", headers=other_clerk.headers).status_code
        == 404
    )
    manager = make_staff("manager")
    assert client.get(f"/api/v1/imports/{job.id}", headers=manager.headers).status_code == 200
    assert upload(client, manager, csv_bytes(rows)).status_code == 403
    assert client.get("/api/v1/imports/999999", headers=manager.headers).status_code == 404


# Malformed files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "empty.csv", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.csv", "binary data, not CSV text"),
        (
            b"agency_reference,procedure_code\nHS-1,1.004567\n",
            "short.csv",
            "missing column(s)",
        ),
        (",".join(HEADER).encode() + b"\n\n  \n", "header-only.csv", "no rows after the header"),
        (
            ",".join(HEADER).encode() + "\nHS-1,1.004567,José".encode("cp1252"),
            "ansi.csv",
            "line 2: file: not UTF-8",
        ),
        ("agency_reference".encode("utf-16"), "unicode.txt", "UTF-16 text"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls", "Excel 97-2003"),
        (b"PK\x03\x04" + b"not a zip" * 10, "broken.xlsx", "not a readable Excel workbook"),
    ],
)
def test_malformed_files_are_422_naming_the_problem(
    client, officer, catalogue, content, filename, message
):
    response = upload(client, officer, content, filename)

    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert message in error["fields"]["file"][0]
    assert count(ImportJob) == 0 and count(ImportFile) == 0


def test_upload_without_a_file_or_too_large(app, client, officer, catalogue):
    missing = client.post(
        "/api/v1/imports", data={}, headers=officer.headers, content_type="multipart/form-data"
    )
    assert missing.status_code == 422
    assert list(missing.get_json()["error"]["fields"]) == ["file"]

    app.config["IMPORT_MAX_BYTES"] = 4096
    try:
        # Over the limit within the multipart envelope's slack: the stored size says no.
        near = upload(client, officer, csv_bytes([result_row(n) for n in range(40)]))
        # Far over it: refused before the body is read.
        far = upload(client, officer, csv_bytes([result_row(n) for n in range(2000)]))
    finally:
        app.config["IMPORT_MAX_BYTES"] = 32 * 1024 * 1024
    assert near.status_code == 413 and near.get_json()["error"]["code"] == "payload_too_large"
    assert far.status_code == 413
    assert count(ImportJob) == 0


def test_semicolon_csv_without_bom_and_quoted_cells(client, officer, catalogue):
    rows = [result_row(1, delivery_address="Số 5;\nẤp 3, xã Hố Nai"), result_row(2)]

    job = run_job(
        upload(client, officer, csv_bytes(rows, delimiter=";", bom=False)).get_json()["id"]
    )

    assert (job.created_count, job.error_count) == (2, 0)
    address = db.session.scalar(
        select(Dossier.delivery_address).where(Dossier.agency_reference == "HS-000001")
    )
    assert address == "Số 5;\nẤp 3, xã Hố Nai"


def test_a_file_unreadable_in_the_job_fails_it_with_the_line(client, officer, catalogue):
    job_id = upload(client, officer, csv_bytes([result_row(1), result_row(2)])).get_json()["id"]
    # A field beyond the csv module's limit: readable on upload (header), not by the job.
    huge = csv_bytes([result_row(3, note='"' + "x" * 200_000)])
    db.session.execute(ImportFile.__table__.update().values(content=zlib.compress(huge)))
    db.session.commit()

    job = run_job(job_id)

    assert job.state == "failed" and job.message.startswith("line 2: file: not readable as CSV")
    body = client.get(f"/api/v1/imports/{job_id}", headers=officer.headers).get_json()
    assert body["state"] == "failed" and body["message"] == job.message


# The command line ------------------------------------------------------------------------------


def test_command_imports_inline_prints_a_summary_and_writes_the_errors(app, catalogue, tmp_path):
    path = tmp_path / "ket-qua.csv"
    path.write_bytes(csv_bytes([result_row(1), result_row(2, applicant_phone="x"), result_row(3)]))
    errors = tmp_path / "loi.csv"

    result = app.test_cli_runner().invoke(
        args=["import", "dossiers", str(path), "--agency", "000.00.01.H19", "--errors", str(errors)]
    )

    assert result.exit_code == 1, result.output  # a row was refused
    assert "3 rows: 2 created, 0 existing (already imported), 1 refused" in result.output
    assert "line 3: applicant_phone: must be a Vietnamese phone number" in result.output
    lines = errors.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "line,field,message" and lines[1].startswith("3,applicant_phone,")
    job = db.session.scalar(select(ImportJob))
    assert (job.state, job.created_count, job.agency.code) == ("done", 2, "000.00.01.H19")
    assert job.created_by_id is None and count(Dossier) == 2


def test_command_dry_run_writes_nothing_and_queue_leaves_it_to_a_worker(app, catalogue, tmp_path):
    path = tmp_path / "ket-qua.csv"
    rows = [result_row(n) for n in range(1, 5)] + [result_row(2)]  # the last is a repeat
    path.write_bytes(csv_bytes(rows))
    cli = app.test_cli_runner()

    dry = cli.invoke(args=["import", "dossiers", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "5 rows: 4 would create, 1 existing (already imported), 0 refused" in dry.output
    assert count(ImportJob) == 0 and count(Dossier) == 0 and count(CodeCounter) == 0

    other = cli.invoke(args=["import", "dossiers", str(path), "--agency", "000.00.02.H19"])
    assert (
        other.exit_code == 1
        and "5 rows: 0 created, 0 existing (already imported), 5 refused" in other.output
    )
    assert "not a procedure of agency 000.00.02.H19" in other.output

    queued = cli.invoke(args=["import", "dossiers", str(path), "--queue"])
    assert queued.exit_code == 0, queued.output
    job = db.session.scalars(select(ImportJob).order_by(ImportJob.id.desc())).first()
    assert job.state == "queued" and count(ImportFile, ImportFile.job_id == job.id) == 1
    tasks = db.session.execute(select(OutboxMessage.task, OutboxMessage.kwargs)).all()
    assert tasks == [("imports.run", {"job_id": job.id})]


# Progress, resumption, the worker -------------------------------------------------------------


def test_progress_moves_per_chunk_and_a_crashed_job_resumes_without_duplicates(
    app, client, officer, catalogue
):
    app.config["IMPORT_CHUNK_ROWS"] = 10
    rows = [result_row(n) for n in range(1, 36)]
    rows[20]["applicant_phone"] = "bad"
    job_id = upload(client, officer, csv_bytes(rows)).get_json()["id"]
    db.session.commit()
    seen = []
    try:
        # A first run that dies after its second chunk: what it committed stays.
        run = operations.start_job(job_id)
        with runner.files.local_copy(job_id, "csv") as path:
            chunks = runner._chunks(run, path, "csv", 10)
            for chunk in [next(chunks), next(chunks)]:
                operations.import_chunk(run, chunk)
                db.session.commit()
                seen.append(run.job.rows_done)
            chunks.close()
        db.session.commit()
        assert seen == [10, 20] and count(Dossier) == 20

        job = runner.run_job(job_id, on_progress=lambda j: seen.append(j.rows_done))
        db.session.commit()
    finally:
        app.config["IMPORT_CHUNK_ROWS"] = 5000

    assert seen == [10, 20, 30, 35]
    assert (job.state, job.rows_done, job.created_count, job.existing_count, job.error_count) == (
        "done",
        35,
        34,
        0,
        1,
    )
    assert count(Dossier) == 34 and count(StatusEvent) == 34
    assert db.session.scalar(select(func.count(func.distinct(Dossier.code)))) == 34


def test_two_runs_of_one_job_never_commit_the_same_rows(app, client, officer, catalogue):
    app.config["IMPORT_CHUNK_ROWS"] = 5
    try:
        job_id = upload(client, officer, csv_bytes([result_row(n) for n in range(12)]))
        job_id = job_id.get_json()["id"]
        # A first run reads and sorts out its first chunk, then stalls ...
        slow = operations.start_job(job_id)
        db.session.commit()
        with runner.files.local_copy(job_id, "csv") as path:
            chunks = runner._chunks(slow, path, "csv", 5)
            chunk = next(chunks)
            chunks.close()
        db.session.commit()
        # ... a second run, handed out meanwhile, imports the whole file ...
        assert runner.run_job(job_id).created_count == 12
        db.session.commit()
        # ... and the first one wakes up: its rows are refused as a whole.
        with pytest.raises(operations.JobTakenOver):
            operations.import_chunk(slow, chunk)
        db.session.rollback()
    finally:
        app.config["IMPORT_CHUNK_ROWS"] = 5000
    assert count(Dossier) == 12 and count(StatusEvent) == 12
    assert count(AuditEntry, AuditEntry.entity == "import_job") == 1


def test_imports_run_one_at_a_time(client, officer, catalogue):
    job_id = upload(client, officer, csv_bytes([result_row(1)])).get_json()["id"]
    db.session.commit()
    assert acquire_lease("imports.run", timedelta(minutes=5), holder="another-worker")

    with pytest.raises(runner.ImportsBusy):
        runner.run_job(job_id)
    release_lease("imports.run", holder="another-worker")

    assert db.session.get(ImportJob, job_id).state == "queued" and count(Dossier) == 0
    assert run_job(job_id).created_count == 1


def test_resume_stalled_hands_out_jobs_without_a_heartbeat(app, client, officer, catalogue):
    job_id = upload(client, officer, csv_bytes([result_row(1)])).get_json()["id"]
    fresh_id = upload(client, officer, csv_bytes([result_row(2)])).get_json()["id"]
    job = db.session.get(ImportJob, job_id)
    job.state, job.heartbeat_at = "running", utcnow() - timedelta(minutes=10)
    db.session.commit()

    assert operations.resume_stalled() == 1
    db.session.commit()
    assert operations.resume_stalled() == 0  # handed out once, not at every beat
    messages = db.session.scalars(
        select(OutboxMessage.kwargs).where(OutboxMessage.task == "imports.run")
    ).all()
    assert messages.count({"job_id": job_id}) == 2 and messages.count({"job_id": fresh_id}) == 1


def test_a_real_worker_runs_the_job(client, officer, catalogue, start_worker):
    worker = start_worker()
    job_id = upload(client, officer, csv_bytes([result_row(n) for n in range(1, 51)])).get_json()[
        "id"
    ]

    body = wait_for_state(client, officer, job_id, "done", worker)

    assert (body["rows_done"], body["created"], body["errors"]) == (50, 50, 0)
    assert count(Dossier) == 50


def test_worker_killed_mid_import_resumes_every_row_exactly_once(
    app, client, officer, catalogue, start_worker
):
    quick = {
        "IMPORT_CHUNK_ROWS": "250",
        "IMPORT_STALLED_AFTER_SECONDS": "3",
        # Redis keeps the killed worker's message unacknowledged for this long: the second
        # worker must get the job from `resume_stalled`, not from the broker handing it back
        # (which it does once the visibility timeout has passed, on a slow machine mid-test).
        "CELERY_VISIBILITY_TIMEOUT": "3600",
    }
    first = start_worker(**quick)
    total = 12_000
    content = csv_bytes([result_row(n) for n in range(1, total + 1)])
    # Not over HTTP: the test client spools a body this large to a file it never closes.
    job = operations.create_job(io.BytesIO(content), "big.csv", officer.user)
    operations.queue_job(job)
    db.session.commit()
    job_id = job.id
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db.session.expire_all()
        done = db.session.get(ImportJob, job_id).rows_done
        db.session.commit()
        if done >= 1000:
            break
        time.sleep(0.02)
    first.kill()
    db.session.expire_all()
    assert db.session.get(ImportJob, job_id).rows_done < total, "finished before the kill"
    db.session.commit()

    second = start_worker(**quick)
    app.config["IMPORT_STALLED_AFTER_SECONDS"] = 3
    try:
        time.sleep(3.5)
        assert operations.resume_stalled() == 1
        db.session.commit()
        body = wait_for_state(client, officer, job_id, "done", second)
    finally:
        app.config["IMPORT_STALLED_AFTER_SECONDS"] = 300

    assert (body["rows_done"], body["created"], body["existing"], body["errors"]) == (
        total,
        total,
        0,
        0,
    )
    assert count(Dossier) == total and count(StatusEvent) == total
    assert db.session.scalar(select(func.count(func.distinct(Dossier.code)))) == total
    last = db.session.scalar(select(func.max(CodeCounter.last_seq)))
    assert last == total  # no code lost to the crash: the counter rolled back with its chunk


def wait_for_state(client, staff, job_id: int, state: str, worker, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/imports/{job_id}", headers=staff.headers).get_json()
        if body["state"] == state:
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not {state}: {body}\n{worker.log()}")


# Building blocks ------------------------------------------------------------------------------


def test_code_blocks_continue_the_daily_sequence_without_gaps(app, catalogue):
    day = date(2025, 3, 14)
    first = codes.allocate_code("000.00.01.H19", day)
    block = codes.allocate_codes("000.00.01.H19", day, 3)
    blocks = codes.allocate_code_blocks({("000.00.01.H19", day): 2, ("000.00.02.H19", day): 4})
    after = codes.allocate_code("000.00.01.H19", day)
    db.session.rollback()

    assert first.endswith("-250314-0001")
    assert [c[-4:] for c in block] == ["0002", "0003", "0004"]
    assert blocks == {("000.00.01.H19", day): 5, ("000.00.02.H19", day): 1}
    assert after.endswith("-0007")


def test_bulk_secrets_hash_as_the_receipt_secrets_do():
    new = codes.new_lookup_secrets(50)

    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", s) for s in new)
    assert len(set(new)) == 50
    assert codes.hash_secrets(["A-1"] * 50, new) == [codes.hash_secret("A-1", s) for s in new]


def test_bulk_inserts_leave_out_only_nullable_columns(app):
    for model, columns in ((Dossier, bulk.DOSSIER_COLUMNS), (StatusEvent, bulk.EVENT_COLUMNS)):
        table = model.__table__
        required = {c.name for c in table.columns if not c.nullable and not c.primary_key}
        assert required <= set(columns), model
        assert set(columns) <= {c.name for c in table.columns}
