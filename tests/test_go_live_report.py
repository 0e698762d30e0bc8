"""Growth reports across the go-live year (issue 16): baselines stand in for the months before
go-live, month by month; projections that hold; targets pushed down to offices and channels."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from tests.test_growth_report import put_baseline, put_counts
from tracker.extensions import db
from tracker.reports import jobs, recompute
from tracker.reports.growth import ReportFilters, build_report, year_totals
from tracker.reports.models import (
    Baseline,
    DailyCount,
    DailyTotal,
    MonthlyCount,
    MonthlyTotal,
    OfficeTarget,
    ReportSetting,
)
from tracker.reports.rollups import add_counts
from tracker.reports.series import records_start

METRICS = ("two_way", "one_way", "send_only", "postal_total")


def go_live(day: date | None) -> None:
    db.session.merge(ReportSetting(id=1, go_live_on=day))
    db.session.commit()


def metric(report: dict, name: str = "two_way") -> dict:
    return report["metrics"][name]


def note_codes(report: dict) -> list[str]:
    return [note["code"] for note in report["notes"]]


# Stitching ---------------------------------------------------------------------------------


def test_records_start_on_the_go_live_day_or_with_the_year():
    assert records_start(2018, date(2018, 10, 15), False) == date(2018, 10, 15)
    assert records_start(2019, date(2018, 10, 15), False) == date(2019, 1, 1)
    assert records_start(2017, date(2018, 10, 15), True) is None  # before go-live: baselines
    # No go-live date: a year with records is all records, one without all baseline.
    assert records_start(2018, None, True) == date(2018, 1, 1)
    assert records_start(2018, None, False) is None


@pytest.fixture
def mid_october(catalogue):
    """Go-live on 15 October 2018; the months of 2018 before it have their own baselines and
    2017 only a yearly one; records from go-live on (and a trial run before it)."""
    go_live(date(2018, 10, 15))
    for month in range(1, 11):
        put_baseline(2018, month, two_way=31, one_way=310)
    put_baseline(2017, two_way=365, one_way=3650)
    office, procedure = catalogue.office, catalogue.procedure
    put_counts(date(2018, 10, 3), office, procedure, "two_way", taken=100)  # a trial run
    put_counts(date(2018, 10, 20), office, procedure, "two_way", taken=5, delivered=2)
    put_counts(date(2018, 11, 10), office, procedure, "two_way", taken=7)
    put_counts(date(2018, 12, 5), office, procedure, "two_way", taken=8)


def test_go_live_in_the_middle_of_a_month(app, mid_october):
    report = build_report(2018)

    two_way = metric(report)
    # 9 months of 31, 14 of October's 31 days before go-live, then 5 + 7 + 8 recorded.
    assert two_way["actual"] == 9 * 31 + 14 + 20 == 313
    assert metric(report, "one_way")["actual"] == 9 * 310 + 140
    assert two_way["sources"]["current"] == ["baseline"] * 9 + ["go_live"] + ["records"] * 2
    assert [m["current"]["two_way"] for m in report["months"][8:]] == [31, 19, 7, 8]
    assert [m["current"]["delivered"] for m in report["months"][8:]] == [None, 2, 0, 0]
    assert two_way["delivered"] == 2  # results delivered come from the records alone
    assert (report["go_live"], report["records_from"]) == (
        "2018-10-15",
        {"current": "2018-10-15", "previous": None},
    )
    assert report["basis"] == {"current": "stitched", "previous": "baseline"}
    # 2017 has only a yearly figure: spread by days (January: 31 of 365).
    assert two_way["sources"]["previous"] == ["baseline_year"] * 12
    assert report["months"][0]["previous"]["two_way"] == 31
    assert (two_way["previous_year"], two_way["target"]) == (365, 475)  # ceil(474.5)
    assert "stitched" in note_codes(report)
    assert "15/10/2018" in " ".join(note["message"] for note in report["notes"])
    # On the go-live day itself: the baseline of the 14 days before, nothing recorded yet.
    assert metric(build_report(2018, date(2018, 10, 15)))["actual"] == 9 * 31 + 14


def test_the_year_after_go_live_compares_with_the_stitched_year(app, mid_october, catalogue):
    put_counts(date(2019, 2, 10), catalogue.office, catalogue.procedure, "two_way", taken=60)

    report = build_report(2019, date(2019, 3, 31))

    two_way = metric(report)
    assert report["basis"] == {"current": "records", "previous": "stitched"}
    assert (two_way["previous_year"], two_way["target"]) == (313, 407)  # ceil(406.9)
    assert two_way["same_period"] == 93  # January to March 2018 from the baseline
    assert two_way["growth"] == round(60 / 93 - 1, 4)
    # Every month of 2018 has a figure of its own: the projection follows its season.
    assert (two_way["projection_method"], two_way["projection_reason"]) == (
        "seasonal",
        "last_year_by_month",
    )
    assert two_way["projection"] == round(60 * 313 / 93)
    assert year_totals(2018)["two_way"] == {"actual": 313, "basis": "stitched"}


def test_go_live_on_1_january_and_projections_through_the_year(app, catalogue):
    go_live(date(2018, 1, 1))
    for month in range(1, 13):
        put_baseline(2017, month, two_way=30)
    office, procedure = catalogue.office, catalogue.procedure
    put_counts(date(2017, 6, 1), office, procedure, "two_way", taken=500)  # before go-live
    put_counts(date(2018, 1, 1), office, procedure, "two_way", taken=2)
    put_counts(date(2018, 1, 10), office, procedure, "two_way", taken=23)
    put_counts(date(2018, 2, 10), office, procedure, "two_way", taken=30)

    first_day = metric(build_report(2018, date(2018, 1, 1)))
    mid_year = build_report(2018, date(2018, 2, 28))
    year_end = metric(build_report(2018, date(2018, 12, 31)))

    assert mid_year["basis"] == {"current": "records", "previous": "baseline"}
    two_way = metric(mid_year)
    assert (two_way["previous_year"], two_way["same_period"], two_way["actual"]) == (360, 60, 55)
    assert two_way["sources"]["previous"] == ["baseline"] * 12
    assert (two_way["projection"], two_way["projection_method"]) == (330, "seasonal")  # 55 x 6
    assert two_way["projection_bound"] is None
    # 1 January: 2 dossiers against 30/31 of one last year would project 744; the best pace
    # (2 a day) over the 364 days left holds it at 730.
    assert (first_day["projection"], first_day["projection_method"]) == (730, "seasonal")
    assert first_day["projection_bound"] == "best_pace"
    # 31 December: the projection is the year itself.
    assert year_end["projection"] == year_end["actual"] == 55


def test_a_year_with_only_a_yearly_baseline_before_go_live(app, catalogue):
    go_live(date(2018, 7, 1))
    put_baseline(2018, two_way=365)
    put_counts(date(2018, 8, 1), catalogue.office, catalogue.procedure, "two_way", taken=50)
    put_counts(date(2019, 2, 1), catalogue.office, catalogue.procedure, "two_way", taken=60)

    stitched = metric(build_report(2018))
    report = build_report(2019, date(2019, 3, 31))

    assert stitched["actual"] == 181 + 50  # January to June: 181 of the year's 365 days
    assert stitched["sources"]["current"] == ["baseline_year"] * 6 + ["records"] * 6
    two_way = metric(report)
    assert (two_way["previous_year"], two_way["target"], two_way["same_period"]) == (231, 301, 90)
    # A spread yearly figure has no season: linear, and the report says why.
    assert (two_way["projection_method"], two_way["projection_reason"]) == (
        "linear",
        "last_year_months_missing",
    )
    assert two_way["projection"] == round(Fraction(60 * 365, 90))


def test_months_before_go_live_without_a_baseline_are_unknown(app, catalogue):
    go_live(date(2018, 10, 15))
    put_counts(date(2018, 10, 20), catalogue.office, catalogue.procedure, "two_way", taken=5)

    report = build_report(2018)
    next_year = build_report(2019, date(2019, 1, 31))

    assert metric(report)["actual"] is None
    assert metric(report)["sources"]["current"][:10] == ["none"] * 10
    missing = next(n for n in report["notes"] if n["code"] == "baseline_missing")
    assert "tháng 1, 2, 3, 4, 5, 6, 7, 8, 9, 10" in missing["message"]
    assert (metric(next_year)["previous_year"], metric(next_year)["target"]) == (None, None)


def test_the_issue_example_without_and_with_a_go_live_date(app, catalogue):
    """The demo's story: last year's records cover only its last quarter."""
    office, procedure = catalogue.office, catalogue.procedure
    for day, taken in ((date(2017, 10, 20), 3), (date(2017, 11, 20), 2), (date(2017, 12, 20), 5)):
        put_counts(day, office, procedure, "two_way", taken=taken)
    for month in range(1, 12):
        put_counts(date(2018, month, 2), office, procedure, "two_way", taken=70)
    put_counts(date(2018, 12, 2), office, procedure, "two_way", taken=8)
    as_of = date(2018, 12, 4)

    partial = metric(build_report(2018, as_of))
    go_live(date(2017, 10, 1))
    for month in range(1, 10):
        put_baseline(2017, month, two_way=60)
    stitched = metric(build_report(2018, as_of))

    # Without a go-live date the partial year is the whole year: a target of 13, and the
    # seasonal 778 x 10/5 = 1,556 is held at 778 + 2.5 a day (February) x 27 days.
    assert (partial["actual"], partial["target"]) == (778, 13)
    assert (partial["projection"], partial["projection_bound"]) == (845, "best_pace")
    # With it, January to September 2017 come from the baseline.
    assert (stitched["previous_year"], stitched["target"]) == (550, 715)
    assert stitched["same_period"] == 545  # December 2017 was after the 4th
    assert stitched["projection"] == round(Fraction(778 * 550, 545))
    assert stitched["projection_bound"] is None and stitched["on_track"] is True


def test_recompute_and_snapshots_agree_with_the_stitched_report(app, catalogue, create_dossier):
    go_live(date(2018, 10, 15))
    for month in range(1, 11):
        put_baseline(2018, month, two_way=31)
    for moment in ("2018-10-20T09:00", "2018-11-10T09:00", "2018-12-05T09:00"):
        create_dossier(received_at=f"{moment}+07:00")
    before = build_report(2018)

    fixed = recompute.recompute_year(2018)
    db.session.commit()
    snapshot = jobs.snapshot_year(2018)
    db.session.commit()

    assert fixed.fixed == 0  # the rollups the intakes wrote are the recompute's
    assert metric(before)["actual"] == 9 * 31 + 14 + 3
    assert build_report(2018) == before
    assert snapshot.data == json.loads(json.dumps(before))


# Targets per office and channel -------------------------------------------------------------


@pytest.fixture
def two_offices(catalogue):
    """Go-live on 1 July 2018, the first half of 2018 from the baseline; offices 810000 and
    811000 share the records (60/40 two-way, 30/70 one-way); 2019 also has the hotline desk,
    which took nothing in 2018."""
    go_live(date(2018, 7, 1))
    for month in range(1, 7):
        put_baseline(2018, month, two_way=100, one_way=1000)
    ret, proc = catalogue.return_procedure, catalogue.procedure
    for office, two_way, one_way in (
        (catalogue.office, 60, 300),
        (catalogue.other_office, 40, 700),
    ):
        put_counts(date(2018, 9, 1), office, proc, "two_way", taken=two_way)
        put_counts(date(2018, 9, 1), office, ret, taken=one_way)
    for office, two_way in ((catalogue.office, 30), (catalogue.other_office, 20)):
        put_counts(date(2019, 3, 1), office, proc, "two_way", taken=two_way)
    put_counts(date(2019, 3, 1), catalogue.hotline_office, proc, "two_way", taken=10)
    return catalogue


def rows_by_code(report: dict, part: str = "office") -> dict[str, dict]:
    return {row["code"]: row["metrics"] for row in report["breakdowns"][part]}


def test_office_targets_share_the_stitched_year(app, two_offices):
    report = build_report(2019)

    province = report["metrics"]
    assert (province["two_way"]["previous_year"], province["two_way"]["target"]) == (700, 910)
    offices = rows_by_code(report)
    # 810000: its 60 records and 60% of the 600 from the baseline; 811000 the rest.
    assert [offices[c]["two_way"]["previous_year"] for c in ("810000", "811000")] == [420, 280]
    assert [offices[c]["two_way"]["target"] for c in ("810000", "811000")] == [546, 364]
    assert [offices[c]["one_way"]["previous_year"] for c in ("810000", "811000")] == [2100, 4900]
    assert offices["810000"]["two_way"]["target_basis"] == "growth"
    # The hotline desk took nothing in 2018: no target of its own.
    hotline = offices["HL1022"]["two_way"]
    assert (hotline["previous_year"], hotline["target"], hotline["on_track"]) == (0, None, None)
    # The rows add up to the province; their targets to at least its target.
    assert province["send_only"]["previous_year"] is None  # no send-only baseline
    for name in ("two_way", "one_way", "postal_total"):
        rows = [row[name] for row in offices.values()]
        assert sum(row["previous_year"] for row in rows) == province[name]["previous_year"]
        targets = [row["target"] for row in rows if row["target_basis"] == "growth"]
        assert province[name]["target"] <= sum(targets) < province[name]["target"] + len(targets)
    channels = rows_by_code(report, "channel")
    assert channels["post_l1"]["two_way"]["target"] == 910


def test_a_weight_and_an_override_set_by_a_manager(app, two_offices):
    catalogue = two_offices
    db.session.add_all(
        [
            OfficeTarget(year=2019, dimension="office", member_id=catalogue.hotline_office.id,
                         weight=Decimal("0.1")),
            OfficeTarget(year=2019, dimension="office", member_id=catalogue.office.id,
                         two_way=500),
        ]
    )  # fmt: skip
    db.session.commit()

    report = build_report(2019)
    one_office = build_report(2019, filters=ReportFilters(office_id=catalogue.office.id))

    offices = rows_by_code(report)
    assert (
        offices["HL1022"]["two_way"]["target"],
        offices["HL1022"]["two_way"]["target_basis"],
    ) == (
        91,  # ceil(910 x 0.1)
        "weight",
    )
    assert offices["810000"]["two_way"]["target"] == 500
    assert offices["810000"]["two_way"]["target_basis"] == "override"
    assert offices["810000"]["one_way"]["target_basis"] == "growth"
    # The report of that office alone agrees with its row.
    for name in METRICS:
        for key in ("actual", "previous_year", "target", "target_basis", "same_period"):
            assert metric(one_office, name)[key] == offices["810000"][name][key], (name, key)
    assert one_office["baseline_share"]["two_way"] == 0.6


def test_a_row_is_projected_at_the_reports_pace(app, two_offices):
    report = build_report(2019, date(2019, 6, 30))

    province = metric(report)
    for row in rows_by_code(report).values():
        expected = Fraction(row["two_way"]["actual"] * province["projection"], province["actual"])
        assert row["two_way"]["projection"] == round(expected)
    december = build_report(2019, date(2019, 12, 31))
    for row in rows_by_code(december).values():
        assert row["two_way"]["projection"] == row["two_way"]["actual"]


# The projection on 31 December, for any series ----------------------------------------------

ROLLUP_TABLES = (DailyCount, MonthlyCount, DailyTotal, MonthlyTotal, Baseline, ReportSetting)
days_of_two_years = st.dates(min_value=date(2017, 1, 1), max_value=date(2018, 12, 31))
forms = st.sampled_from(("two_way", "return_only", "send_only"))
baselines = st.lists(
    st.tuples(
        st.sampled_from((2017, 2018)),
        st.integers(0, 12),
        st.integers(0, 500),
        st.one_of(st.none(), st.integers(0, 5000)),
    ),
    max_size=8,
    unique_by=lambda entry: entry[:2],
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    counts=st.lists(st.tuples(days_of_two_years, forms, st.integers(1, 40)), max_size=25),
    rows=baselines,
    go_live_on=st.one_of(st.none(), st.dates(date(2017, 1, 1), date(2019, 6, 30))),
    as_of=st.dates(date(2018, 1, 1), date(2018, 12, 31)),
)
def test_the_projection_on_31_december_is_the_year(app, catalogue, counts, rows, go_live_on, as_of):
    for model in ROLLUP_TABLES:
        db.session.execute(delete(model))
    deltas: dict = {}
    office, procedure = catalogue.office, catalogue.procedure
    for day, form, taken in counts:
        key = (day, office.id, office.channel_id, procedure.id, procedure.agency_id, form)
        deltas[key] = deltas.get(key, Counter()) + Counter(taken=taken)
    add_counts(db.session, deltas)
    for year, month, two_way, one_way in rows:
        # A yearly figure must hold its months: yearly rows get the largest figures.
        scale = 12 if month == 0 else 1
        db.session.add(Baseline(year=year, month=month, two_way=two_way * scale, one_way=one_way))
    db.session.merge(ReportSetting(id=1, go_live_on=go_live_on))
    db.session.commit()

    year_end = build_report(2018, date(2018, 12, 31))
    on_the_day = build_report(2018, as_of)

    left = (date(2018, 12, 31) - as_of).days
    for name in METRICS:
        block = metric(year_end, name)
        assert block["projection"] == block["actual"], (name, block)
        during = metric(on_the_day, name)
        if during["actual"] is not None:
            # The months as shown are rounded: each may hide up to half a dossier.
            months = [m["current"][name] for m in on_the_day["months"][: as_of.month]]
            best = max(
                (value + Fraction(1, 2)) / _days_counted(as_of, index + 1)
                for index, value in enumerate(months)
            )
            ceiling = during["actual"] + Fraction(1, 2) + best * left
            assert during["actual"] <= during["projection"] <= ceiling, (name, during)


def _days_counted(as_of: date, month: int) -> int:
    first = date(as_of.year, month, 1)
    end = min(as_of, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1))
    return (end - first).days + 1
