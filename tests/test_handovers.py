"""Hand-over records through the API and the operations: one record per agency and batch, the
agency's confirmation (appointment dates, once), its own `processing` events, the anomaly of a
record left unconfirmed, and scope."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import g
from sqlalchemy import select, update

from tests import test_feeds
from tests.test_feeds import AGENCY, post_batch, run_batch
from tracker.calendar import VN_TZ, add_working_days, local_date, today_vn, utcnow
from tracker.database import _wants_write_lock
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.handovers import operations
from tracker.handovers.models import HandoverLine, HandoverRecord
from tracker.sweeps import operations as sweeps
from tracker.sweeps.models import Anomaly

URL = "/api/v1/handovers"
# The feeds' fixture: integration accounts, tied to an agency or not.
make_integration = test_feeds.make_integration


@pytest.fixture
def agency_officer(make_staff, catalogue):
    return make_staff("agency", agency=catalogue.agency)


def forward(client, staff, codes, agency="000.00.01.H19", **extra):
    return client.post(
        URL, json={"agency_code": agency, "dossier_codes": codes, **extra}, headers=staff.headers
    )


def dossier_of(code: str) -> Dossier:
    db.session.expire_all()
    return db.session.scalar(select(Dossier).where(Dossier.code == code))


def events_of(code: str) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(StatusEvent.to_status)
            .join(Dossier, StatusEvent.dossier_id == Dossier.id)
            .where(Dossier.code == code)
            .order_by(StatusEvent.id)
        )
    )


def test_forwarding_a_batch_makes_one_numbered_record_with_documents_and_fees(
    client, clerk, create_dossier
):
    first = create_dossier(fee_vnd=200_000)["code"]
    second = create_dossier(
        fee_vnd=50_000, documents=[{"name": "Đơn", "kind": "copy", "count": 3}]
    )["code"]
    answer = forward(client, clerk, [first, second])
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    record = body["record"]
    year = local_date(utcnow()).year
    assert record["number"] == f"BB-810000-{year}-00001"
    assert record["kind"] == "forward"
    assert record["office"]["code"] == "810000"
    assert record["agency"]["code"] == "000.00.01.H19"
    assert [line["dossier_code"] for line in record["lines"]] == [first, second]
    assert record["lines"][1]["documents"] == [{"name": "Đơn", "kind": "copy", "count": 3}]
    assert record["total_fee_vnd"] == 250_000
    assert record["total_documents"] == {"original": 1, "certified_copy": 1, "copy": 3}
    assert record["confirmed_at"] is None
    assert body["refused"] == []
    assert events_of(first) == ["received", "forwarded"]
    # The next record of the office takes the next number.
    third = create_dossier()["code"]
    again = forward(client, clerk, [third]).get_json()["record"]
    assert again["number"] == f"BB-810000-{year}-00002"


def test_bad_codes_are_refused_one_by_one_and_the_rest_kept(
    client, clerk, create_dossier, catalogue
):
    good = create_dossier()["code"]
    other_agency = create_dossier(procedure_code="1.009876")["code"]
    moved = create_dossier()["code"]
    assert forward(client, clerk, [moved]).status_code == 201
    answer = forward(client, clerk, [good, "KHONG-CO", other_agency, moved, good])
    assert answer.status_code == 201
    body = answer.get_json()
    assert [line["dossier_code"] for line in body["record"]["lines"]] == [good]
    refused = {item["index"]: item for item in body["refused"]}
    assert set(refused) == {1, 2, 3, 4}
    assert refused[1]["field"] == "dossier_codes.1"
    assert "000.00.02.H19" in refused[2]["message"]
    assert "forwarded" in refused[3]["message"]
    assert events_of(other_agency) == ["received"]
    # Nothing forwarded at all: 422 naming each code.
    none = forward(client, clerk, ["KHONG-CO"])
    assert none.status_code == 422
    assert "dossier_codes.0" in none.get_json()["error"]["fields"]


def test_the_same_batch_key_answers_the_same_record(
    client, clerk, create_dossier, make_staff, catalogue
):
    code = create_dossier()["code"]
    first = forward(client, clerk, [code], batch_key="morning-run-1").get_json()["record"]
    second = forward(client, clerk, [code], batch_key="morning-run-1")
    assert second.status_code == 201
    assert second.get_json()["record"]["number"] == first["number"]
    assert db.session.scalar(select(db.func.count(HandoverRecord.id))) == 1
    # Another office's clerk with the same key makes their own batch.
    other = make_staff("clerk", office=catalogue.other_office)
    theirs = create_dossier(staff=other)["code"]
    answer = forward(client, other, [theirs], batch_key="morning-run-1").get_json()["record"]
    assert answer["number"].startswith("BB-811000-")
    assert [line["dossier_code"] for line in answer["lines"]] == [theirs]


def test_bad_bodies_name_the_field(client, clerk):
    for body, field in [
        ({"dossier_codes": ["X"]}, "agency_code"),
        ({"agency_code": "000.00.01.H19", "dossier_codes": []}, "dossier_codes"),
        ({"agency_code": "ZZZ", "dossier_codes": ["X"]}, "agency_code"),
        ({"agency_code": "000.00.01.H19", "dossier_codes": ["X"], "extra": 1}, "extra"),
    ]:
        answer = client.post(URL, json=body, headers=clerk.headers)
        assert answer.status_code == 422, body
        assert field in answer.get_json()["error"]["fields"], body


def test_confirmation_sets_the_appointment_dates_and_a_repeat_answers_the_first(
    client, clerk, agency_officer, create_dossier
):
    first = create_dossier()["code"]
    second = create_dossier()["code"]
    number = forward(client, clerk, [first, second]).get_json()["record"]["number"]
    given = add_working_days(today_vn(), 12)
    url = f"{URL}/{number}/confirmation"
    # Only the agency confirms: a clerk may not.
    assert client.post(url, json={}, headers=clerk.headers).status_code == 403
    answer = client.post(
        url, json={"appointment_dates": {first: given.isoformat()}}, headers=agency_officer.headers
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["repeated"] is False and body["confirmed_at"]
    dates = {line["dossier_code"]: line["appointment_date"] for line in body["lines"]}
    statutory = add_working_days(today_vn(), 10)  # the procedure's 10 working days
    assert dates == {first: given.isoformat(), second: statutory.isoformat()}
    assert dossier_of(first).status == "processing"
    assert dossier_of(first).appointment_date == given
    assert dossier_of(second).appointment_date == statutory
    assert events_of(first) == ["received", "forwarded", "processing"]

    later = add_working_days(today_vn(), 20).isoformat()
    repeat = client.post(
        url, json={"appointment_dates": {first: later}}, headers=agency_officer.headers
    )
    assert repeat.status_code == 200
    assert repeat.get_json()["repeated"] is True
    assert repeat.get_json()["confirmed_at"] == body["confirmed_at"]
    assert dossier_of(first).appointment_date == given
    assert events_of(first) == ["received", "forwarded", "processing"]


def test_confirmation_refuses_bad_dates_and_foreign_codes_by_field(
    client, clerk, agency_officer, create_dossier
):
    code = create_dossier()["code"]
    number = forward(client, clerk, [code]).get_json()["record"]["number"]
    url = f"{URL}/{number}/confirmation"
    for dates, field in [
        ({code: "2000-01-01"}, f"appointment_dates.{code}"),
        (
            {"000.00.01.H19-250101-9999": "2030-01-01"},
            "appointment_dates.000.00.01.H19-250101-9999",
        ),
        ({code: "not a date"}, "appointment_dates"),
    ]:
        answer = client.post(url, json={"appointment_dates": dates}, headers=agency_officer.headers)
        assert answer.status_code == 422, answer.get_json()
        fields = answer.get_json()["error"]["fields"]
        assert any(key.startswith(field) for key in fields), fields
    assert dossier_of(code).status == "forwarded"
    assert db.session.scalar(select(HandoverRecord.confirmed_at)) is None


def test_the_agencys_own_processing_events_accept_the_lines(
    client, clerk, agency_officer, create_dossier
):
    first = create_dossier()["code"]
    second = create_dossier()["code"]
    number = forward(client, clerk, [first, second]).get_json()["record"]["number"]
    given = add_working_days(today_vn(), 7)
    # The agency records `processing` itself (as its feed does: the same record_event).
    for code in (first, second):
        answer = client.post(
            f"/api/v1/dossiers/{code}/events",
            json={"status": "processing", "appointment_date": given.isoformat()},
            headers=agency_officer.headers,
        )
        assert answer.status_code == 201
        record = client.get(f"{URL}/{number}", headers=clerk.headers).get_json()
        if code == first:
            assert record["confirmed_at"] is None
            assert record["lines"][0]["accepted_at"] is not None
            assert record["lines"][0]["appointment_date"] == given.isoformat()
            assert record["lines"][1]["accepted_at"] is None
    assert record["confirmed_at"] is not None
    assert record["confirmed_by"] is None


def test_a_collection_run_through_the_scan_makes_a_result_record_per_agency(
    app, client, clerk, create_dossier, catalogue
):
    from tests.pages import sign_in
    from tests.test_pages_dossiers import outcomes, scan

    codes = []
    for procedure in ("1.001234", "1.009876", "1.001234"):
        code = create_dossier(procedure_code=procedure)["code"]
        codes.append(code)
        for status in ("forwarded", "processing", "result_ready"):
            staff_answer = client.post(
                f"/api/v1/dossiers/{code}/events", json={"status": status}, headers=clerk.headers
            )
            assert staff_answer.status_code == 201, staff_answer.get_json()
    sign_in(client, clerk.user.username)
    answer = scan(client, "result_collected", codes)
    assert {outcome for _code, outcome in outcomes(answer)} == {"recorded"}
    records = db.session.scalars(select(HandoverRecord).order_by(HandoverRecord.id)).all()
    assert [(r.kind, r.agency.code, len(r.lines)) for r in records] == [
        ("result", "000.00.01.H19", 2),
        ("result", "000.00.02.H19", 1),
    ]
    html = answer.get_data(as_text=True)
    for record in records:
        assert f'href="/handovers/{record.number}"' in html


def backdate(number: str, moment: datetime) -> None:
    db.session.execute(
        update(HandoverRecord).where(HandoverRecord.number == number).values(created_at=moment)
    )
    db.session.commit()


def open_anomalies() -> set[tuple[int, str]]:
    db.session.expire_all()
    return {
        (row.dossier_id, row.kind)
        for row in db.session.scalars(select(Anomaly).where(Anomaly.resolved_at.is_(None)))
    }


def test_unconfirmed_after_one_working_day_is_an_anomaly_resolved_on_confirmation(
    app, client, clerk, agency_officer, create_dossier, make_staff
):
    first = create_dossier()["code"]
    second = create_dossier()["code"]
    number = forward(client, clerk, [first, second]).get_json()["record"]["number"]
    # Made on Monday 2 June 2025 at 10:00; the sweep runs on Tuesday (not yet) and Wednesday.
    backdate(number, datetime(2025, 6, 2, 10, tzinfo=VN_TZ))
    ids = {dossier_of(first).id, dossier_of(second).id}

    sweeps.reconcile(datetime(2025, 6, 3, 16, tzinfo=VN_TZ))
    db.session.commit()
    assert not {a for a in open_anomalies() if a[1] == "handover_unconfirmed"}

    summary = sweeps.reconcile(datetime(2025, 6, 4, 9, tzinfo=VN_TZ))
    db.session.commit()
    assert summary["handover_unconfirmed"]["found"] == 2
    assert {a for a in open_anomalies() if a[1] == "handover_unconfirmed"} == {
        (dossier_id, "handover_unconfirmed") for dossier_id in ids
    }
    detail = db.session.scalar(select(Anomaly.detail).where(Anomaly.kind == "handover_unconfirmed"))
    assert number in detail

    # The manager's problems page lists the record (the real clock is long past its day).
    from tests.pages import sign_in, text_of

    manager = make_staff("manager")
    pages = app.test_client()
    sign_in(pages, manager.user.username)
    page = pages.get("/manager/problems")
    assert page.status_code == 200
    assert number in text_of(page)

    answer = client.post(f"{URL}/{number}/confirmation", json={}, headers=agency_officer.headers)
    assert answer.status_code == 200, answer.get_json()
    summary = sweeps.reconcile(datetime(2025, 6, 4, 10, tzinfo=VN_TZ) + timedelta(days=400))
    db.session.commit()
    assert summary["handover_unconfirmed"]["resolved"] == 2
    assert not {a for a in open_anomalies() if a[1] == "handover_unconfirmed"}
    assert number not in text_of(pages.get("/manager/problems"))


def test_scope_other_office_and_other_agency_answer_404(
    client, clerk, make_staff, catalogue, create_dossier
):
    code = create_dossier()["code"]
    number = forward(client, clerk, [code]).get_json()["record"]["number"]
    other_clerk = make_staff("clerk", office=catalogue.other_office)
    other_agency = make_staff("agency", agency=catalogue.other_agency)
    own_agency = make_staff("agency", agency=catalogue.agency)
    manager = make_staff("manager")
    for staff, status in [
        (clerk, 200),
        (own_agency, 200),
        (manager, 200),
        (other_clerk, 404),
        (other_agency, 404),
    ]:
        assert client.get(f"{URL}/{number}", headers=staff.headers).status_code == status
        listed = client.get(URL, headers=staff.headers).get_json()["items"]
        assert ([r["number"] for r in listed] == [number]) is (status == 200)
    refused = client.post(f"{URL}/{number}/confirmation", json={}, headers=other_agency.headers)
    assert refused.status_code == 404
    # Another office's clerk cannot forward this office's dossier either: it is unknown to them.
    fresh = create_dossier()["code"]
    answer = forward(client, other_clerk, [fresh])
    assert answer.status_code == 422


def test_search_by_number_dossier_code_agency_and_day(client, clerk, create_dossier):
    first = create_dossier()["code"]
    second = create_dossier(procedure_code="1.009876")["code"]
    one = forward(client, clerk, [first]).get_json()["record"]["number"]
    two = forward(client, clerk, [second], agency="000.00.02.H19").get_json()["record"]["number"]

    def numbers(query: str) -> list[str]:
        answer = client.get(f"{URL}?{query}", headers=clerk.headers)
        assert answer.status_code == 200, answer.get_json()
        return [r["number"] for r in answer.get_json()["items"]]

    assert numbers("") == [two, one]
    assert numbers(f"q={one[-5:]}") == [one]
    assert numbers(f"q={second}") == [two]
    assert numbers("agency=000.00.02.H19") == [two]
    assert numbers(f"day={today_vn().isoformat()}") == [two, one]
    assert numbers("day=2020-01-01") == []
    assert numbers("unconfirmed=true") == [two, one]
    assert client.get(f"{URL}?day=nope", headers=clerk.headers).status_code == 422
    lines = db.session.scalars(select(HandoverLine)).all()
    assert len(lines) == 2


def test_the_agency_feed_processing_events_confirm_the_record(
    client, clerk, create_dossier, catalogue, make_integration
):
    code = create_dossier()["code"]
    number = forward(client, clerk, [code]).get_json()["record"]["number"]
    feed = make_integration("feed:agency", agency=catalogue.agency)
    given = add_working_days(today_vn(), 9)
    event = {
        "event_id": "HS-1",
        "dossier_code": code,
        "status": "processing",
        "appointment_date": given.isoformat(),
        "occurred_at": utcnow().isoformat(),
    }
    body = post_batch(client, AGENCY, [event], feed).get_json()
    assert body["accepted"] == 1, body
    run_batch(body["batch_id"])
    record = client.get(f"{URL}/{number}", headers=clerk.headers).get_json()
    assert record["lines"][0]["appointment_date"] == given.isoformat()
    assert record["confirmed_at"] is not None and record["confirmed_by"] is None
    assert dossier_of(code).appointment_date == given


@pytest.mark.parametrize("role", ["clerk", "admin"])
def test_the_posts_own_processing_events_do_not_accept_the_agencys_lines(
    client, clerk, create_dossier, make_staff, role
):
    code = create_dossier()["code"]
    number = forward(client, clerk, [code]).get_json()["record"]["number"]
    staff = clerk if role == "clerk" else make_staff("admin")
    answer = client.post(
        f"/api/v1/dossiers/{code}/events",
        json={
            "status": "processing",
            "appointment_date": add_working_days(today_vn(), 7).isoformat(),
        },
        headers=staff.headers,
    )
    assert answer.status_code == 201, answer.get_json()
    assert dossier_of(code).status == "processing"
    record = client.get(f"{URL}/{number}", headers=clerk.headers).get_json()
    assert record["lines"][0]["accepted_at"] is None
    assert record["confirmed_at"] is None


def test_a_record_of_an_office_with_a_forty_character_code_is_numbered_and_found(
    client, clerk, create_dossier, catalogue
):
    code = create_dossier()["code"]
    catalogue.office.code = "BC-" + "9" * 37  # the longest office code the catalogue takes
    db.session.commit()
    answer = forward(client, clerk, [code])
    assert answer.status_code == 201, answer.get_json()
    number = answer.get_json()["record"]["number"]
    assert number == f"BB-{catalogue.office.code}-{local_date(utcnow()).year}-00001"
    assert len(number) > 50
    read = client.get(f"{URL}/{number}", headers=clerk.headers)
    assert read.status_code == 200, read.get_json()
    assert read.get_json()["number"] == number
    found = client.get(f"{URL}?q={number}", headers=clerk.headers).get_json()["items"]
    assert [item["number"] for item in found] == [number]


def test_only_the_audited_record_view_takes_the_write_lock(app):
    """The list writes nothing: it must not queue behind SQLite's writers; a record's view is
    audited, so it does."""
    for url, writes in [(URL, False), (f"{URL}/BB-810000-2026-00001", True)]:
        with app.test_request_context(url, method="GET"):
            g.pop("write_transaction", None)
            assert _wants_write_lock() is writes, url
    g.write_transaction = False  # the test's app context, as the fixture left it


def test_a_bad_date_is_named_by_its_dossier_code_as_on_the_page(
    client, clerk, agency_officer, create_dossier
):
    code = create_dossier()["code"]
    number = forward(client, clerk, [code]).get_json()["record"]["number"]
    answer = client.post(
        f"{URL}/{number}/confirmation",
        json={"appointment_dates": {code: "not a date", "X" * 41: "2030-01-01"}},
        headers=agency_officer.headers,
    )
    assert answer.status_code == 422
    assert set(answer.get_json()["error"]["fields"]) == {
        f"appointment_dates.{code}",
        f"appointment_dates.{'X' * 41}",
    }


def test_the_batch_signal_answers_the_records_themselves(app, clerk, create_dossier):
    """The receiver knows no page: it answers the records (the scan page builds their links),
    so a batch announced outside a request (a task, the CLI) works too."""
    from tracker.dossiers import signals

    code = create_dossier()["code"]
    answers = signals.batch_scanned.send(
        clerk.user, status="forwarded", dossiers=[dossier_of(code)], batch_id="ab" * 16
    )
    made = [paper for _receiver, papers in answers for paper in papers or []]
    assert [type(paper) for paper in made] == [HandoverRecord]
    assert [line.dossier.code for line in made[0].lines] == [code]


def test_a_batch_key_sent_again_with_more_codes_puts_them_on_a_record_of_their_own(
    client, clerk, create_dossier
):
    a, b, c = (create_dossier()["code"] for _ in range(3))
    first = forward(client, clerk, [a, b], batch_key="morning-run-2").get_json()
    assert [r["number"] for r in first["records"]] == [first["record"]["number"]]
    again = forward(client, clerk, [a, b, c], batch_key="morning-run-2")
    assert again.status_code == 201, again.get_json()
    body = again.get_json()
    assert body["refused"] == []
    # The signed sheet is untouched; the new code is on a record of its own.
    assert body["record"]["number"] == first["record"]["number"]
    assert [[line["dossier_code"] for line in r["lines"]] for r in body["records"]] == [
        [a, b],
        [c],
    ]
    assert events_of(c) == ["received", "forwarded"]
    # The same list once more makes nothing new.
    third = forward(client, clerk, [a, b, c], batch_key="morning-run-2").get_json()
    assert [r["number"] for r in third["records"]] == [r["number"] for r in body["records"]]
    assert db.session.scalar(select(db.func.count(HandoverRecord.id))) == 2
    on_records = db.session.scalars(
        select(Dossier.code).join(HandoverLine, HandoverLine.dossier_id == Dossier.id)
    ).all()
    assert sorted(on_records) == sorted([a, b, c])


@pytest.mark.postgres_only
def test_a_batch_key_taken_meanwhile_by_a_concurrent_request_is_read_again(
    client, clerk, create_dossier, monkeypatch
):
    code = create_dossier()["code"]
    make = operations._new_record
    taken: list[str] = []

    def competitor_first(kind, dossiers, actor, key):
        if not taken:
            # Another request sending the same batch commits its record with this key first.
            taken.append(key)
            with db.engine.begin() as other:
                other.execute(
                    HandoverRecord.__table__.insert().values(
                        number="BB-RACE-2026-00001", kind=kind, office_id=actor.office_id,
                        agency_id=dossiers[0].agency_id, batch_key=key, created_at=utcnow(),
                    )
                )  # fmt: skip
        return make(kind, dossiers, actor, key)

    monkeypatch.setattr(operations, "_new_record", competitor_first)

    answer = forward(client, clerk, [code], batch_key="racebatch1")

    assert answer.status_code == 201, answer.get_json()
    records = answer.get_json()["records"]
    assert records[0]["number"] == "BB-RACE-2026-00001"
    assert [line["dossier_code"] for line in records[-1]["lines"]] == [code]
    keys = db.session.scalars(select(HandoverRecord.batch_key).order_by(HandoverRecord.id)).all()
    assert keys == [taken[0], f"{taken[0]}~2"]
