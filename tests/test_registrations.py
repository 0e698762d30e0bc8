"""Return registrations (issue 13, items 4 and 5): a one-way dossier registered at an agency's desk
before its result exists, the agency's feed naming it by the agency's own code, the clerk's
collection run, and how it counts (DESIGN 4: on the day the post fetches the result)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests import test_feeds
from tests.conftest import intake_data
from tests.pages import csrf_of, sign_in, text_of
from tests.test_feeds import AGENCY, post_batch, run_batch
from tracker.calendar import local_date, utcnow
from tracker.dossiers import lifecycle, operations, registrations
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.feeds.models import FeedEvent
from tracker.notifications.models import Notification
from tracker.reports import recompute
from tracker.reports.models import DailyCount
from tracker.sweeps.models import Anomaly
from tracker.sweeps.operations import mark_overdue_and_stuck, reconcile
from tracker.unit_of_work import unit_of_work

URL = "/api/v1/registrations"
# The feeds' fixture: integration accounts, tied to an agency or not.
make_integration = test_feeds.make_integration
LABEL_VI = "Đã đăng ký trả kết quả qua bưu điện"
LABEL_EN = "Registered for return by post"


DROP = object()


def payload(**overrides) -> dict:
    """A registration's payload; an override DROP leaves its field out."""
    data = {
        "agency_code": "000.00.01.H19",
        "agency_reference": "HS-2025-000123",
        "procedure_code": "1.004567",
        "applicant": {"name": "Lê Thị Cúc", "phone": "0912345678"},
        "delivery_address": "7 Hà Huy Giáp, Biên Hòa, Đồng Nai",
        "fee_vnd": 30000,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not DROP}


@pytest.fixture
def register(client, clerk):
    def post(staff=None, **overrides):
        return client.post(URL, json=payload(**overrides), headers=(staff or clerk).headers)

    return post


def locked(code: str) -> Dossier:
    """The dossier, row-locked, inside the caller's unit of work (as the API's handlers)."""
    return db.session.scalar(
        select(Dossier).where(Dossier.code == code).with_for_update(of=Dossier)
    )


def dossier_of(code: str) -> Dossier:
    db.session.expire_all()
    return db.session.scalar(select(Dossier).where(Dossier.code == code))


def count_dossiers() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Dossier.id)))


# ---- the lifecycle and the national mapping ---------------------------------------------------


def test_registered_in_the_lifecycle_and_the_national_mapping():
    label = lifecycle.status_label("registered")
    assert (label["label_vi"], label["label_en"]) == (LABEL_VI, LABEL_EN)
    # No national code: the one-stop system keeps its own status for its dossier.
    assert label["national_code"] is None
    assert lifecycle.allowed_next("return_only", "registered") == ["result_ready", "withdrawn"]
    assert lifecycle.allowed_next("return_only", "result_ready") == ["result_collected"]
    assert lifecycle.allowed_next("return_only", "result_collected") == [
        "out_for_delivery",
        "delivered",
    ]
    # Counter intake and imports still start a one-way dossier with its result in hand.
    assert lifecycle.INITIAL_STATUS["return_only"] == "result_collected"
    assert "registered" not in lifecycle.reachable("two_way")
    assert lifecycle.status_label("result_ready")["national_code"] == 9
    assert lifecycle.status_label("delivered")["national_code"] == 10


# ---- creating ---------------------------------------------------------------------------------


def test_a_clerk_registers_a_return(app, client, clerk, register):
    response = register(note="Đăng ký tại Trung tâm Hành chính công")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["service_form"]["code"] == "return_only"
    assert body["status"]["code"] == "registered"
    assert body["agency_reference"] == "HS-2025-000123"
    assert body["office"]["code"] == "810000"
    assert len(body["lookup_secret"]) >= 10
    # Read through the dossier endpoints.
    read = client.get(f"/api/v1/dossiers/{body['code']}", headers=clerk.headers)
    assert read.status_code == 200
    assert read.get_json()["status"]["code"] == "registered"
    events = client.get(f"/api/v1/dossiers/{body['code']}/events", headers=clerk.headers)
    assert [e["to_status"]["code"] for e in events.get_json()] == ["registered"]
    # The citizen gets an SMS like the counter's receipt (no secret in it).
    db.session.expire_all()
    sms = db.session.scalar(select(Notification).where(Notification.channel == "sms"))
    assert sms.kind == "registered"
    assert sms.body == f"Hồ sơ {body['code']}: {LABEL_VI}. Giữ biên nhận để tra cứu."
    assert body["lookup_secret"] not in sms.body


def test_who_may_register(client, make_staff, register):
    for role in ("agency", "manager", "hotline", "postman"):
        assert register(make_staff(role)).status_code == 403, role
    admin = make_staff("admin")
    assert register(admin).status_code == 422  # an admin names the office
    created = register(admin, office_code="811000")
    assert created.status_code == 201
    assert created.get_json()["office"]["code"] == "811000"


def test_a_repeated_agency_reference_is_409_naming_the_dossier_only_to_who_may_see_it(
    client, catalogue, clerk, make_staff, register
):
    first = register().get_json()
    before = count_dossiers()
    again = register()
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert first["code"] in error["message"]
    assert error["fields"]["agency_reference"] == [f"already used by dossier {first['code']}"]
    # A clerk of another office may not see the first dossier: it is not named.
    other = make_staff("clerk", office=catalogue.other_office)
    hidden = register(other)
    assert hidden.status_code == 409
    assert first["code"] not in hidden.get_data(as_text=True)
    assert hidden.get_json()["error"]["fields"] == {
        "agency_reference": ["already used by another dossier of this agency"]
    }
    assert count_dossiers() == before
    # The counter's intake and a correction keep to the same rule.
    intake = client.post(
        "/api/v1/dossiers",
        json={
            "service_form": "two_way",
            "procedure_code": "1.001234",
            "applicant": {"name": "An", "phone": "0912345678"},
            "delivery_address": "1 Lê Duẩn",
            "agency_reference": "HS-2025-000123",
        },
        headers=clerk.headers,
    )
    assert intake.status_code == 409
    second = register(agency_reference="HS-2025-000124").get_json()
    patch = client.patch(
        f"/api/v1/dossiers/{second['code']}",
        json={"version": 1, "agency_reference": "HS-2025-000123"},
        headers=clerk.headers,
    )
    assert patch.status_code == 409
    assert dossier_of(second["code"]).agency_reference == "HS-2025-000124"


def test_the_database_holds_one_reference_per_agency(app, catalogue, make_dossier):
    make_dossier("two_way", agency_reference="HS-1")
    # Another agency may use the same code for its own dossier.
    make_dossier("two_way", procedure_code="1.009876", agency_reference="HS-1")
    with unit_of_work():
        dossier, _secret = operations.create_dossier(intake_data("two_way"), None)
    dossier = dossier_of(dossier.code)
    dossier.agency_reference = "HS-1"  # around the operation's check: the index still says no
    with pytest.raises(Exception, match=r"(?i)unique"):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agency_reference": DROP}, "agency_reference"),
        ({"agency_reference": None}, "agency_reference"),
        ({"agency_reference": ""}, "agency_reference"),
        ({"agency_reference": "x" * 81}, "agency_reference"),
        ({"agency_code": "000.00.99.H19"}, "agency_code"),
        ({"agency_code": "000.00.02.H19"}, "agency_code"),  # not the procedure's agency
        ({"procedure_code": "9.999999"}, "procedure_code"),
        ({"delivery_address": DROP}, "delivery_address"),
        ({"delivery_address": ""}, "delivery_address"),
        ({"applicant": {"name": "An", "phone": "12"}}, "applicant.phone"),
        ({"fee_vnd": -1}, "fee_vnd"),
        ({"office_code": "811000"}, "office_code"),  # a clerk registers for their own office
        ({"service_form": "two_way"}, "service_form"),  # not a field of a registration
    ],
)
def test_bad_input_is_422_naming_the_field(catalogue, register, change, field):
    before = count_dossiers()
    response = register(**change)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert count_dossiers() == before


def test_withdrawn_before_the_result_only(client, clerk, register):
    code = register().get_json()["code"]
    withdrawn = client.post(
        f"/api/v1/dossiers/{code}/events", json={"status": "withdrawn"}, headers=clerk.headers
    )
    assert withdrawn.status_code == 201
    assert dossier_of(code).status == "withdrawn"
    other = register(agency_reference="HS-2").get_json()["code"]
    for status in ("result_ready", "withdrawn"):
        answer = client.post(
            f"/api/v1/dossiers/{other}/events", json={"status": status}, headers=clerk.headers
        )
        if status == "result_ready":
            assert answer.status_code == 201
    assert answer.status_code == 409
    assert answer.get_json()["error"]["allowed"] == ["result_collected"]


# ---- the agency's feed by its own code --------------------------------------------------------


def test_the_agency_feed_names_a_registration_by_its_reference(
    client, catalogue, register, make_integration
):
    code = register().get_json()["code"]
    tied = make_integration("feed:agency", agency=catalogue.agency)
    # Whole seconds, as feeds send them: the next one, after the registration.
    now = utcnow().replace(microsecond=0) + timedelta(seconds=1)
    events = [
        {
            "event_id": "a1",
            "agency_reference": "HS-2025-000123",
            "status": "result_ready",
            "occurred_at": now.isoformat(),
        },
        {
            "event_id": "a2",
            "agency_reference": "HS-NOPE",
            "status": "result_ready",
            "occurred_at": now.isoformat(),
        },
        # Both keys, or neither: refused at the door, by index and field.
        {
            "event_id": "a3",
            "agency_reference": "HS-2025-000123",
            "dossier_code": code,
            "status": "result_ready",
            "occurred_at": now.isoformat(),
        },
        {"event_id": "a4", "status": "result_ready", "occurred_at": now.isoformat()},
    ]
    answer = post_batch(client, AGENCY, events, tied)
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (2, "dossier_code"),
        (3, "dossier_code"),
    ]
    run_batch(body["batch_id"])
    db.session.expire_all()
    outcomes = dict(db.session.execute(select(FeedEvent.event_id, FeedEvent.state)).tuples().all())
    assert outcomes == {"a1": "applied", "a2": "rejected"}
    error = db.session.scalar(select(FeedEvent.error).where(FeedEvent.event_id == "a2"))
    assert "HS-NOPE" in error
    dossier = dossier_of(code)
    assert dossier.status == "result_ready"
    event = db.session.scalar(
        select(StatusEvent)
        .where(StatusEvent.dossier_id == dossier.id, StatusEvent.applied)
        .order_by(StatusEvent.id.desc())
    )
    assert (event.source, event.source_event_id) == ("agency_feed", "a1")
    # An account tied to an agency names no other agency's dossiers, even naming that agency.
    second = register(agency_reference="HS-9").get_json()["code"]
    # After this registration: an event older than a dossier's last change does not move it.
    later = utcnow().replace(microsecond=0) + timedelta(seconds=1)
    by_name = {
        "event_id": "b1",
        "agency_reference": "HS-9",
        "agency_code": "000.00.01.H19",
        "status": "result_ready",
        "occurred_at": later.isoformat(),
    }
    other_agency = make_integration("feed:agency", agency=catalogue.other_agency)
    refused = post_batch(client, AGENCY, [by_name], other_agency).get_json()
    run_batch(refused["batch_id"])
    assert dossier_of(second).status == "registered"
    accepted = post_batch(client, AGENCY, [by_name], tied).get_json()
    run_batch(accepted["batch_id"])
    assert dossier_of(second).status == "result_ready"


# ---- the clerk's queue and collection run -----------------------------------------------------


def ready(client, clerk, code: str) -> None:
    answer = client.post(
        f"/api/v1/dossiers/{code}/events", json={"status": "result_ready"}, headers=clerk.headers
    )
    assert answer.status_code == 201, answer.get_json()


def results_at_agency(pages) -> str:
    """The work queue's section "Results ready at the agency", as the signed-in clerk sees it."""
    queue = pages.get("/dossiers").get_data(as_text=True)
    section = queue[queue.index('id="results_at_agency"') :]
    return section[: section.index("</section>")]


def collection_run(pages, lines: list[str]):
    """The batch scan's collection run (its event fixed) over `lines`, by the signed-in clerk:
    the answer and the outcome of each line."""
    page = pages.get("/dossiers/scan?mode=collect")
    html = page.get_data(as_text=True)
    assert 'name="status" value="result_collected"' in html
    batch = re.search(r'name="batch" value="([0-9a-f]+)"', html).group(1)
    answer = pages.post(
        "/dossiers/scan",
        data={
            "csrf_token": csrf_of(page),
            "batch": batch,
            "mode": "collect",
            "status": "result_collected",
            "codes": "\n".join(lines),
            "note": "",
        },
    )
    assert answer.status_code == 200
    return answer, re.findall(r'<tr class="outcome-([a-z_]+)">', answer.get_data(as_text=True))


def test_the_queue_lists_results_ready_at_the_agency_and_a_collection_run_fetches_them(
    app, catalogue, client, clerk, make_staff, register
):
    first = register().get_json()["code"]
    second = register(agency_reference="HS-2").get_json()["code"]
    waiting = register(agency_reference="HS-3").get_json()["code"]
    other = make_staff("clerk", office=catalogue.other_office)
    elsewhere = register(other, agency_reference="HS-4").get_json()["code"]
    for code in (first, second):
        ready(client, clerk, code)
    ready(client, other, elsewhere)
    pages = app.test_client()
    sign_in(pages, clerk.user.username)
    section = results_at_agency(pages)
    assert "Sở Tư pháp tỉnh Đồng Nai" in section  # grouped under the agency
    assert first in section and second in section
    assert waiting not in section and elsewhere not in section
    assert "/dossiers/scan?mode=collect" in section
    lines = [first, "000.00.01.H19-990101-0001", waiting, elsewhere, second]
    answer, rows = collection_run(pages, lines)
    assert "Nhận kết quả tại cơ quan giải quyết" in text_of(answer)  # the collection run's title
    assert rows == ["recorded", "not_found", "not_allowed", "not_found", "recorded"]
    assert [dossier_of(c).status for c in (first, second, waiting, elsewhere)] == [
        "result_collected",
        "result_collected",
        "registered",
        "result_ready",
    ]


# ---- counting ---------------------------------------------------------------------------------


def taken_by_day() -> dict:
    db.session.expire_all()
    rows = db.session.execute(
        select(DailyCount.day, func.sum(DailyCount.taken))
        .where(DailyCount.service_form == "return_only")
        .group_by(DailyCount.day)
    )
    return {day: taken for day, taken in rows if taken}


def register_at(moment, reference: str, **overrides) -> str:
    """A registration logged (back-dated to `moment`) through the operation; its code."""
    data = intake_data(
        "return_only",
        procedure_code="1.004567",
        received_at=moment,
        agency_code="000.00.01.H19",
        agency_reference=reference,
        **overrides,
    )
    data.pop("service_form")
    with unit_of_work():
        dossier, _secret = registrations.register_return(data, None)
    return dossier.code


def test_a_registration_counts_one_one_way_on_the_day_the_post_fetches_its_result(app, catalogue):
    now = utcnow()
    registered_at = now - timedelta(days=3)
    code = register_at(registered_at, "HS-77")
    # Nothing at registration, by the rollups and by the recompute.
    assert taken_by_day() == {}
    with unit_of_work():
        assert recompute.recompute_year(local_date(registered_at).year).fixed == 0
    with unit_of_work():
        dossier = locked(code)
        operations.record_event(
            dossier, "result_ready", source="agency_feed", occurred_at=now - timedelta(days=2)
        )
    assert taken_by_day() == {}
    collected_at = now - timedelta(days=1)
    with unit_of_work():
        dossier = locked(code)
        operations.record_event(
            dossier, "result_collected", source="counter", occurred_at=collected_at
        )
    assert taken_by_day() == {local_date(collected_at): 1}
    # A counter intake of a one-way dossier still counts on its day of receipt.
    with unit_of_work():
        operations.create_dossier(
            intake_data("return_only", procedure_code="1.004567", received_at=registered_at),
            None,
        )
    assert taken_by_day() == {local_date(collected_at): 1, local_date(registered_at): 1}
    for year in {local_date(registered_at).year, local_date(now).year}:
        with unit_of_work():
            assert recompute.recompute_year(year).fixed == 0
    # The recompute repairs a registration's count as it does any other.
    with unit_of_work():
        db.session.execute(DailyCount.__table__.delete())
    with unit_of_work():
        fixed = recompute.recompute_year(local_date(collected_at).year)
    assert fixed.daily.inserted >= 1
    assert taken_by_day() == {local_date(collected_at): 1, local_date(registered_at): 1}


def test_the_dashboard_shows_registrations_awaiting_results(
    app, client, clerk, make_staff, register
):
    register()
    code = register(agency_reference="HS-2").get_json()["code"]
    ready(client, clerk, code)
    collected = register(agency_reference="HS-3").get_json()["code"]
    ready(client, clerk, collected)
    client.post(
        f"/api/v1/dossiers/{collected}/events",
        json={"status": "result_collected"},
        headers=clerk.headers,
    )
    manager = make_staff("manager")
    pages = app.test_client()
    sign_in(pages, manager.user.username)
    html = pages.get("/manager").get_data(as_text=True)
    assert re.search(r"data-awaiting>2<", html), html[html.find("pipeline") :][:600]
    filtered = pages.get("/manager?office=811000").get_data(as_text=True)
    assert re.search(r"data-awaiting>0<", filtered)


# ---- the lookup, sweeps -----------------------------------------------------------------------


def test_the_lookup_says_registered_in_both_languages(app, client, register):
    body = register().get_json()
    answer = client.get(
        "/api/v1/track", query_string={"code": body["code"], "secret": body["lookup_secret"]}
    )
    status = answer.get_json()["status"]
    assert (status["code"], status["label_vi"], status["label_en"]) == (
        "registered",
        LABEL_VI,
        LABEL_EN,
    )
    page = app.test_client()
    query = {"code": body["code"], "secret": body["lookup_secret"]}
    assert LABEL_VI in text_of(page.get("/track", query_string=query))
    page.set_cookie("lang", "en")
    english = text_of(page.get("/track", query_string=query))
    assert LABEL_EN in english and LABEL_VI not in english


def test_sweeps_know_registrations(app, catalogue, today):
    late = register_at(
        utcnow() - timedelta(days=50), "HS-1", appointment_date=today - timedelta(days=40)
    )
    uncollected = register_at(utcnow() - timedelta(days=50), "HS-2")
    with unit_of_work():
        dossier = locked(uncollected)
        dossier_row = dossier
        operations.record_event(
            dossier_row, "result_ready", source="agency_feed", occurred_at=utcnow()
        )
        # As if the agency's result had come long ago.
        dossier_row.result_at = utcnow() - timedelta(days=30)
    with unit_of_work():
        mark_overdue_and_stuck()
        reconcile(full=True)
    assert dossier_of(late).overdue_since is not None  # the agency's date has passed
    kinds = {(a.dossier_id, a.kind) for a in db.session.scalars(select(Anomaly))}
    assert (dossier_of(uncollected).id, "result_not_collected") in kinds
