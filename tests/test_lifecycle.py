"""The lifecycle: the transition table, `record_event` and the deadline clock.

Dossiers are created through the intake operation (`make_dossier`) and moved with the operations
directly (the request's commit is played by `db.session.commit()`), with a few checks through the
REST API. Every moment is explicit and in the past, so nothing depends on today's date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from tests.conftest import dossier_payload, intake_data
from tracker.calendar import VN_TZ, utcnow
from tracker.dossiers import lifecycle, operations
from tracker.dossiers.lifecycle import REGISTERED, STATUSES, TERMINAL
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.dossiers.timeliness import timeliness
from tracker.errors import (
    Forbidden,
    StaleVersion,
    TransitionNotAllowed,
    ValidationFailed,
)
from tracker.extensions import db

FORMS = ("two_way", "return_only", "send_only")

# The transition table as DESIGN section 3 describes it, written out independently of the code,
# each list in lifecycle order.
EXPECTED_NEXT: dict[str, dict[str, list[str]]] = {
    "two_way": {
        "received": ["forwarded", "withdrawn"],
        "forwarded": ["processing", "supplement_required", "rejected", "withdrawn"],
        "processing": ["supplement_required", "rejected", "result_ready", "withdrawn"],
        "supplement_required": ["processing", "rejected", "withdrawn"],
        "rejected": ["result_collected"],
        "result_ready": ["result_collected"],
        "result_collected": ["out_for_delivery", "delivered"],
        "out_for_delivery": ["delivery_failed", "delivered"],
        "delivery_failed": ["out_for_delivery", "delivered", "returned_to_agency"],
    },
    "return_only": {
        # A return registration: the agency's result, then the post fetches it.
        "registered": ["result_ready", "withdrawn"],
        "result_ready": ["result_collected"],
        "result_collected": ["out_for_delivery", "delivered"],
        "out_for_delivery": ["delivery_failed", "delivered"],
        "delivery_failed": ["out_for_delivery", "delivered", "returned_to_agency"],
    },
    "send_only": {
        "received": ["forwarded", "withdrawn"],
        "forwarded": ["processing", "supplement_required", "rejected", "withdrawn"],
        "processing": ["supplement_required", "rejected", "result_ready", "withdrawn"],
        "supplement_required": ["processing", "rejected", "withdrawn"],
        "rejected": ["collected_in_person"],
        "result_ready": ["collected_in_person"],
    },
}

# Paths that together take every transition of each form's table, ending in a terminal status.
PATHS: dict[str, list[list[str]]] = {
    "two_way": [
        [
            "forwarded",
            "processing",
            "supplement_required",
            "processing",
            "result_ready",
            "result_collected",
            "out_for_delivery",
            "delivery_failed",
            "out_for_delivery",
            "delivered",
        ],
        ["forwarded", "supplement_required", "rejected", "result_collected", "delivered"],
        [
            "forwarded",
            "rejected",
            "result_collected",
            "out_for_delivery",
            "delivery_failed",
            "returned_to_agency",
        ],
        [
            "forwarded",
            "processing",
            "rejected",
            "result_collected",
            "out_for_delivery",
            "delivery_failed",
            "delivered",
        ],
        ["withdrawn"],
        ["forwarded", "withdrawn"],
        ["forwarded", "processing", "withdrawn"],
        ["forwarded", "supplement_required", "withdrawn"],
    ],
    "return_only": [
        ["out_for_delivery", "delivered"],
        ["delivered"],
        ["out_for_delivery", "delivery_failed", "out_for_delivery", "delivery_failed", "delivered"],
        ["out_for_delivery", "delivery_failed", "returned_to_agency"],
        # From a return registration (a path starting with its first status).
        [REGISTERED, "result_ready", "result_collected", "out_for_delivery", "delivered"],
        [REGISTERED, "withdrawn"],
    ],
    "send_only": [
        ["forwarded", "processing", "result_ready", "collected_in_person"],
        [
            "forwarded",
            "supplement_required",
            "processing",
            "supplement_required",
            "rejected",
            "collected_in_person",
        ],
        ["forwarded", "rejected", "collected_in_person"],
        ["forwarded", "processing", "rejected", "collected_in_person"],
        ["withdrawn"],
        ["forwarded", "withdrawn"],
        ["forwarded", "processing", "withdrawn"],
        ["forwarded", "supplement_required", "withdrawn"],
    ],
}


def vn(*args: int) -> datetime:
    """A moment given in Vietnam time."""
    return datetime(*args, tzinfo=VN_TZ)


# Monday 2 June 2025, no holiday within three weeks.
MONDAY = vn(2025, 6, 2, 8, 0)


def move(dossier: Dossier, status: str, when: datetime, **kwargs) -> operations.EventOutcome:
    kwargs.setdefault("source", "counter")
    if status == "delivery_failed":
        kwargs.setdefault("failure_reason", "absent")
        kwargs.setdefault("note", "Không có người nhận")
    if status == "delivered":
        kwargs.setdefault("receiver", {"name": "Trần Thị Bình", "relation": "family"})
    outcome = operations.record_event(dossier, status, occurred_at=when, **kwargs)
    db.session.commit()
    return outcome


def walk(
    dossier: Dossier, statuses: list[str], start: datetime, step: timedelta = timedelta(hours=1)
) -> datetime:
    when = start
    for status in statuses:
        when += step
        assert move(dossier, status, when).applied
    return when


def registration(when: datetime) -> Dossier:
    """A return registration (`initial_status` registered) logged at `when`."""
    data = intake_data("return_only", received_at=when, agency_reference=f"HS-{uuid4().hex[:12]}")
    dossier, _secret = operations.create_dossier(data, None, initial_status=REGISTERED)
    db.session.commit()
    return dossier


def event_count(dossier: Dossier) -> int:
    return db.session.scalar(
        select(func.count()).select_from(StatusEvent).where(StatusEvent.dossier_id == dossier.id)
    )


def assert_refuses_all_but_allowed(dossier: Dossier, when: datetime) -> None:
    """Every status outside the table raises, lists what may follow, and leaves no trace."""
    form, current = dossier.service_form, dossier.status
    expected = EXPECTED_NEXT[form].get(current, [])
    assert lifecycle.allowed_next(form, current) == expected
    events, version = event_count(dossier), dossier.version
    for target in STATUSES:
        if target in expected:
            continue
        with pytest.raises(TransitionNotAllowed) as refused:
            operations.record_event(
                dossier, target, source="counter", occurred_at=when, note="lý do"
            )
        assert refused.value.extra == {"current_status": current, "allowed": expected}
        assert refused.value.fields == {
            "status": [f"allowed after {current}: {', '.join(expected) or 'none'}"]
        }
    # The count query autoflushes: an event left pending by a refusal would be counted here.
    assert event_count(dossier) == events
    assert dossier.status == current
    assert dossier.version == version


# ---- the table itself ------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_transition_table_matches_design(form):
    for current in STATUSES:
        expected = EXPECTED_NEXT[form].get(current, [])
        assert lifecycle.allowed_next(form, current) == expected, current
        for target in STATUSES:
            assert lifecycle.is_allowed(form, current, target) is (target in expected), target


@pytest.mark.parametrize("form", FORMS)
def test_terminal_statuses_allow_nothing(form):
    assert sorted(TERMINAL) == [
        "collected_in_person",
        "delivered",
        "returned_to_agency",
        "withdrawn",
    ]
    for status in TERMINAL:
        assert lifecycle.allowed_next(form, status) == []


def test_initial_statuses():
    assert lifecycle.INITIAL_STATUS == {
        "two_way": "received",
        "send_only": "received",
        "return_only": "result_collected",
    }


@pytest.mark.parametrize("form", FORMS)
def test_paths_cover_every_transition(form):
    taken = set()
    for path in PATHS[form]:
        statuses = path if path[0] == REGISTERED else [lifecycle.INITIAL_STATUS[form], *path]
        taken.update(pairwise(statuses))
        assert statuses[-1] in TERMINAL
    table = {(a, b) for a, after in EXPECTED_NEXT[form].items() for b in after}
    assert taken == table


# ---- walking the table through record_event ----------------------------------------------


@pytest.mark.parametrize(
    ("form", "initial", "first_allowed"),
    [
        ("two_way", "received", ["forwarded", "withdrawn"]),
        ("send_only", "received", ["forwarded", "withdrawn"]),
        ("return_only", "result_collected", ["out_for_delivery", "delivered"]),
    ],
)
def test_initial_status_per_form(app, make_dossier, form, initial, first_allowed):
    dossier = make_dossier(form, received_at=MONDAY)
    assert dossier.status == initial
    assert dossier.status_changed_at == MONDAY
    assert dossier.version == 1
    assert dossier.closed_at is None
    [event] = db.session.scalars(select(StatusEvent).where(StatusEvent.dossier_id == dossier.id))
    assert (event.from_status, event.to_status, event.applied) == (None, initial, True)
    assert event.occurred_at == MONDAY
    assert lifecycle.allowed_next(form, dossier.status) == first_allowed


@pytest.mark.parametrize("form", FORMS)
def test_every_path_through_record_event(app, make_dossier, form):
    for path in PATHS[form]:
        if path[0] == REGISTERED:
            dossier, path = registration(MONDAY), path[1:]
        else:
            dossier = make_dossier(form, received_at=MONDAY)
        when = MONDAY
        history = [dossier.status]
        for status in path:
            when += timedelta(hours=2)
            assert_refuses_all_but_allowed(dossier, when)
            version = dossier.version
            outcome = move(dossier, status, when)
            assert outcome.applied is True
            assert outcome.duplicate is False
            assert (outcome.event.from_status, outcome.event.to_status) == (history[-1], status)
            assert dossier.status == status
            assert dossier.status_changed_at == when
            assert dossier.version == version + 1
            history.append(status)
        # A terminal status: everything is refused, and the dossier is closed when it got there.
        assert_refuses_all_but_allowed(dossier, when + timedelta(hours=1))
        assert dossier.closed_at == when
        events = db.session.scalars(
            select(StatusEvent)
            .where(StatusEvent.dossier_id == dossier.id)
            .order_by(StatusEvent.occurred_at, StatusEvent.id)
        )
        assert [e.to_status for e in events] == history


def test_two_way_happy_path_bookkeeping(app, make_dossier):
    dossier = make_dossier("two_way", received_at=MONDAY)
    walk(dossier, ["forwarded", "processing"], MONDAY)
    assert dossier.result_at is None
    result = vn(2025, 6, 10, 15, 0)
    move(dossier, "result_ready", result)
    assert dossier.result_at == result
    assert dossier.closed_at is None
    end = walk(dossier, ["result_collected", "out_for_delivery", "delivered"], result)
    assert dossier.status == "delivered"
    assert dossier.closed_at == end
    assert dossier.result_at == result


def test_refusal_sets_result_time_and_is_still_returned(app, make_dossier):
    dossier = make_dossier("two_way", received_at=MONDAY)
    when = walk(dossier, ["forwarded"], MONDAY)
    refused = when + timedelta(days=1)
    move(dossier, "rejected", refused)
    assert dossier.result_at == refused
    assert dossier.closed_at is None
    assert lifecycle.allowed_next("two_way", dossier.status) == ["result_collected"]


# ---- record_event rules --------------------------------------------------------------------


def test_same_source_event_is_applied_once(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    when = MONDAY + timedelta(hours=3)
    first = move(dossier, "forwarded", when, source="postal_feed", source_event_id="VNP-1")
    assert (first.applied, first.duplicate) == (True, False)
    version, events = dossier.version, event_count(dossier)

    again = move(dossier, "forwarded", when, source="postal_feed", source_event_id="VNP-1")
    assert (again.applied, again.duplicate) == (True, True)
    assert again.event.id == first.event.id
    assert event_count(dossier) == events
    assert dossier.version == version
    assert dossier.status == "forwarded"


def test_duplicate_is_recognised_even_when_it_no_longer_fits(app, make_dossier):
    # A feed resends an event after the dossier has moved on: it must be recognised, not refused.
    dossier = make_dossier(received_at=MONDAY)
    move(
        dossier,
        "forwarded",
        MONDAY + timedelta(hours=1),
        source="postal_feed",
        source_event_id="VNP-2",
    )
    move(dossier, "processing", MONDAY + timedelta(hours=2))
    again = move(
        dossier,
        "forwarded",
        MONDAY + timedelta(hours=1),
        source="postal_feed",
        source_event_id="VNP-2",
    )
    assert again.duplicate is True
    assert dossier.status == "processing"
    assert event_count(dossier) == 3


def test_same_event_id_from_another_source_is_another_event(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    move(
        dossier,
        "forwarded",
        MONDAY + timedelta(hours=1),
        source="postal_feed",
        source_event_id="42",
    )
    other = move(
        dossier, "processing", MONDAY + timedelta(hours=2), source="agency", source_event_id="42"
    )
    assert (other.applied, other.duplicate) == (True, False)
    assert dossier.status == "processing"


def test_same_event_id_on_another_dossier_is_another_event(app, make_dossier):
    # Agencies number their events independently, and a clerk may reuse a scan label: an event id
    # identifies an event within one dossier's history.
    first = make_dossier(received_at=MONDAY)
    second = make_dossier(received_at=MONDAY)
    when = MONDAY + timedelta(hours=1)
    move(first, "forwarded", when, source="agency", source_event_id="42")
    outcome = move(second, "forwarded", when, source="agency", source_event_id="42")
    assert (outcome.applied, outcome.duplicate) == (True, False)
    assert (first.status, second.status) == ("forwarded", "forwarded")
    assert event_count(second) == 2


def test_late_event_is_kept_without_moving_the_status(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    walk(dossier, ["forwarded", "processing"], MONDAY, step=timedelta(days=1))
    assert dossier.status_changed_at == MONDAY + timedelta(days=2)
    version, changed_at = dossier.version, dossier.status_changed_at

    # The agency's supplement request of the day before arrives only now.
    late = move(
        dossier,
        "supplement_required",
        MONDAY + timedelta(days=1, hours=5),
        source="agency",
        source_event_id="ONE-STOP-7",
    )
    assert (late.applied, late.duplicate) == (False, False)
    assert late.event.applied is False
    assert late.event.from_status is None
    assert dossier.status == "processing"
    assert dossier.status_changed_at == changed_at
    assert dossier.version == version
    assert dossier.supplement_since is None
    assert event_count(dossier) == 4

    # Its resend is a duplicate of the late event.
    again = move(
        dossier,
        "supplement_required",
        MONDAY + timedelta(days=1, hours=5),
        source="agency",
        source_event_id="ONE-STOP-7",
    )
    assert (again.applied, again.duplicate) == (False, True)
    assert event_count(dossier) == 4


def test_late_event_is_kept_even_if_it_would_not_fit(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    walk(dossier, ["forwarded"], MONDAY, step=timedelta(days=1))
    late = move(dossier, "delivered", MONDAY + timedelta(hours=1))
    assert late.applied is False
    assert dossier.status == "forwarded"
    assert dossier.closed_at is None


def test_event_at_the_same_moment_as_the_last_change_is_applied(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    assert move(dossier, "forwarded", MONDAY).applied is True
    assert dossier.status == "forwarded"


def test_stale_expected_version_is_refused(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    assert dossier.version == 1
    move(dossier, "forwarded", MONDAY + timedelta(hours=1), expected_version=1)
    assert dossier.version == 2
    with pytest.raises(StaleVersion) as stale:
        operations.record_event(
            dossier,
            "processing",
            source="counter",
            expected_version=1,
            occurred_at=MONDAY + timedelta(hours=2),
        )
    assert stale.value.extra == {"current_version": 2}
    assert event_count(dossier) == 2
    assert dossier.status == "forwarded"
    assert move(dossier, "processing", MONDAY + timedelta(hours=2), expected_version=2).applied


def test_future_event_beyond_tolerance_is_refused(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    with pytest.raises(ValidationFailed) as future:
        operations.record_event(
            dossier, "forwarded", source="counter", occurred_at=utcnow() + timedelta(minutes=11)
        )
    assert future.value.fields == {"occurred_at": ["must not be in the future"]}
    assert event_count(dossier) == 1
    # A scanner clock a few minutes fast is tolerated.
    assert move(dossier, "forwarded", utcnow() + timedelta(minutes=5)).applied is True


def test_default_occurred_at_is_now(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    before = utcnow()
    outcome = move(dossier, "forwarded", None)
    assert before <= outcome.event.occurred_at <= utcnow()
    assert dossier.status_changed_at == outcome.event.occurred_at


@pytest.mark.parametrize("status", ["forwarded", "result_collected", "delivered"])
def test_agency_officer_cannot_record_post_statuses(app, make_dossier, make_staff, status):
    officer = make_staff("agency").user
    dossier = make_dossier(received_at=MONDAY)
    with pytest.raises(Forbidden) as refused:
        operations.record_event(
            dossier, status, source="agency", actor=officer, occurred_at=MONDAY + timedelta(hours=1)
        )
    assert refused.value.fields == {
        "status": [
            "must be one of collected_in_person, processing, rejected, result_ready, "
            "supplement_required, withdrawn"
        ]
    }
    assert event_count(dossier) == 1


def test_agency_officer_records_agency_statuses(app, make_dossier, make_staff):
    officer = make_staff("agency").user
    dossier = make_dossier(received_at=MONDAY)
    move(dossier, "forwarded", MONDAY + timedelta(hours=1))
    for hours, status in enumerate(
        ["processing", "supplement_required", "processing", "result_ready"], start=2
    ):
        outcome = move(
            dossier, status, MONDAY + timedelta(hours=hours), source="agency", actor=officer
        )
        assert outcome.applied is True
        assert outcome.event.actor_id == officer.id
    assert dossier.status == "result_ready"


# ---- through the REST API --------------------------------------------------------------------


def post_event(client, staff, code, **body):
    return client.post(f"/api/v1/dossiers/{code}/events", json=body, headers=staff.headers)


def test_api_refusal_lists_allowed_statuses(client, clerk, create_dossier):
    code = create_dossier(received_at="2025-06-02T08:00:00+07:00")["code"]
    response = post_event(
        client, clerk, code, status="delivered", occurred_at="2025-06-02T09:00:00+07:00"
    )
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "transition_not_allowed"
    assert error["current_status"] == "received"
    assert error["allowed"] == ["forwarded", "withdrawn"]
    assert error["fields"] == {"status": ["allowed after received: forwarded, withdrawn"]}


def test_api_duplicate_and_late_events(client, clerk, create_dossier):
    code = create_dossier(received_at="2025-06-02T08:00:00+07:00")["code"]
    first = post_event(
        client,
        clerk,
        code,
        status="forwarded",
        source_event_id="scan-1",
        occurred_at="2025-06-02T10:00:00+07:00",
    )
    assert first.status_code == 201
    assert first.get_json()["duplicate"] is False
    assert first.get_json()["dossier"]["appointment_date"] == "2025-06-16"

    again = post_event(
        client,
        clerk,
        code,
        status="forwarded",
        source_event_id="scan-1",
        occurred_at="2025-06-02T10:00:00+07:00",
    )
    assert again.status_code == 201
    assert again.get_json()["duplicate"] is True
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["dossier"]["version"] == 2

    # A time without an offset is Vietnam time: 09:00 is before the hand-over at 10:00.
    late = post_event(client, clerk, code, status="withdrawn", occurred_at="2025-06-02T09:00:00")
    assert late.status_code == 201
    assert late.get_json()["applied"] is False
    assert late.get_json()["dossier"]["status"]["code"] == "forwarded"

    history = client.get(f"/api/v1/dossiers/{code}/events", headers=clerk.headers).get_json()
    assert [(e["to_status"]["code"], e["applied"]) for e in history] == [
        ("received", True),
        ("withdrawn", False),
        ("forwarded", True),
    ]


def test_api_event_id_of_another_dossier_is_applied_there(client, clerk, create_dossier):
    first = create_dossier(received_at="2025-06-02T08:00:00+07:00")["code"]
    second = create_dossier(received_at="2025-06-02T08:00:00+07:00")["code"]
    when = "2025-06-02T10:00:00+07:00"
    for code in (first, second):
        response = post_event(
            client, clerk, code, status="forwarded", source_event_id="scan-9", occurred_at=when
        )
        assert response.status_code == 201
        assert response.get_json()["duplicate"] is False
    again = post_event(
        client, clerk, second, status="forwarded", source_event_id="scan-9", occurred_at=when
    )
    assert again.get_json()["duplicate"] is True
    history = client.get(f"/api/v1/dossiers/{second}/events", headers=clerk.headers).get_json()
    assert [e["to_status"]["code"] for e in history] == ["received", "forwarded"]


def test_api_stale_version(client, clerk, create_dossier):
    code = create_dossier(received_at="2025-06-02T08:00:00+07:00")["code"]
    ok = post_event(
        client,
        clerk,
        code,
        status="forwarded",
        expected_version=1,
        occurred_at="2025-06-02T10:00:00+07:00",
    )
    assert ok.status_code == 201
    stale = post_event(
        client,
        clerk,
        code,
        status="processing",
        expected_version=1,
        occurred_at="2025-06-02T11:00:00+07:00",
    )
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale_version"
    assert stale.get_json()["error"]["current_version"] == 2


def test_api_future_event(client, clerk, create_dossier):
    code = create_dossier()["code"]
    future = (utcnow() + timedelta(hours=1)).isoformat()
    response = post_event(client, clerk, code, status="forwarded", occurred_at=future)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"occurred_at": ["must not be in the future"]}


def test_api_agency_officer_limited_to_agency_statuses(client, make_staff, create_dossier, clerk):
    officer = make_staff("agency")
    code = create_dossier(received_at="2025-06-02T08:00:00+07:00")["code"]
    refused = post_event(
        client, officer, code, status="forwarded", occurred_at="2025-06-02T10:00:00+07:00"
    )
    assert refused.status_code == 403
    post_event(client, clerk, code, status="forwarded", occurred_at="2025-06-02T10:00:00+07:00")
    accepted = post_event(
        client, officer, code, status="processing", occurred_at="2025-06-03T10:00:00+07:00"
    )
    assert accepted.status_code == 201
    assert accepted.get_json()["source"] == "agency"


# ---- the clock -------------------------------------------------------------------------------


def test_forwarding_sets_the_statutory_appointment(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    assert (dossier.appointment_date, dossier.due_date) == (None, None)
    move(dossier, "forwarded", vn(2025, 6, 2, 10, 0))
    # Monday 2/6 + 10 working days: 3, 4, 5, 6, 9, 10, 11, 12, 13, 16 June.
    assert dossier.appointment_date == date(2025, 6, 16)
    assert dossier.due_date == date(2025, 6, 16)


def test_statutory_appointment_skips_tet(app, make_dossier):
    dossier = make_dossier(received_at=vn(2026, 2, 11, 9, 0))
    move(dossier, "forwarded", vn(2026, 2, 12, 10, 0))
    # Thursday 12/2/2026 + 10: Fri 13, (Tết 16-20), 23, 24, 25, 26, 27 Feb, 2, 3, 4, 5 March.
    assert dossier.appointment_date == date(2026, 3, 5)


def test_hand_over_day_is_taken_in_vietnam_time(app, make_dossier):
    dossier = make_dossier(received_at=vn(2025, 6, 5, 8, 0))
    # Thursday 17:30 UTC is Friday 00:30 in Vietnam: the hand-over day is Friday 6/6.
    move(dossier, "forwarded", datetime(2025, 6, 5, 17, 30, tzinfo=UTC))
    # Friday 6/6 + 10: 9, 10, 11, 12, 13, 16, 17, 18, 19, 20 June (from Thursday it would be 19).
    assert dossier.appointment_date == date(2025, 6, 20)


def test_explicit_appointment_on_the_event_wins(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    move(dossier, "forwarded", vn(2025, 6, 2, 10, 0), appointment_date=date(2025, 7, 1))
    assert dossier.appointment_date == date(2025, 7, 1)
    assert dossier.due_date == date(2025, 7, 1)


def test_appointment_given_at_intake_is_kept_at_hand_over(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY, appointment_date=date(2025, 6, 30))
    assert dossier.due_date == date(2025, 6, 30)
    move(dossier, "forwarded", vn(2025, 6, 2, 10, 0))
    assert dossier.appointment_date == date(2025, 6, 30)


def test_api_intake_with_an_appointment_date(client, clerk, catalogue):
    # compute_due_date() runs before the INSERT applies the supplement_days column default.
    response = client.post(
        "/api/v1/dossiers",
        headers=clerk.headers,
        json=dossier_payload(
            received_at="2025-06-02T08:00:00+07:00", appointment_date="2025-06-13"
        ),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["appointment_date"], body["due_date"]) == ("2025-06-13", "2025-06-13")
    assert body["supplement_days"] == 0


def test_agency_date_replaces_the_statutory_one(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    move(dossier, "forwarded", vn(2025, 6, 2, 10, 0))
    assert dossier.appointment_date == date(2025, 6, 16)
    move(dossier, "processing", vn(2025, 6, 3, 9, 0), appointment_date=date(2025, 6, 20))
    assert dossier.appointment_date == date(2025, 6, 20)
    assert dossier.due_date == date(2025, 6, 20)


def test_supplement_pauses_the_clock(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    move(dossier, "forwarded", vn(2025, 6, 2, 10, 0))  # appointment Monday 16 June
    move(dossier, "processing", vn(2025, 6, 3, 9, 0))
    asked = vn(2025, 6, 4, 15, 0)  # Wednesday
    move(dossier, "supplement_required", asked)
    assert dossier.supplement_since == asked
    assert dossier.supplement_days == 0
    assert dossier.due_date == date(2025, 6, 16)
    # Waiting for the citizen, long past the appointment: paused, never overdue.
    assert dossier.is_overdue(date(2025, 7, 31)) is False
    assert timeliness(dossier, date(2025, 7, 31)) == "paused"

    move(dossier, "processing", vn(2025, 6, 11, 9, 0))  # the next Wednesday
    # Thu 5, Fri 6, Mon 9, Tue 10, Wed 11: 5 working days spent waiting.
    assert dossier.supplement_days == 5
    assert dossier.supplement_since is None
    assert dossier.appointment_date == date(2025, 6, 16)
    # 16 June + 5 working days: 17, 18, 19, 20, 23.
    assert dossier.due_date == date(2025, 6, 23)
    assert dossier.is_overdue(date(2025, 6, 23)) is False
    assert timeliness(dossier, date(2025, 6, 23)) == "on_track"
    assert dossier.is_overdue(date(2025, 6, 24)) is True
    assert timeliness(dossier, date(2025, 6, 24)) == "overdue"

    # A second request adds up.
    move(dossier, "supplement_required", vn(2025, 6, 12, 9, 0))  # Thursday
    move(dossier, "processing", vn(2025, 6, 16, 16, 0))  # Monday: Fri 13, Mon 16
    assert dossier.supplement_days == 7
    assert dossier.due_date == date(2025, 6, 25)

    # Once the result is ready the agency's clock has stopped.
    move(dossier, "result_ready", vn(2025, 6, 27, 9, 0))
    assert dossier.is_overdue(date(2025, 7, 31)) is False
    walk(dossier, ["result_collected", "out_for_delivery", "delivered"], vn(2025, 6, 27, 9, 0))
    assert timeliness(dossier, date(2025, 7, 31)) == "late"


def test_supplement_days_skip_tet(app, make_dossier):
    dossier = make_dossier(received_at=vn(2026, 2, 11, 9, 0))
    move(dossier, "forwarded", vn(2026, 2, 12, 8, 0))  # appointment 5 March
    move(dossier, "supplement_required", vn(2026, 2, 12, 14, 0))  # Thursday before Tết
    move(dossier, "processing", vn(2026, 2, 24, 10, 0))
    # Fri 13, (weekend, Tết 16-20, weekend), Mon 23, Tue 24: 3 working days.
    assert dossier.supplement_days == 3
    # 5 March + 3: Fri 6, Mon 9, Tue 10.
    assert dossier.due_date == date(2026, 3, 10)


def test_supplement_ended_by_withdrawal_or_refusal_is_counted(app, make_dossier):
    for end in ("withdrawn", "rejected"):
        dossier = make_dossier(received_at=MONDAY)
        move(dossier, "forwarded", vn(2025, 6, 2, 10, 0))
        move(dossier, "supplement_required", vn(2025, 6, 3, 10, 0))  # Tuesday
        move(dossier, end, vn(2025, 6, 5, 10, 0))  # Thursday: Wed 4, Thu 5
        assert dossier.supplement_days == 2, end
        assert dossier.supplement_since is None
        assert dossier.due_date == date(2025, 6, 18)


@pytest.mark.parametrize(
    ("status_path", "overdue"),
    [
        ([], True),  # received, with an appointment given at intake
        (["forwarded"], True),
        (["forwarded", "processing"], True),
        (["forwarded", "supplement_required"], False),  # paused
        (["forwarded", "processing", "result_ready"], False),
        (["forwarded", "rejected"], False),
        (["forwarded", "processing", "result_ready", "result_collected"], False),
        (["withdrawn"], False),
    ],
)
def test_overdue_by_status(app, make_dossier, status_path, overdue):
    dossier = make_dossier(received_at=MONDAY, appointment_date=date(2025, 6, 16))
    walk(dossier, status_path, MONDAY)
    assert dossier.due_date == date(2025, 6, 16)
    assert dossier.is_overdue(date(2025, 6, 16)) is False
    assert dossier.is_overdue(date(2025, 6, 17)) is overdue


def test_not_overdue_without_appointment(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    assert dossier.is_overdue(date(2030, 1, 1)) is False
    assert timeliness(dossier, date(2030, 1, 1)) == "unknown"


# ---- timeliness of delivered results ----------------------------------------------------------


def deliver_two_way(make_dossier, delivered_at: datetime) -> Dossier:
    dossier = make_dossier(received_at=MONDAY)
    move(dossier, "forwarded", vn(2025, 6, 2, 10, 0))  # appointment Monday 16 June
    walk(
        dossier,
        ["processing", "result_ready", "result_collected", "out_for_delivery"],
        vn(2025, 6, 2, 10, 0),
    )
    move(dossier, "delivered", delivered_at)
    assert dossier.due_date == date(2025, 6, 16)
    return dossier


@pytest.mark.parametrize(
    ("delivered_at", "expected"),
    [
        (vn(2025, 6, 13, 10, 0), "early"),
        (vn(2025, 6, 16, 0, 30), "on_time"),
        (vn(2025, 6, 16, 23, 30), "on_time"),
        # 16:30 UTC on the 16th is 23:30 in Vietnam: still the appointment day.
        (datetime(2025, 6, 16, 16, 30, tzinfo=UTC), "on_time"),
        # 17:30 UTC on the 16th is already the 17th in Vietnam.
        (datetime(2025, 6, 16, 17, 30, tzinfo=UTC), "late"),
        (vn(2025, 6, 20, 9, 0), "late"),
    ],
)
def test_delivered_early_on_time_late(app, make_dossier, delivered_at, expected):
    dossier = deliver_two_way(make_dossier, delivered_at)
    assert dossier.closed_at == delivered_at
    # A delivered dossier's verdict does not depend on the day it is asked.
    assert timeliness(dossier, date(2025, 6, 1)) == expected
    assert timeliness(dossier, date(2030, 1, 1)) == expected


def test_collected_in_person_is_judged_too(app, make_dossier):
    dossier = make_dossier("send_only", received_at=MONDAY)
    move(dossier, "forwarded", vn(2025, 6, 2, 10, 0))
    walk(dossier, ["processing", "result_ready"], vn(2025, 6, 2, 10, 0))
    move(dossier, "collected_in_person", vn(2025, 6, 16, 15, 0))
    assert timeliness(dossier) == "on_time"


def test_return_only_with_agency_appointment(app, make_dossier):
    dossier = make_dossier("return_only", received_at=MONDAY, appointment_date=date(2025, 6, 3))
    move(dossier, "delivered", vn(2025, 6, 4, 9, 0))
    assert timeliness(dossier) == "late"


def test_closed_without_delivery_is_not_applicable(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    move(dossier, "forwarded", vn(2025, 6, 2, 10, 0))
    move(dossier, "withdrawn", vn(2025, 6, 3, 10, 0))
    assert timeliness(dossier) == "not_applicable"

    returned = make_dossier("return_only", received_at=MONDAY, appointment_date=date(2025, 6, 3))
    walk(returned, ["out_for_delivery", "delivery_failed", "returned_to_agency"], MONDAY)
    assert timeliness(returned) == "not_applicable"


def test_api_exposes_overdue_and_due_date(client, clerk, create_dossier):
    code = create_dossier(received_at="2025-06-02T08:00:00+07:00")["code"]
    response = post_event(
        client, clerk, code, status="forwarded", occurred_at="2025-06-02T10:00:00+07:00"
    )
    body = response.get_json()["dossier"]
    assert body["due_date"] == "2025-06-16"
    # 16 June 2025 is long past whatever today is.
    assert body["overdue"] is True


def test_result_on_its_way_after_the_date_is_late(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    move(dossier, "forwarded", vn(2025, 6, 2, 10, 0))  # appointment Monday 16 June
    walk(dossier, ["processing", "result_ready", "result_collected"], vn(2025, 6, 2, 10, 0))
    assert timeliness(dossier, date(2025, 6, 16)) == "on_track"
    assert timeliness(dossier, date(2025, 6, 17)) == "late"


def test_agency_date_given_after_a_supplement_replaces_the_paused_days(app, make_dossier):
    dossier = make_dossier(received_at=MONDAY)
    move(dossier, "forwarded", vn(2025, 6, 2, 10, 0))
    move(dossier, "supplement_required", vn(2025, 6, 4, 15, 0))
    move(dossier, "processing", vn(2025, 6, 11, 9, 0))
    assert (dossier.supplement_days, dossier.due_date) == (5, date(2025, 6, 23))

    move(dossier, "supplement_required", vn(2025, 6, 12, 9, 0))
    move(dossier, "processing", vn(2025, 6, 16, 9, 0), appointment_date=date(2025, 6, 30))
    assert dossier.supplement_days == 0
    assert dossier.due_date == date(2025, 6, 30)
