"""Rollups: kept in step with the dossiers and events by the operations, and recomputed nightly.

The property test records random dossiers and events through the real operations (late events,
events sent twice, moments either side of midnight on 31 December in Vietnam) and compares the
four rollup tables with a plain GROUP BY written here, over the rows themselves (the totals summed
from it here too); then the recompute must find nothing to fix, and repair what the test
corrupts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import OperationalError

from tests.conftest import empty_tables, intake_data
from tests.test_imports import csv_bytes, result_row, upload
from tracker.calendar import VN_TZ
from tracker.dossiers import lifecycle, operations
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.imports import runner
from tracker.reports import recompute
from tracker.reports.models import (
    DailyCount,
    DailyTotal,
    MonthlyCount,
    MonthlyTotal,
    ReportSnapshot,
)

MEASURES = ("taken", "delivered", "early", "on_time", "late", "overdue")
CUBE_KEY = ("office_id", "channel_id", "procedure_id", "agency_id", "service_form")
TOTAL_KEY = ("dimension", "member_id", "partner_id", "service_form")
# The result's name of each table, and the test's own copy of what a total keeps of a cube key
# (office_id, channel_id, procedure_id, agency_id, service_form).
TABLES = {
    "daily": DailyCount,
    "monthly": MonthlyCount,
    "daily_totals": DailyTotal,
    "monthly_totals": MonthlyTotal,
}
# What a test keeps between examples: the catalogue and the migrations' reference data.
KEPT = frozenset(
    {"agencies", "channels", "sectors", "offices", "procedures", "users", "api_tokens"}
    | {"postal_event_codes"}
)
FORWARD = frozenset(
    {"forwarded", "processing", "result_ready", "result_collected", "delivered"}
    | {"collected_in_person"}
)
PROCEDURES = {
    "two_way": ("1.001234", "1.009876"),
    "send_only": ("1.001234", "1.009876"),
    "return_only": ("1.004567", "1.001234"),
    # A return registration: a return_only dossier logged `registered`, before its result.
    "registration": ("1.004567", "1.001234"),
}
OFFICES = ("810000", "811000", "HL1022")
# 15:00 UTC on 31 December is 22:00 in Vietnam: dossiers come in from then to 04:00 UTC the
# next day (11:00 on 1 January in Vietnam), across the year's end there and not in UTC.
YEAR_END = datetime(2024, 12, 31, 15, 0, tzinfo=UTC)


# The reference: what each rollup row must hold, straight from the rows --------------------------


def local_day(moment: datetime) -> date:
    return moment.astimezone(VN_TZ).date()


def reference() -> dict[str, dict]:
    """The rows of each table by key, computed from the dossiers and their applied events."""
    daily: dict[tuple, Counter] = {}

    def add(dossier: Dossier, day: date, measure: str) -> None:
        key = (day, dossier.office_id, dossier.channel_id, dossier.procedure_id)
        key += (dossier.agency_id, dossier.service_form)
        daily.setdefault(key, Counter())[measure] += 1

    dossiers = {d.id: d for d in db.session.scalars(select(Dossier))}
    applied_events = list(db.session.scalars(select(StatusEvent).where(StatusEvent.applied)))
    # A registration is taken the day the post fetches its result, not the day it is logged.
    registrations = {
        e.dossier_id
        for e in applied_events
        if e.from_status is None and e.to_status == lifecycle.REGISTERED
    }
    for dossier in dossiers.values():
        if dossier.id not in registrations:
            add(dossier, local_day(dossier.received_at), "taken")
    for applied in applied_events:
        dossier, day = dossiers[applied.dossier_id], local_day(applied.occurred_at)
        due = dossier.due_date
        if dossier.id in registrations and applied.to_status == "result_collected":
            add(dossier, day, "taken")
        if applied.to_status in ("delivered", "collected_in_person"):
            add(dossier, day, "delivered")
            if due is not None:
                add(dossier, day, "early" if day < due else "on_time" if day == due else "late")
        elif applied.to_status in ("result_ready", "rejected") and due is not None and day > due:
            add(dossier, day, "overdue")
    monthly: dict[tuple, Counter] = {}
    for (day, *rest), counts in daily.items():
        monthly.setdefault((day.replace(day=1), *rest), Counter()).update(counts)
    tables = {"daily": daily, "monthly": monthly}
    for name, cube in (("daily_totals", daily), ("monthly_totals", monthly)):
        tables[name] = {}
        for (period, office, channel, procedure, agency, form), counts in cube.items():
            by_office = (period, "office", office, channel, form)
            by_procedure = (period, "procedure", procedure, agency, form)
            for total in (by_office, by_procedure):
                tables[name].setdefault(total, Counter()).update(counts)
    return {name: _as_rows(counts) for name, counts in tables.items()}


def _as_rows(counts: dict[tuple, Counter]) -> dict[tuple, tuple[int, ...]]:
    return {key: tuple(c[m] for m in MEASURES) for key, c in counts.items()}


def key_columns(model) -> tuple[str, ...]:
    period = "day" if model in (DailyCount, DailyTotal) else "month"
    return (period, *(CUBE_KEY if model in (DailyCount, MonthlyCount) else TOTAL_KEY))


def stored(model) -> dict[tuple, tuple[int, ...]]:
    return {
        tuple(getattr(row, k) for k in key_columns(model)): tuple(getattr(row, m) for m in MEASURES)
        for row in db.session.scalars(select(model))
    }


def assert_rollups_match() -> None:
    db.session.commit()
    db.session.expire_all()
    expected = reference()
    for name, model in TABLES.items():
        assert stored(model) == expected[name], name


def clean() -> None:
    empty_tables(KEPT)


# Random dossiers and events through the operations ----------------------------------------------

steps = st.lists(
    st.tuples(
        # next: a step towards the result (else few dossiers would get far); any: whatever the
        # table allows; late: before the last applied event; again: an event sent again.
        st.sampled_from(["next", "next", "next", "next", "any", "late", "again"]),
        st.integers(0, 10_000),  # which status of those allowed
        # Minutes after the last applied event (late: before it): within the hour, or days.
        st.integers(0, 90) | st.integers(12 * 60, 60 * 60),
        st.booleans(),  # commit after it
    ),
    min_size=2,
    max_size=10,
)
dossier_plans = st.lists(
    st.fixed_dictionaries(
        {
            "form": st.sampled_from(sorted(PROCEDURES)),
            "procedure": st.integers(0, 1),
            "office": st.sampled_from(OFFICES),
            "minutes": st.integers(0, 13 * 60),
            # Days after receipt; without one, two-way and send-only get the procedure's
            # 10 or 15 working days at hand-over, and a one-way dossier no date at all.
            "appointment": st.sampled_from([None, 0, 1, 2, 3, 4, 5]),
            "steps": steps,
        }
    ),
    min_size=1,
    max_size=5,
)


def plan(form: str, *, appointment: int | None = None, steps=(), minutes: int = 0) -> dict:
    """A dossier's plan written out (office 810000, the form's first procedure)."""
    return {
        "form": form,
        "procedure": 0,
        "office": "810000",
        "minutes": minutes,
        "appointment": appointment,
        "steps": list(steps),
    }


def play(make_dossier: Callable[..., Dossier], spec: dict, serial: int) -> None:
    received_at = YEAR_END + timedelta(minutes=spec["minutes"])
    form = spec["form"]
    appointment = spec["appointment"]
    overrides = {
        "received_at": received_at,
        "procedure_code": PROCEDURES[form][spec["procedure"]],
        "office_code": spec["office"],
        "appointment_date": None
        if appointment is None
        else local_day(received_at) + timedelta(days=appointment),
    }
    if form == "registration":
        data = intake_data("return_only", agency_reference=f"HS-{serial}", **overrides)
        dossier, _secret = operations.create_dossier(
            data, None, initial_status=lifecycle.REGISTERED
        )
        db.session.commit()
    else:
        dossier = make_dossier(form, **overrides)
    sent: list[tuple[str, datetime, str]] = []
    for number, (kind, choice, minutes, commit) in enumerate(spec["steps"]):
        event = _next_event(dossier, kind, choice, minutes, sent)
        if event is None:
            continue
        status, when, event_id = event
        operations.record_event(
            dossier,
            status,
            source="agency",
            occurred_at=when,
            source_event_id=event_id or f"{serial}-{number}",
            note="khách vắng nhà",
            **proof_of(status),
        )
        sent.append((status, when, event_id or f"{serial}-{number}"))
        if commit:
            db.session.commit()
    db.session.commit()


def proof_of(status: str) -> dict:
    """What a delivered or failed event needs besides its status (tracker.dossiers.delivery)."""
    if status == "delivered":
        return {"receiver": {"name": "Trần Thị Bình", "relation": "family"}}
    if status == "delivery_failed":
        return {"failure_reason": "absent"}
    return {}


def _next_event(dossier, kind, choice, minutes, sent):
    """(status, occurred_at, source_event_id or None) of the step, or None when it cannot be."""
    if kind == "again":
        return sent[choice % len(sent)] if sent else None
    if kind == "late":
        span = (dossier.status_changed_at - dossier.received_at).total_seconds() // 60
        if span < 1:
            return None
        statuses = sorted(lifecycle.reachable(dossier.service_form))
        when = dossier.received_at + timedelta(minutes=minutes % span)
        return statuses[choice % len(statuses)], when, None
    allowed = lifecycle.allowed_next(dossier.service_form, dossier.status)
    if kind == "next":
        allowed = [status for status in allowed if status in FORWARD] or allowed
    if not allowed:
        return None
    return (
        allowed[choice % len(allowed)],
        dossier.status_changed_at + timedelta(minutes=minutes),
        None,
    )


# Corrupting the tables, and the fixes it takes ------------------------------------------------


def corrupt() -> dict[str, Counter]:
    """In each table: change the first row, delete the last, add one that nothing explains (in
    a year of its own, except the daily totals'); return the fixes expected per table."""
    bogus = {
        "daily": date(2022, 6, 1),
        "monthly": date(2025, 3, 1),
        "daily_totals": date(2024, 2, 29),
        # Before any other row: the totals tables count among those giving the years to check.
        "monthly_totals": date(2021, 11, 1),
    }
    fixes = {}
    for name, model in TABLES.items():
        period = getattr(model, key_columns(model)[0])
        rows = db.session.scalars(select(model).order_by(*key_columns(model))).all()
        rows[0].taken += 3
        fixes[name] = Counter(updated=1)
        if len(rows) > 1:
            db.session.delete(rows[-1])
            fixes[name]["inserted"] += 1
        values = {k: getattr(rows[0], k) for k in key_columns(model)[1:]}
        db.session.add(model(**{period.key: bogus[name]}, **values, taken=2, **_zero(MEASURES[1:])))
        fixes[name]["deleted"] += 1
    db.session.commit()
    return fixes


def _zero(measures) -> dict[str, int]:
    return dict.fromkeys(measures, 0)


def fixes_of(results, table: str) -> Counter:
    """The fixes of `table` over the years of `results`, as corrupt() counts them."""
    total = Counter()
    for result in results:
        fixes = getattr(result, table)
        total.update(inserted=fixes.inserted, updated=fixes.updated, deleted=fixes.deleted)
    return +total


def run_recompute() -> list[recompute.RecomputeResult]:
    results = recompute.recompute_all()
    db.session.commit()
    return results


# Tests -----------------------------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans=dossier_plans)
@example(  # every measure at least once: on time, early, and an overdue result delivered late
    plans=[
        plan("return_only", appointment=0, steps=[("next", 0, 60, True)]),
        plan("return_only", appointment=2, steps=[("next", 0, 60, False)]),
        plan("send_only", appointment=0, steps=[("next", 0, 24 * 60, True)] * 4),
        # Registered on 31 December, its result fetched (and so counted) in the new year.
        plan("registration", steps=[("next", 0, 24 * 60, True)] * 3),
    ]
)
def test_rollups_equal_a_group_by_and_the_recompute_repairs_them(app, make_dossier, plans):
    clean()
    for serial, spec in enumerate(plans):
        play(make_dossier, spec, serial)
    assert_rollups_match()
    counted = Counter()
    for counts in stored(DailyCount).values():
        counted.update(dict(zip(MEASURES, counts, strict=True)))
    for measure in MEASURES:
        event(f"{measure} counted" if counted[measure] else f"no {measure}")

    untouched = run_recompute()
    assert [r.fixed for r in untouched] == [0] * len(untouched)
    assert_rollups_match()
    if not stored(DailyCount):
        # Only registrations whose result the post never fetched: no row to corrupt.
        return

    expected_fixes = corrupt()
    repaired = run_recompute()
    assert {name: fixes_of(repaired, name) for name in TABLES} == expected_fixes
    assert sum(r.fixed for r in repaired) == sum(c.total() for c in expected_fixes.values())
    # From the year of the first bogus row to the year of the last event.
    assert [r.year for r in repaired] == [2021, 2022, 2023, 2024, 2025]
    assert_rollups_match()
    assert sum(r.fixed for r in run_recompute()) == 0


def test_a_late_event_and_a_resent_one_count_nothing(app, make_dossier):
    """The worked example: delivered on its due date, just after midnight on 1 January in
    Vietnam (still 31 December in UTC); the late and resent events change nothing."""
    received = datetime(2024, 12, 27, 2, 0, tzinfo=UTC)
    dossier = make_dossier(
        "send_only",
        received_at=received,
        procedure_code="1.009876",
        office_code="811000",
        appointment_date=date(2024, 12, 31),
    )
    for status, hour in (("forwarded", 3), ("processing", 4), ("result_ready", 5)):
        operations.record_event(
            dossier, status, source="agency", occurred_at=received + timedelta(days=2, hours=hour)
        )
    db.session.commit()
    # 17:30 UTC on 31 December is 00:30 on 1 January in Vietnam: a day after the due date.
    after_midnight = datetime(2024, 12, 31, 17, 30, tzinfo=UTC)
    for _ in range(2):
        operations.record_event(
            dossier,
            "collected_in_person",
            source="agency",
            occurred_at=after_midnight,
            source_event_id="ev-1",
        )
        db.session.commit()
    late = operations.record_event(
        dossier, "rejected", source="agency", occurred_at=received + timedelta(days=3)
    )
    db.session.commit()
    assert late.applied is False
    assert_rollups_match()
    daily = stored(DailyCount)
    days = {key[0]: counts for key, counts in daily.items()}
    assert days == {
        date(2024, 12, 27): (1, 0, 0, 0, 0, 0),
        date(2025, 1, 1): (0, 1, 0, 0, 1, 0),
    }
    assert [r.fixed for r in run_recompute()] == [0, 0]


def test_imported_dossiers_are_counted(app, client, make_staff, catalogue):
    officer = make_staff("agency", agency=catalogue.agency)
    rows = [result_row(n) for n in range(1, 6)]
    response = upload(client, officer, csv_bytes(rows))
    assert response.status_code == 202, response.get_json()
    runner.run_job(response.get_json()["id"])
    db.session.commit()
    assert db.session.query(Dossier).count() == 5
    assert_rollups_match()
    daily = stored(DailyCount)
    assert sum(counts[0] for counts in daily.values()) == 5
    assert {key[-1] for key in daily} == {"return_only"}
    assert sum(r.fixed for r in run_recompute()) == 0


def test_recompute_of_one_year_leaves_the_others(app, make_dossier):
    play(make_dossier, plan("two_way"), 0)
    # 22:00 on 31 December 2024 in Vietnam: counted in 2024, not in 2025.
    db.session.execute(update(DailyCount).values(taken=7))
    db.session.commit()
    assert recompute.recompute_year(2025).fixed == 0
    db.session.commit()
    assert [counts[0] for counts in stored(DailyCount).values()] == [7]
    result = recompute.recompute_year(2024)
    db.session.commit()
    assert (result.daily.updated, result.monthly.updated, result.fixed) == (1, 0, 1)
    assert result.as_dict()["daily"] == {"inserted": 0, "updated": 1, "deleted": 0}
    assert_rollups_match()


def test_the_totals_are_fixed_from_the_fixed_cube(app, make_dossier):
    play(make_dossier, plan("two_way"), 0)
    # One dossier taken: a row in each cube table, an office and a procedure row in each total.
    db.session.execute(update(DailyTotal).where(DailyTotal.dimension == "office").values(taken=7))
    db.session.execute(update(MonthlyTotal).values(late=1))
    db.session.commit()
    result = recompute.recompute_year(2024)
    db.session.commit()
    untouched = {"inserted": 0, "updated": 0, "deleted": 0}
    assert result.as_dict() == {
        "year": 2024,
        "daily": untouched,
        "monthly": untouched,
        "daily_totals": {"inserted": 0, "updated": 1, "deleted": 0},
        # Against the daily totals as just fixed: else the office row would be "fixed" to 7.
        "monthly_totals": {"inserted": 0, "updated": 2, "deleted": 0},
        "fixed": 3,
    }
    assert_rollups_match()


def test_nothing_to_recompute_without_data(app):
    assert recompute.years_to_recompute() == []
    assert recompute.recompute_year(2024).fixed == 0


def test_commands_recompute_and_snapshot(app, make_dossier):
    play(make_dossier, plan("return_only", appointment=1, steps=[("next", 0, 60, True)]), 0)
    db.session.execute(update(DailyCount).values(taken=7))
    db.session.execute(update(MonthlyTotal).values(taken=7))
    db.session.commit()
    runner = app.test_cli_runner()

    result = runner.invoke(args=["report", "recompute", "--year", "2024"])
    assert result.exit_code == 0, result.output
    assert result.output == "2024: 3 row(s) fixed: daily 1 updated; monthly_totals 2 updated\n"
    result = runner.invoke(args=["report", "recompute"])
    assert result.output == "2024: correct\n1 year(s), 0 row(s) fixed\n"
    assert_rollups_match()

    result = runner.invoke(args=["report", "snapshot", "--year", "2024"])
    assert result.exit_code == 0, result.output
    assert result.output == "report of 2024 as of 2024-12-31 stored\n"
    snapshot = db.session.scalar(select(ReportSnapshot))
    assert (snapshot.year, snapshot.as_of, snapshot.data["year"]) == (
        2024,
        date(2024, 12, 31),
        2024,
    )

    result = runner.invoke(args=["report", "recompute", "--year", "24"])
    assert result.exit_code == 1
    assert "year: must be a year from 2000 to 2100" in result.output


@pytest.mark.postgres_only  # SQLite has one writer at a time anyway
def test_a_fix_holds_writers_off_until_it_commits_and_a_check_does_not(app, make_dossier):
    play(make_dossier, plan("return_only"), 0)
    # Another period's row in each table: no row lock of the fix is in its way, only the table's.
    other_writers = []
    for model in TABLES.values():
        period, *key = key_columns(model)
        row = db.session.scalars(select(model)).first()
        values = {k: getattr(row, k) for k in key} | {period: date(2024, 3, 1)}
        other_writers.append(insert(model).values(values))

    def other_connection_writes(statement) -> bool:
        with db.engine.connect() as other:
            other.execute(text("SET lock_timeout = '300ms'"))
            try:
                other.execute(statement)
            except OperationalError as exc:
                assert "lock timeout" in str(exc)
                return False
            other.rollback()
            return True

    def tables_writable() -> list[bool]:
        return [other_connection_writes(statement) for statement in other_writers]

    # Correct: compared without a lock, and without writing.
    assert recompute.recompute_year(2024).fixed == 0
    assert tables_writable() == [True] * 4
    db.session.commit()

    db.session.execute(update(DailyTotal).values(taken=7))
    db.session.commit()
    assert recompute.recompute_year(2024).fixed == 2
    # Until the fix commits, a transaction counting a new dossier would wait: it cannot add to
    # a row the fix is about to overwrite with a count that does not include it.
    assert tables_writable() == [False] * 4
    db.session.commit()
    assert tables_writable() == [True] * 4
    assert_rollups_match()
