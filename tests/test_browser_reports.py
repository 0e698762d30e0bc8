"""The manager's dashboard in real Chromium: the chart is drawn and a breakdown sorts on click."""

from __future__ import annotations

from collections import Counter
from datetime import date

from tests.browser import screenshot, sign_in
from tracker.extensions import db
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
