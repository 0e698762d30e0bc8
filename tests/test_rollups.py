"""Rollups: kept in step with the dossiers and events by the operations, and recomputed nightly.

The property test records random dossiers and events through the real operations (late events,
events sent twice, moments either side of midnight on 31 December in Vietnam) and compares both
rollup tables with a plain GROUP BY written here, over the rows themselves; then the recompute
must find nothing to fix, and repair what the test corrupts.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import OperationalError

from tests.test_imports import csv_bytes, result_row, upload
from tracker.calendar import VN_TZ
from tracker.dossiers import lifecycle, operations
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.imports import runner
from tracker.reports import recompute
from tracker.reports.models import DailyCount, MonthlyCount, ReportSnapshot

MEASURES = ("taken", "delivered", "early", "on_time", "late", "overdue")
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
}
OFFICES = ("810000", "811000", "HL1022")
# 15:00 UTC on 31 December is 22:00 in Vietnam: dossiers come in from then to 04:00 UTC the
# next day (11:00 on 1 January in Vietnam), across the year's end there and not in UTC.
YEAR_END = datetime(2024, 12, 31, 15, 0, tzinfo=UTC)


# The reference: what each rollup row must hold, straight from the rows --------------------------


def local_day(moment: datetime) -> date:
    return moment.astimezone(VN_TZ).date()


def reference() -> tuple[dict, dict]:
    """(daily, monthly) counts by key, computed from the dossiers and their applied events."""
    daily: dict[tuple, Counter] = {}

    def add(dossier: Dossier, day: date, measure: str) -> None:
        key = (day, dossier.office_id, dossier.channel_id, dossier.procedure_id)
        key += (dossier.agency_id, dossier.service_form)
        daily.setdefault(key, Counter())[measure] += 1

    dossiers = {d.id: d for d in db.session.scalars(select(Dossier))}
    for dossier in dossiers.values():
        add(dossier, local_day(dossier.received_at), "taken")
    for applied in db.session.scalars(select(StatusEvent).where(StatusEvent.applied)):
        dossier, day = dossiers[applied.dossier_id], local_day(applied.occurred_at)
        due = dossier.due_date
        if applied.to_status in ("delivered", "collected_in_person"):
            add(dossier, day, "delivered")
            if due is not None:
                add(dossier, day, "early" if day < due else "on_time" if day == due else "late")
        elif applied.to_status in ("result_ready", "rejected") and due is not None and day > due:
            add(dossier, day, "overdue")
    monthly: dict[tuple, Counter] = {}
    for (day, *rest), counts in daily.items():
        monthly.setdefault((day.replace(day=1), *rest), Counter()).update(counts)
    return _as_rows(daily), _as_rows(monthly)


def _as_rows(counts: dict[tuple, Counter]) -> dict[tuple, tuple[int, ...]]:
    return {key: tuple(c[m] for m in MEASURES) for key, c in counts.items()}


def stored(model) -> dict[tuple, tuple[int, ...]]:
    period = model.day if model is DailyCount else model.month
    rows = db.session.scalars(select(model)).all()
    keys = ("office_id", "channel_id", "procedure_id", "agency_id", "service_form")
    return {
        (getattr(row, period.key), *(getattr(row, k) for k in keys)): tuple(
            getattr(row, m) for m in MEASURES
        )
        for row in rows
    }


def assert_rollups_match() -> None:
    db.session.commit()
    db.session.expire_all()
    daily, monthly = reference()
    assert stored(DailyCount) == daily
    assert stored(MonthlyCount) == monthly


def clean() -> None:
    db.session.rollback()
    for table in reversed(db.metadata.sorted_tables):
        if table.name not in KEPT:
            db.session.execute(delete(table))
    db.session.commit()


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


def play(spec: dict, serial: int) -> None:
    received_at = YEAR_END + timedelta(minutes=spec["minutes"])
    form = spec["form"]
    appointment = spec["appointment"]
    data = {
        "service_form": form,
        "procedure_code": PROCEDURES[form][spec["procedure"]],
        "office_code": spec["office"],
        "applicant": {"name": "Lê Văn Tám", "phone": "0909123456"},
        "delivery_address": None if form == "send_only" else "1 Võ Thị Sáu, Biên Hòa",
        "received_at": received_at,
        "appointment_date": None
        if appointment is None
        else local_day(received_at) + timedelta(days=appointment),
    }
    dossier, _ = operations.create_dossier(data, None)
    db.session.commit()
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
        )
        sent.append((status, when, event_id or f"{serial}-{number}"))
        if commit:
            db.session.commit()
    db.session.commit()


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


def corrupt() -> tuple[Counter, Counter]:
    """Change, delete and add rows of both tables; return the fixes expected per table."""
    daily_fixes, monthly_fixes = Counter(), Counter()
    days = db.session.scalars(select(DailyCount).order_by(DailyCount.day)).all()
    days[0].taken += 3
    daily_fixes["updated"] += 1
    if len(days) > 1:
        db.session.delete(days[-1])
        daily_fixes["inserted"] += 1
    # A row that no dossier explains, in a year with nothing else.
    db.session.add(_bogus(DailyCount, day=date(2022, 6, 1)))
    daily_fixes["deleted"] += 1
    months = db.session.scalars(select(MonthlyCount).order_by(MonthlyCount.month)).all()
    months[0].delivered += 1
    monthly_fixes["updated"] += 1
    if len(months) > 1:
        db.session.delete(months[-1])
        monthly_fixes["inserted"] += 1
    db.session.add(_bogus(MonthlyCount, month=date(2025, 3, 1)))
    monthly_fixes["deleted"] += 1
    db.session.commit()
    return daily_fixes, monthly_fixes


def _bogus(model, **period):
    values = _key_values(db.session.scalars(select(model)).first())
    return model(**period, **values, **{**dict.fromkeys(MEASURES, 0), "taken": 2})


def _key_values(row) -> dict:
    keys = ("office_id", "channel_id", "procedure_id", "agency_id", "service_form")
    return {k: getattr(row, k) for k in keys}


def fixes_of(results, table: str) -> Counter:
    total = Counter()
    for result in results:
        fixes = getattr(result, table)
        total.update(inserted=fixes.inserted, updated=fixes.updated, deleted=fixes.deleted)
    return +total


def run_recompute() -> list[recompute.RecomputeResult]:
    results = recompute.recompute_all(on_year=lambda _result: db.session.commit())
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
    ]
)
def test_rollups_equal_a_group_by_and_the_recompute_repairs_them(app, catalogue, plans):
    clean()
    for serial, spec in enumerate(plans):
        play(spec, serial)
    assert_rollups_match()
    counted = Counter()
    for counts in stored(DailyCount).values():
        counted.update(dict(zip(MEASURES, counts, strict=True)))
    for measure in MEASURES:
        event(f"{measure} counted" if counted[measure] else f"no {measure}")

    untouched = run_recompute()
    assert [r.fixed for r in untouched] == [0] * len(untouched)
    assert_rollups_match()

    daily_fixes, monthly_fixes = corrupt()
    repaired = run_recompute()
    assert fixes_of(repaired, "daily") == daily_fixes
    assert fixes_of(repaired, "monthly") == monthly_fixes
    assert sum(r.fixed for r in repaired) == daily_fixes.total() + monthly_fixes.total()
    # From the year of the bogus row to the year of the last event.
    assert [r.year for r in repaired] == [2022, 2023, 2024, 2025]
    assert_rollups_match()
    assert sum(r.fixed for r in run_recompute()) == 0


def test_a_late_event_and_a_resent_one_count_nothing(app, catalogue):
    """The worked example: delivered on its due date, just after midnight on 1 January in
    Vietnam (still 31 December in UTC); the late and resent events change nothing."""
    received = datetime(2024, 12, 27, 2, 0, tzinfo=UTC)
    data = {
        "service_form": "send_only",
        "procedure_code": "1.009876",
        "office_code": "811000",
        "applicant": {"name": "Lê Văn Tám", "phone": "0909123456"},
        "received_at": received,
        "appointment_date": date(2024, 12, 31),
    }
    dossier, _ = operations.create_dossier(data, None)
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


def test_recompute_of_one_year_leaves_the_others(app, catalogue):
    play(plan("two_way"), 0)
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


def test_nothing_to_recompute_without_data(app):
    assert recompute.years_to_recompute() == []
    assert recompute.recompute_year(2024).fixed == 0


def test_commands_recompute_and_snapshot(app, catalogue):
    play(plan("return_only", appointment=1, steps=[("next", 0, 60, True)]), 0)
    db.session.execute(update(DailyCount).values(taken=7))
    db.session.commit()
    runner = app.test_cli_runner()

    result = runner.invoke(args=["report", "recompute", "--year", "2024"])
    assert result.exit_code == 0, result.output
    assert result.output == "2024: 1 row(s) fixed: daily 1 updated\n"
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
def test_a_fix_holds_writers_off_until_it_commits_and_a_check_does_not(app, catalogue):
    play(plan("return_only"), 0)
    # Another day's row: no row lock of the fix is in its way, only the table's.
    other_writer = insert(DailyCount).values(
        _key_values(db.session.scalars(select(DailyCount)).one()) | {"day": date(2024, 3, 1)}
    )

    def other_connection_writes() -> bool:
        with db.engine.connect() as other:
            other.execute(text("SET lock_timeout = '300ms'"))
            try:
                other.execute(other_writer)
            except OperationalError as exc:
                assert "lock timeout" in str(exc)
                return False
            other.rollback()
            return True

    # Correct: compared without a lock, and without writing.
    assert recompute.recompute_year(2024).fixed == 0
    assert other_connection_writes()
    db.session.commit()

    db.session.execute(update(DailyCount).values(taken=7))
    db.session.commit()
    assert recompute.recompute_year(2024).fixed == 1
    # Until the fix commits, a transaction counting a new dossier would wait: it cannot add to
    # a row the fix is about to overwrite with a count that does not include it.
    assert not other_connection_writes()
    db.session.commit()
    assert other_connection_writes()
    assert_rollups_match()
