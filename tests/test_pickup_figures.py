"""Pickup figures by office and month (issue 13, item 7): calls taken in the month of the call,
collections in the month of the visit, requests closed without a collection in the month they
were closed, the median hours from call to collection; Vietnam's month boundaries; the API for
managers and the manager's page."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.pages import sign_in, text_of
from tracker.calendar import VN_TZ
from tracker.catalogue.models import Commune, ServiceArea
from tracker.extensions import db
from tracker.pickups.models import Pickup
from tracker.reports.pickup_figures import pickup_figures

YEAR = 2025


def vn(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=VN_TZ)


@pytest.fixture
def commune(catalogue) -> Commune:
    commune = Commune(code="26041", name="Phường Trấn Biên", province="Đồng Nai")
    db.session.add(ServiceArea(commune=commune, office=catalogue.office))
    db.session.commit()
    return commune


@pytest.fixture
def add_pickup(catalogue, commune):
    serial = iter(range(1, 1000))

    def add(
        called: datetime,
        state: str = "requested",
        *,
        closed: datetime | None = None,
        office=None,
    ) -> Pickup:
        pickup = Pickup(
            reference=f"TG-TEST-{next(serial):04d}",
            state=state,
            caller_name="Nguyễn Văn An",
            phone="0912345678",
            street="12 Đường 30/4",
            commune=commune,
            office=office or catalogue.office,
            service_form="two_way",
            day=called.date() + timedelta(days=1),
            slot="morning",
            created_at=called,
            updated_at=closed or called,
            state_changed_at=closed or called,
            collected_at=closed if state == "collected" else None,
        )
        db.session.add(pickup)
        db.session.commit()
        return pickup

    return add


@pytest.fixture
def year_of_pickups(add_pickup, catalogue):
    """January: three calls (one at 23:30 on the 31st, Vietnam time), two collected (after 2 h and
    after 30 h; the second on 1 February at 00:30), one closed uncollected in February. The other
    office: one call in March, collected after 5 h. Last year's call collected this January."""
    add_pickup(vn(YEAR, 1, 6, 8), "collected", closed=vn(YEAR, 1, 6, 10))
    add_pickup(vn(YEAR, 1, 30, 18, 30), "collected", closed=vn(YEAR, 2, 1, 0, 30))
    add_pickup(vn(YEAR, 1, 31, 23, 30), "failed", closed=vn(YEAR, 2, 3, 9))
    add_pickup(
        vn(YEAR, 3, 2, 8), "collected", closed=vn(YEAR, 3, 2, 13), office=catalogue.other_office
    )
    add_pickup(vn(YEAR - 1, 12, 31, 16), "collected", closed=vn(YEAR, 1, 1, 8))
    add_pickup(vn(YEAR, 12, 31, 23, 59), "requested")
    add_pickup(vn(YEAR + 1, 1, 1, 0, 1), "requested")  # next year's


def month(figures: dict, number: int) -> dict:
    return next(row for row in figures["months"] if row["month"] == number)


def test_figures_fall_in_their_own_vietnamese_month(app, catalogue, year_of_pickups):
    figures = pickup_figures(YEAR)
    january, february, march = month(figures, 1), month(figures, 2), month(figures, 3)
    assert (january["requested"], january["collected"], january["failed"]) == (3, 2, 0)
    # 2 h (6 January) and 16 h (last year's call on 31 December, collected on 1 January).
    assert january["median_hours"] == 9.0
    assert (february["requested"], february["collected"], february["failed"]) == (0, 1, 1)
    assert february["median_hours"] == 30.0
    assert (march["requested"], march["collected"], march["median_hours"]) == (1, 1, 5.0)
    assert month(figures, 12)["requested"] == 1  # 23:59 on 31 December still counts this year
    assert figures["total"] == {"requested": 5, "collected": 4, "failed": 1, "median_hours": 10.5}


def test_each_office_has_its_own_months_and_year(app, catalogue, year_of_pickups):
    figures = pickup_figures(YEAR)
    offices = {row["office"]["code"]: row for row in figures["offices"]}
    assert set(offices) == {catalogue.office.code, catalogue.other_office.code}
    own = offices[catalogue.office.code]
    assert own["total"] == {"requested": 4, "collected": 3, "failed": 1, "median_hours": 16.0}
    assert [row["month"] for row in own["months"]] == [1, 2, 12]
    other = offices[catalogue.other_office.code]
    assert other["total"] == {"requested": 1, "collected": 1, "failed": 0, "median_hours": 5.0}

    one = pickup_figures(YEAR, catalogue.other_office.id)
    assert [row["office"]["code"] for row in one["offices"]] == [catalogue.other_office.code]
    assert one["total"] == other["total"]


def test_a_year_without_pickups_has_zeros_and_no_median(app, catalogue, year_of_pickups):
    figures = pickup_figures(YEAR - 3)
    assert figures["offices"] == []
    assert figures["total"] == {"requested": 0, "collected": 0, "failed": 0, "median_hours": None}
    assert len(figures["months"]) == 12


def test_managers_read_the_figures_through_the_api(client, make_staff, catalogue, year_of_pickups):
    manager = make_staff("manager")
    answer = client.get(f"/api/v1/reports/pickups?year={YEAR}", headers=manager.headers)
    assert answer.status_code == 200
    assert answer.get_json()["total"]["collected"] == 4
    office = catalogue.other_office.code
    answer = client.get(
        f"/api/v1/reports/pickups?year={YEAR}&office={office}", headers=manager.headers
    )
    assert answer.get_json()["total"]["requested"] == 1


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [("year=1800", 422, "year"), ("", 422, "year"), (f"year={YEAR}&office=NOPE", 404, None)],
)
def test_bad_arguments_are_named(client, make_staff, catalogue, query, status, field):
    manager = make_staff("manager")
    answer = client.get(f"/api/v1/reports/pickups?{query}", headers=manager.headers)
    assert answer.status_code == status
    if field:
        assert field in answer.get_json()["error"]["fields"]


@pytest.mark.parametrize("role", ["clerk", "hotline", "postman", "agency"])
def test_only_managers_and_admins_read_them(client, make_staff, catalogue, role):
    staff = make_staff(role)
    answer = client.get(f"/api/v1/reports/pickups?year={YEAR}", headers=staff.headers)
    assert answer.status_code == 403


def test_the_manager_page_shows_the_months_and_offices(
    client, make_staff, catalogue, year_of_pickups
):
    manager = make_staff("manager")
    sign_in(client, manager.user.username)
    client.set_cookie("lang", "en")
    page = client.get(f"/manager/pickups?year={YEAR}")
    assert page.status_code == 200
    text = text_of(page)
    assert "Pickup figures 2025" in text
    assert f"{catalogue.other_office.code} · {catalogue.other_office.name} 1 1 0 5" in text
    bad = client.get("/manager/pickups?year=abc")
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.get_data(as_text=True)


def test_the_page_is_the_managers(client, make_staff, catalogue):
    clerk = make_staff("clerk")
    sign_in(client, clerk.user.username)
    assert client.get("/manager/pickups").status_code == 403


def test_today_is_the_default_year(client, make_staff, catalogue, add_pickup, today: date):
    manager = make_staff("manager")
    sign_in(client, manager.user.username)
    add_pickup(datetime.now(VN_TZ))
    client.set_cookie("lang", "en")
    page = client.get("/manager/pickups")
    assert f"Pickup figures {today.year}" in text_of(page)
    assert month(pickup_figures(today.year), today.month)["requested"] == 1
