"""The manager's dashboard in real Chromium: the chart is drawn, a breakdown sorts on click, and
the year of the go-live shows where each month comes from."""

from __future__ import annotations

from collections import Counter
from datetime import date

from tests.browser import screenshot, sign_in
from tracker.calendar import today_vn
from tracker.extensions import db
from tracker.reports.growth import build_report
from tracker.reports.models import Baseline, ReportSetting
from tracker.reports.rollups import add_counts

SERIES_LENGTH = """key => {
  const line = document.querySelector(`#monthly-chart polyline.series-${key}`);
  return line ? {points: line.points.numberOfItems, width: line.getBBox().width,
                 height: line.getBBox().height} : null;
}"""
FIRST_COLUMN = """id => Array.from(document.querySelectorAll(`#${id} tbody tr`))
  .map(row => row.cells[0].textContent.trim())"""


def seed_two_years(catalogue) -> None:
    """Two years in the rollups; office 811000 grows through 2018, 810000 stays flat."""
    rows = Counter()
    for month in range(1, 13):
        key = (catalogue.office, catalogue.procedure, "two_way")
        rows[(date(2017, month, 3), *key)] += 20
        rows[(date(2018, month, 5), *key)] += 24
        other = (catalogue.other_office, catalogue.return_procedure, "return_only")
        rows[(date(2018, month, 6), *other)] += 4 * month
    counts = {
        (day, office.id, office.channel_id, procedure.id, procedure.agency_id, form): Counter(
            taken=taken
        )
        for (day, office, procedure, form), taken in rows.items()
    }
    add_counts(db.session, counts)
    db.session.commit()


def test_a_manager_sees_the_chart_and_sorts_a_breakdown(
    app, live_server, browser_page, make_staff, catalogue, tmp_path
):
    seed_two_years(catalogue)
    manager = make_staff("manager")
    page = browser_page
    sign_in(page, live_server.url, manager.user.username)
    page.wait_for_url(f"{live_server.url}/manager")

    page.fill("#year", "2018")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/manager?year=2018**")

    for key in ("current", "previous", "pace"):
        drawn = page.evaluate(SERIES_LENGTH, key)
        assert drawn is not None, key
        assert drawn["points"] >= 2 and drawn["width"] > 0 and drawn["height"] > 0, (key, drawn)
    assert page.locator("#monthly-chart circle.marker-current").count() == 12
    assert page.locator("#progress-postal_total").get_attribute("value")

    # Office 811000 took more dossiers in 2018: first by default (most first), last ascending.
    assert page.evaluate(FIRST_COLUMN, "table-office") == ["811000", "810000"]
    header = page.locator("#table-office thead th").nth(2)
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert page.evaluate(FIRST_COLUMN, "table-office") == ["810000", "811000"]
    header.locator("button").click()
    assert page.evaluate(FIRST_COLUMN, "table-office") == ["811000", "810000"]

    # The table alternative opens under the chart.
    page.click("details.chart-data summary")
    assert page.locator("details.chart-data table tbody tr").count() == 12
    screenshot(page, "dashboard", tmp_path)


def test_the_dashboard_shows_the_stitched_current_year(
    app, live_server, browser_page, make_staff, catalogue, tmp_path
):
    """Go-live in mid-October last year: January to September of last year come from their
    baselines, October from both, November and December from records; this year is records."""
    today = today_vn()
    last = today.year - 1
    db.session.add(ReportSetting(id=1, go_live_on=date(last, 10, 15)))
    for month in range(1, 11):
        db.session.add(Baseline(year=last, month=month, two_way=30, one_way=300))
    db.session.commit()
    rows = Counter()
    office, procedure = catalogue.office, catalogue.procedure
    for day in (date(last, 10, 20), date(last, 11, 5), date(last, 12, 5)):
        rows[(day, office, procedure, "two_way")] += 40
    for month in range(1, today.month + 1):
        rows[(date(today.year, month, 1), office, procedure, "two_way")] += 45
    add_counts(db.session, {
        (day, o.id, o.channel_id, p.id, p.agency_id, form): Counter(taken=taken)
        for (day, o, p, form), taken in rows.items()
    })  # fmt: skip
    db.session.commit()
    report = build_report(today.year)
    manager = make_staff("manager")
    page = browser_page
    sign_in(page, live_server.url, manager.user.username)
    page.wait_for_url(f"{live_server.url}/manager")

    cells = page.evaluate(SOURCE_CELLS)
    assert cells[1] == [str(last)] + ["Số liệu tổng hợp"] * 9 + [
        "Tổng hợp, rồi dữ liệu ghi nhận", "Dữ liệu ghi nhận", "Dữ liệu ghi nhận",
    ]  # fmt: skip
    assert cells[0][1 : today.month + 1] == ["Dữ liệu ghi nhận"] * today.month
    assert "Hệ thống bắt đầu dùng từ" in page.inner_text("#go-live-line")
    total = report["metrics"]["postal_total"]
    # Last year is whole: 9 x 330 + 14/31 of 330 + 120 recorded.
    assert total["previous_year"] == 9 * 330 + 149 + 120
    card = page.inner_text("article[aria-labelledby=card-postal_total]")
    assert f"{total['target']:,}".replace(",", ".") in card
    assert page.inner_text("#why-postal_total").strip()
    # Last year's running total is drawn through all twelve months.
    assert page.evaluate(SERIES_LENGTH, "previous")["points"] == 13
    target = page.locator("#table-office tbody tr").first.locator("td").nth(10)
    assert target.inner_text() == f"{total['target']:,}".replace(",", ".")
    screenshot(page, "dashboard-go-live", tmp_path)


SOURCE_CELLS = """() => Array.from(document.querySelectorAll('#table-sources tbody tr'))
  .map(row => Array.from(row.cells).map(cell => cell.textContent.trim()))"""
