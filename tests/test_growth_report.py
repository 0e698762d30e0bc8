"""The growth report: figures per metric from the rollups and the baselines (DESIGN 4), and its
endpoint `GET /api/v1/reports/growth`."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event

from tracker.calendar import today_vn
from tracker.catalogue.models import Office, Sector
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.reports import figures
from tracker.reports.growth import ReportFilters, build_report, year_totals
from tracker.reports.models import MEASURES, Baseline, GrowthTarget
from tracker.reports.rollups import add_counts
from tracker.reports.schemas import GrowthReportOut

URL = "/api/v1/reports/growth"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def put_baseline(year: int, month: int = 0, **figures) -> None:
    db.session.add(Baseline(year=year, month=month, **figures))
    db.session.commit()


def put_counts(day: date, office, procedure, form: str = "return_only", **measures) -> None:
    """Rollup rows written as the rollups write them (the day's row and its month's row)."""
    key = (day, office.id, office.channel_id, procedure.id, procedure.agency_id, form)
    add_counts(db.session, {key: Counter(measures)})
    db.session.commit()


def taken(report: dict) -> dict[str, int | None]:
    return {metric: block["actual"] for metric, block in report["metrics"].items()}


@pytest.fixture
def manager(make_staff):
    return make_staff("manager")


@pytest.fixture
def intake(create_dossier):
    """A dossier taken in at a moment given in Vietnam time ("2018-03-10T09:00")."""

    def make(moment: str, form: str = "two_way", **overrides) -> dict:
        procedure = "1.004567" if form == "return_only" else "1.001234"
        return create_dossier(
            service_form=form,
            procedure_code=procedure,
            received_at=f"{moment}+07:00",
            **overrides,
        )

    return make


# The seed case, targets and rates ----------------------------------------------------------


def test_seed_case_through_the_api(client, manager, catalogue, intake):
    baseline = {"two_way": 579, "one_way": 307_871, "all_tthc": 1_101_607}
    put = client.put("/api/v1/reports/baselines/2017", json=baseline, headers=manager.headers)
    assert put.status_code == 200, put.get_json()
    intake("2018-02-05T10:00")

    response = client.get(URL, query_string={"year": 2018}, headers=manager.headers)

    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    metrics = report["metrics"]
    assert {m: metrics[m]["target"] for m in metrics} == {
        "two_way": 753,
        "one_way": 400_233,
        "send_only": None,
        "postal_total": 400_985,
    }
    assert metrics["postal_total"]["previous_year"] == 308_450
    assert metrics["postal_total"]["previous_year_share"] == 0.28
    assert report["basis"] == {"current": "records", "previous": "baseline"}
    assert report["as_of"] == "2018-12-31"
    assert (report["rate"], report["rate_is_default"]) == (0.3, True)
    assert metrics["two_way"]["actual"] == 1
    assert metrics["two_way"]["progress"] == round(1 / 753, 4)
    assert metrics["two_way"]["same_period"] == 579  # the whole year is its own same period
    # Mid-year, a yearly baseline without months is spread by days: 181/365 of 579 is the same
    # period; it carries no season, so the projection is linear.
    mid_year = client.get(
        URL, query_string={"year": 2018, "as_of": "2018-06-30"}, headers=manager.headers
    ).get_json()["metrics"]["two_way"]
    assert (mid_year["same_period"], mid_year["growth"]) == (287, -0.9965)
    assert (mid_year["projection"], mid_year["projection_method"]) == (2, "linear")  # 1 x 365/181
    assert mid_year["projection_reason"] == "last_year_months_missing"
    assert mid_year["sources"]["previous"] == ["baseline_year"] * 12
    assert mid_year["target"] == 753


def test_targets_round_up_exactly(app, catalogue):
    # 10 x 1.3 is 13.000000000000002 in floats: a float ceiling would say 14.
    put_counts(date(2017, 5, 2), catalogue.office, catalogue.procedure, "two_way", taken=10)
    put_counts(date(2017, 5, 2), catalogue.office, catalogue.return_procedure, taken=11)
    put_counts(date(2017, 5, 2), catalogue.office, catalogue.procedure, "send_only", taken=1)

    metrics = build_report(2018, date(2018, 1, 31))["metrics"]

    assert {m: metrics[m]["target"] for m in metrics} == {
        "two_way": 13,
        "one_way": 15,  # 14.3
        "send_only": 2,  # 1.3
        "postal_total": 29,  # 28.6
    }


def test_a_rate_set_for_the_year(app, catalogue):
    put_baseline(2017, two_way=579, one_way=307_871)
    db.session.add(GrowthTarget(year=2018, rate=Decimal("0.15")))
    db.session.commit()

    report = build_report(2018)

    assert (report["rate"], report["rate_is_default"]) == (0.15, False)
    assert report["metrics"]["two_way"]["target"] == 666  # 665.85
    assert report["metrics"]["one_way"]["target"] == 354_052  # 354,051.65
    assert build_report(2019)["rate_is_default"] is True


# Records and baselines --------------------------------------------------------------------


def test_a_year_with_only_a_baseline(app, catalogue):
    for month in range(1, 13):
        put_baseline(2017, month, two_way=100, one_way=1000, all_tthc=4000)

    past = build_report(2017)
    report = build_report(2018, date(2018, 6, 15))

    assert past["basis"] == {"current": "baseline", "previous": "none"}
    assert taken(past) == {
        "two_way": 1200,
        "one_way": 12_000,
        "send_only": None,
        "postal_total": 13_200,
    }
    assert past["months"][0]["current"]["two_way"] == 100
    assert past["metrics"]["postal_total"]["share"] == 0.275
    assert report["basis"] == {"current": "none", "previous": "baseline"}
    two_way = report["metrics"]["two_way"]
    # No yearly row: the months add up; the same period takes 15 of June's 30 days.
    assert (two_way["previous_year"], two_way["target"]) == (1200, 1560)
    assert two_way["same_period"] == 550
    assert report["all_tthc"]["same_period"] == 22_000
    assert year_totals(2017)["two_way"] == {"actual": 1200, "basis": "baseline"}
    assert year_totals(2017)["send_only"] == {"actual": None, "basis": "none"}


def test_records_win_over_a_baseline(app, catalogue):
    put_baseline(2017, two_way=579, one_way=307_871, all_tthc=1_101_607)
    put_counts(date(2017, 11, 3), catalogue.office, catalogue.procedure, "two_way", taken=7)

    report = build_report(2018, date(2018, 12, 31))

    assert report["basis"]["previous"] == "records"
    assert report["metrics"]["two_way"]["previous_year"] == 7
    assert report["metrics"]["one_way"]["previous_year"] == 0
    assert report["metrics"]["two_way"]["target"] == 10  # 9.1
    # The share's denominator still comes from the baseline.
    assert report["metrics"]["postal_total"]["previous_year_share"] == round(7 / 1_101_607, 4)
    # The baseline set aside is said, not silent (the year the system went live).
    assert "baseline_set_aside" in [note["code"] for note in report["notes"]]
    totals = year_totals(2017)
    assert totals["two_way"] == {"actual": 7, "basis": "records"}
    # The targets endpoint and the report start from the same figures.
    assert {m: totals[m]["actual"] for m in totals} == {
        m: block["previous_year"] for m, block in report["metrics"].items()
    }


def test_no_figures_at_all(app, catalogue):
    report = build_report(2018)

    assert report["basis"] == {"current": "none", "previous": "none"}
    assert set(taken(report).values()) == {None}
    assert report["metrics"]["two_way"]["target"] is None
    assert [n["code"] for n in report["notes"]] == ["no_figures", "no_figures", "no_target"]
    assert all(not rows for rows in report["breakdowns"].values())


# Periods ----------------------------------------------------------------------------------


def test_as_of_in_the_middle_of_a_month(app, client, catalogue, intake):
    for moment in ("2018-02-01T08:00", "2018-03-10T08:00", "2018-03-15T23:59", "2018-03-16T00:01"):
        intake(moment)
    for moment in ("2017-01-20T08:00", "2017-03-15T10:00", "2017-03-16T10:00", "2017-08-01T10:00"):
        intake(moment)

    report = build_report(2018, date(2018, 3, 15))

    two_way = report["metrics"]["two_way"]
    assert two_way["actual"] == 3  # the 16th is after as_of
    assert (two_way["previous_year"], two_way["same_period"]) == (4, 2)
    assert two_way["growth"] == 0.5
    # Seasonal: 3 x 4 / 2.
    assert (two_way["projection"], two_way["projection_method"]) == (6, "seasonal")
    assert two_way["on_track"] is True  # target ceil(4 x 1.3) = 6
    months = report["months"]
    assert [m["current"]["two_way"] for m in months[:3]] == [0, 1, 2]
    assert months[3]["current"] is None
    assert [m["previous"]["two_way"] for m in months[:4]] == [1, 0, 2, 0]
    assert months[7]["previous"]["two_way"] == 1
    # The same period is read from the days of March 2017 up to the 15th, in breakdowns too.
    office = report["breakdowns"]["office"][0]
    row = office["metrics"]["two_way"]
    assert (row["actual"], row["same_period"], row["growth"]) == (3, 2, 0.5)
    # The only office: the province's target and projection are its own.
    assert (row["previous_year"], row["target"], row["target_basis"]) == (4, 6, "growth")
    assert (row["projection"], row["on_track"]) == (6, True)


def test_the_year_turns_at_midnight_in_vietnam(app, catalogue, intake):
    intake("2018-12-31T23:30")  # 16:30 UTC: still 2018 in Vietnam
    intake("2019-01-01T00:30")  # 17:30 UTC on 31 December: already 2019 in Vietnam

    year_2018 = build_report(2018)
    new_year = build_report(2019, date(2019, 1, 1))

    assert year_2018["metrics"]["two_way"]["actual"] == 1
    assert year_2018["months"][11]["current"]["two_way"] == 1
    assert new_year["metrics"]["two_way"]["actual"] == 1
    assert new_year["metrics"]["two_way"]["same_period"] == 0
    assert new_year["metrics"]["two_way"]["previous_year"] == 1


def test_29_february_compares_with_28_february(app, catalogue):
    put_counts(date(2019, 2, 28), catalogue.office, catalogue.procedure, "two_way", taken=2)
    put_counts(date(2020, 2, 29), catalogue.office, catalogue.procedure, "two_way", taken=3)

    report = build_report(2020, date(2020, 2, 29))

    assert report["same_period"] == {"start": "2019-01-01", "end": "2019-02-28"}
    assert report["metrics"]["two_way"]["same_period"] == 2
    assert report["metrics"]["two_way"]["actual"] == 3


def test_a_linear_projection_without_last_years_days(app, catalogue):
    put_counts(date(2018, 2, 10), catalogue.office, catalogue.procedure, "two_way", taken=59)

    two_way = build_report(2018, date(2018, 2, 28))["metrics"]["two_way"]

    # 59 dossiers in 59 days: 365 by the end of the year.
    assert (two_way["projection"], two_way["projection_method"]) == (365, "linear")


def test_share_of_a_partial_month(app, catalogue):
    put_counts(date(2018, 1, 10), catalogue.office, catalogue.procedure, "two_way", taken=74)
    for month, figure in ((1, 3100), (2, 2800), (3, 3100)):
        put_baseline(2018, month, all_tthc=figure)

    report = build_report(2018, date(2018, 3, 15))

    assert report["all_tthc"]["current"] == 7400  # 3100 + 2800 + 15/31 of 3100
    assert report["metrics"]["postal_total"]["share"] == 0.01
    assert build_report(2018, date(2018, 4, 1))["all_tthc"]["current"] is None


def test_period_is_checked(app, catalogue):
    this_year = today_vn().year
    with pytest.raises(ValidationFailed) as future:
        build_report(this_year + 1)
    with pytest.raises(ValidationFailed) as outside:
        build_report(2018, date(2017, 12, 31))

    assert list(future.value.fields) == ["year"]
    assert list(outside.value.fields) == ["as_of"]
    assert build_report(this_year)["as_of"] == today_vn().isoformat()


# Filters and breakdowns -------------------------------------------------------------------


def test_breakdowns_and_on_time_rate(app, client, clerk, catalogue, intake, make_staff):
    other_clerk = make_staff("clerk", office=catalogue.other_office)
    intake("2018-04-02T09:00")
    intake("2018-04-03T09:00", staff=other_clerk)
    # Due on the 5th: delivered early, on time and late.
    for day in ("2018-04-04", "2018-04-05", "2018-04-09"):
        code = intake("2018-04-04T08:00", "return_only", appointment_date="2018-04-05")["code"]
        delivered = client.post(
            f"/api/v1/dossiers/{code}/events",
            json={
                "status": "delivered",
                "occurred_at": f"{day}T15:00+07:00",
                "receiver": {"name": "Trần Thị Bình", "relation": "applicant"},
            },
            headers=clerk.headers,
        )
        assert delivered.status_code == 201, delivered.get_json()

    report = build_report(2018, date(2018, 12, 31))

    offices = report["breakdowns"]["office"]
    assert [(row["code"], row["metrics"]["postal_total"]["actual"]) for row in offices] == [
        ("810000", 4),
        ("811000", 1),
    ]
    assert offices[0]["delivered"] == 3
    assert offices[0]["on_time_rate"] == round(2 / 3, 4)  # early, on time, late
    assert report["on_time_rate"]["current"] == round(2 / 3, 4)
    assert report["metrics"]["one_way"]["delivered"] == 3
    sectors = report["breakdowns"]["sector"]
    assert [(row["code"], row["name"]) for row in sectors] == [("TP", "Tư pháp")]
    procedures = {row["code"]: row["metrics"] for row in report["breakdowns"]["procedure"]}
    assert procedures["1.004567"]["one_way"]["actual"] == 3
    assert procedures["1.001234"]["two_way"]["actual"] == 2
    assert report["breakdowns"]["channel"][0]["name"] == "Bưu cục cấp 1"
    assert report["breakdowns"]["agency"][0]["code"] == "000.00.01.H19"


def test_filters_narrow_every_figure(app, catalogue, intake, make_staff):
    put_baseline(2017, two_way=579, one_way=307_871, all_tthc=1_101_607)
    intake("2018-04-02T09:00")
    intake("2018-04-03T09:00", staff=make_staff("clerk", office=catalogue.other_office))

    report = build_report(2018, filters=ReportFilters(office_id=catalogue.other_office.id))

    assert report["filters"] == {
        "channel": None,
        "office": "811000",
        "sector": None,
        "procedure": None,
    }
    assert report["metrics"]["two_way"]["actual"] == 1
    assert [row["code"] for row in report["breakdowns"]["office"]] == ["811000"]
    # The 2017 baseline is province-wide: the office takes its share of it, by its part of the
    # records (one of the two 2018 dossiers), and its target from that.
    assert report["basis"]["previous"] == "baseline"
    assert report["baseline_share"]["two_way"] == 0.5
    assert report["metrics"]["two_way"]["previous_year"] == 290  # 579 / 2 = 289.5
    assert report["metrics"]["two_way"]["target"] == 377  # ceil(289.5 x 1.3) = ceil(376.35)
    assert report["metrics"]["two_way"]["target_basis"] == "growth"
    assert report["metrics"]["postal_total"]["share"] is None
    codes = [note["code"] for note in report["notes"]]
    assert "baseline_shared" in codes and "share_unfiltered_only" in codes
    by_sector = build_report(2018, filters=ReportFilters(sector_id=catalogue.sector.id))
    assert by_sector["metrics"]["two_way"]["actual"] == 2
    by_channel = build_report(2018, filters=ReportFilters(channel_id=catalogue.hotline.id))
    assert by_channel["metrics"]["postal_total"]["actual"] == 0


def test_a_filter_that_matches_nothing(app, client, manager, catalogue, intake):
    intake("2018-04-02T09:00")

    response = client.get(
        URL,
        query_string={"year": 2018, "office": "HL1022", "procedure": "1.009876"},
        headers=manager.headers,
    )

    assert response.status_code == 200
    report = response.get_json()
    assert report["filters"]["office"] == "HL1022"
    assert report["basis"]["current"] == "records"  # the province has records
    assert set(taken(report).values()) == {0}
    assert all(not rows for rows in report["breakdowns"].values())
    assert [m["current"]["postal_total"] for m in report["months"]] == [0] * 12


# The totals and the cube ------------------------------------------------------------------


def scattered_counts(catalogue, seed: int) -> dict:
    """Rollup deltas over 2017 and 2018 under many keys: the dossier's channel and agency are not
    always its office's or procedure's (they are as at receipt), and many days fall on month ends
    or beside 15 March, the as_of read at. One procedure moves to a second sector."""
    catalogue.other_procedure.sector = Sector(code="XD", name_vi="Xây dựng", name_en="Building")
    db.session.commit()
    rng = random.Random(seed)
    offices = (catalogue.office, catalogue.other_office, catalogue.hotline_office)
    procedures = (catalogue.procedure, catalogue.return_procedure, catalogue.other_procedure)
    edges = [date(y, m, d) for y in (2017, 2018) for m, d in ((1, 1), (3, 15), (3, 16), (12, 31))]
    deltas: dict = {}
    for _ in range(80):
        if rng.random() < 0.4:
            day = rng.choice(edges)
        else:
            day = date(rng.choice((2017, 2018)), 1, 1) + timedelta(days=rng.randrange(365))
        key = (
            day,
            rng.choice(offices).id,
            rng.choice((catalogue.channel, catalogue.hotline)).id,
            rng.choice(procedures).id,
            rng.choice((catalogue.agency, catalogue.other_agency)).id,
            rng.choice(("two_way", "return_only", "send_only")),
        )
        deltas[key] = Counter({measure: rng.randrange(1, 5) for measure in MEASURES})
    return deltas


def from_the_cube_alone(monkeypatch, read, *args):
    # No totals dimension left to choose: every figure is read from the cube.
    with monkeypatch.context() as patched:
        patched.setattr(figures, "TOTALS", ())
        return read(*args)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_totals_give_the_figures_of_the_cube(app, catalogue, monkeypatch, seed):
    deltas = scattered_counts(catalogue, seed)
    add_counts(db.session, deltas)
    db.session.commit()
    office, hotline = catalogue.hotline_office.id, catalogue.hotline.id
    procedure, sector = catalogue.other_procedure.id, catalogue.sector.id
    every_filter = [
        ReportFilters(),
        ReportFilters(office_id=office),
        ReportFilters(channel_id=hotline),
        ReportFilters(procedure_id=procedure),
        ReportFilters(sector_id=sector),
        ReportFilters(channel_id=hotline, office_id=catalogue.office.id),
        ReportFilters(office_id=office, procedure_id=procedure),
        ReportFilters(channel_id=hotline, sector_id=sector),
    ]

    for as_of in (date(2018, 3, 15), date(2018, 3, 31), date(2018, 12, 31)):
        for filters in every_filter:
            report = build_report(2018, as_of, filters)
            assert report == from_the_cube_alone(monkeypatch, build_report, 2018, as_of, filters)
    assert year_totals(2017) == from_the_cube_alone(monkeypatch, year_totals, 2017)
    # And both are the plain sums of what was counted (keys: day, office, channel, procedure...).
    in_period = [
        (key, counts["taken"])
        for key, counts in deltas.items()
        if date(2018, 1, 1) <= key[0] <= date(2018, 3, 15)
    ]
    by_office = Counter()
    for key, taken in in_period:
        by_office[db.session.get(Office, key[1]).code] += taken
    report = build_report(2018, date(2018, 3, 15))
    offices = report["breakdowns"]["office"]
    assert {row["code"]: row["metrics"]["postal_total"]["actual"] for row in offices} == by_office
    assert report["metrics"]["postal_total"]["actual"] == by_office.total()
    of_sector = {catalogue.procedure.id, catalogue.return_procedure.id}
    by_sector = build_report(2018, date(2018, 3, 15), ReportFilters(sector_id=sector))
    assert by_sector["metrics"]["postal_total"]["actual"] == sum(
        taken for key, taken in in_period if key[3] in of_sector
    )


def test_an_unfiltered_report_reads_only_the_totals(app, catalogue):
    add_counts(db.session, scattered_counts(catalogue, 4))
    db.session.commit()
    statements: list[str] = []

    def note(connection, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        build_report(2018, date(2018, 3, 15))
        year_totals(2017)
        unfiltered = " ".join(statements)
        statements.clear()
        build_report(2018, date(2018, 3, 15), ReportFilters(office_id=catalogue.office.id))
    finally:
        event.remove(db.engine, "before_cursor_execute", note)

    assert "monthly_totals" in unfiltered and "daily_totals" in unfiltered
    assert "monthly_counts" not in unfiltered and "daily_counts" not in unfiltered
    # An office filter reads its side from the totals, procedures and agencies from the cube.
    by_office = " ".join(statements)
    assert "monthly_totals" in by_office and "monthly_counts" in by_office


# The endpoint -----------------------------------------------------------------------------


def test_json_is_the_documented_schema(client, manager, catalogue, intake):
    put_baseline(2017, two_way=579, one_way=307_871, all_tthc=1_101_607)
    intake("2018-04-02T09:00")

    response = client.get(URL, query_string={"year": 2018}, headers=manager.headers)

    report = response.get_json()
    # Dumping through the schema loses nothing: every key of the report is documented.
    assert GrowthReportOut().dump(report) == report
    assert report == json.loads(json.dumps(build_report(2018)))


def test_unknown_codes_are_404_naming_the_field(client, manager, catalogue):
    for name, code in (
        ("office", "999999"),
        ("channel", "x"),
        ("sector", "ZZ"),
        ("procedure", "9"),
    ):
        response = client.get(URL, query_string={"year": 2018, name: code}, headers=manager.headers)
        assert response.status_code == 404
        assert list(response.get_json()["error"]["fields"]) == [name]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "year"),
        ({"year": "abc"}, "year"),
        ({"year": "2018.5"}, "year"),
        ({"year": 1999}, "year"),
        ({"year": 2101}, "year"),
        ({"year": "FUTURE"}, "year"),
        ({"year": 2018, "as_of": "2019-01-01"}, "as_of"),
        ({"year": 2018, "as_of": "31/12/2018"}, "as_of"),
        ({"year": 2018, "format": "pdf"}, "format"),
        ({"year": 2018, "part": "month"}, "part"),
        ({"year": 2018, "format": "csv", "part": "week"}, "part"),
        ({"year": 2018, "colour": "blue"}, "colour"),
    ],
)
def test_bad_arguments_are_422_naming_the_field(client, manager, catalogue, query, field):
    if query.get("year") == "FUTURE":
        query = {"year": today_vn().year + 1}

    response = client.get(URL, query_string=query, headers=manager.headers)

    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["fields"]) == [field]


def test_managers_and_admins_only(client, clerk, make_staff, catalogue):
    assert client.get(URL, query_string={"year": 2018}).status_code == 401
    assert client.get(URL, query_string={"year": 2018}, headers=clerk.headers).status_code == 403
    agency = make_staff("agency")
    assert client.get(URL, query_string={"year": 2018}, headers=agency.headers).status_code == 403
    admin = make_staff("admin")
    assert client.get(URL, query_string={"year": 2018}, headers=admin.headers).status_code == 200


def test_the_endpoint_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()

    operation = spec["paths"]["/api/v1/reports/growth"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert names == {"year", "as_of", "channel", "office", "sector", "procedure", "format", "part"}
    content = operation["responses"]["200"]["content"]
    assert content["application/json"]["schema"]["$ref"].endswith("/GrowthReportOut")
    assert {"text/csv", XLSX} <= set(content)
