"""Manager pages: the growth dashboard (cards, chart, breakdowns, exports), baselines and targets,
overdue dossiers and anomalies."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tests.pages import post_form, sign_in, text_of
from tracker.audit.models import AuditEntry
from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.reports import queries
from tracker.reports.growth import ReportFilters, build_report
from tracker.reports.models import Baseline, GrowthTarget, OfficeTarget, ReportSetting
from tracker.reports.rollups import add_counts
from tracker.sweeps.models import Anomaly
from tracker.sweeps.operations import mark_overdue_and_stuck

SEED_2017 = {"two_way": 579, "one_way": 307_871, "all_tthc": 1_101_607}
PAGES = ("/manager", "/manager/settings", "/manager/problems", "/manager/export?format=xlsx")
POLYLINE = re.compile(r'<polyline class="series series-(\w+)" fill="none" points="([^"]*)"')


def put_counts(day: date, office, procedure, form: str, **measures) -> None:
    """Rollup rows written as the rollups write them (the day's row and its month's row)."""
    key = (day, office.id, office.channel_id, procedure.id, procedure.agency_id, form)
    add_counts(db.session, {key: Counter(measures)})
    db.session.commit()


def vi_number(value: int) -> str:
    """A count as the Vietnamese page writes it: 400.233."""
    return f"{value:,}".replace(",", ".")


@pytest.fixture
def manager(make_staff, client):
    staff = make_staff("manager")
    sign_in(client, staff.user.username)
    return staff


@pytest.fixture
def two_years(catalogue):
    """2017 and 2018 in the rollups: each month of 2017 and of 2018 has dossiers, two offices."""
    for month in range(1, 13):
        put_counts(date(2017, month, 3), catalogue.office, catalogue.procedure, "two_way", taken=2)
        put_counts(date(2018, month, 5), catalogue.office, catalogue.procedure, "two_way", taken=3)
        put_counts(
            date(2018, month, 6), catalogue.other_office, catalogue.return_procedure,
            "return_only", taken=month,
        )  # fmt: skip


# Access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_sign_in(client, catalogue, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", ["clerk", "agency"])
def test_other_roles_are_refused(client, make_staff, role):
    staff = make_staff(role)
    sign_in(client, staff.user.username)
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Bạn không có quyền xem trang này" in text_of(response)


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_open_every_page(client, make_staff, role):
    staff = make_staff(role)
    sign_in(client, staff.user.username)
    for url in PAGES:
        assert client.get(url).status_code == 200, url


# Dashboard -------------------------------------------------------------------------------


def test_the_seed_case_targets_are_on_the_dashboard(client, manager, catalogue):
    client.put("/api/v1/reports/baselines/2017", json=SEED_2017, headers=manager.headers)
    put_counts(date(2018, 2, 5), catalogue.office, catalogue.procedure, "two_way", taken=7)

    response = client.get("/manager?year=2018")

    assert response.status_code == 200
    html, text = response.get_data(as_text=True), text_of(response)
    report = build_report(2018)
    for metric, figures in report["metrics"].items():
        card = re.search(rf'id="card-{metric}">(.*?)</article>', html, re.S).group(1)
        card_text = text_of_html(card)
        for name in ("actual", "target", "previous_year", "projection"):
            if figures[name] is not None:
                assert vi_number(figures[name]) in card_text, (metric, name)
    assert [report["metrics"][m]["target"] for m in ("two_way", "one_way", "postal_total")] == [
        753, 400_233, 400_985,
    ]  # fmt: skip
    assert 'id="progress-two_way" max="753" value="7"' in html
    assert "0,9% của kế hoạch" in text  # 7 / 753, the text beside the bar


def text_of_html(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_chart_draws_this_year_last_year_and_the_target_pace(client, manager, two_years):
    response = client.get("/manager?year=2018&chart=postal_total")

    html = response.get_data(as_text=True)
    lines = {key: points.split() for key, points in POLYLINE.findall(html)}
    assert set(lines) == {"current", "previous", "pace"}
    assert all(len(points) == 13 for points in lines.values())  # 1 January and each month end
    xs = [float(point.split(",")[0]) for point in lines["current"]]
    assert xs == sorted(xs) and xs[-1] > xs[0]
    assert "<title" in html and "<desc" in html
    # The data table under <details> holds the chart's figures, from build_report.
    report = build_report(2018)
    table = re.search(r'<details class="chart-data">(.*?)</details>', html, re.S).group(1)
    december = re.findall(r"<tr>(.*?)</tr>", table, re.S)[-1]
    cells = re.findall(r"<t[dh][^>]*>([^<]*)</t[dh]>", december)
    total_2018 = sum(m["current"]["postal_total"] for m in report["months"])
    total_2017 = sum(m["previous"]["postal_total"] for m in report["months"])
    assert cells == [
        "12", vi_number(3 + 12), vi_number(total_2018), "2", vi_number(total_2017),
        vi_number(report["metrics"]["postal_total"]["target"]),
    ]  # fmt: skip


def test_breakdowns_are_sortable_tables_with_the_report_figures(client, manager, two_years):
    html = client.get("/manager?year=2018").get_data(as_text=True)

    report = build_report(2018)
    for part in ("channel", "office", "sector"):
        pattern = rf'<table data-sortable class="breakdown" id="table-{part}">(.*?)</table>'
        table = re.search(pattern, html, re.S).group(1)
        rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
        assert len(rows) == len(report["breakdowns"][part]) > 0
        for row, expected in zip(rows, report["breakdowns"][part], strict=True):
            values = re.findall(r'data-value="([^"]*)"', row)
            assert int(values[0]) == expected["metrics"]["postal_total"]["actual"]
    office_rows = report["breakdowns"]["office"]
    assert {row["code"] for row in office_rows} == {"810000", "811000"}


def test_filters_narrow_the_figures_like_the_api(client, manager, two_years, catalogue):
    response = client.get("/manager?year=2018&office=811000&channel=&sector=")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    report = build_report(2018, None, ReportFilters(office_id=catalogue.other_office.id))
    total = report["metrics"]["postal_total"]["actual"]
    assert total == 78
    assert re.search(r'id="card-postal_total">.*?<span class="big">78</span>', html, re.S)
    assert '<option value="811000" selected>' in html
    # The export links carry the same filters.
    assert "office=811000" in re.search(r'href="(/manager/export[^"]*xlsx[^"]*)"', html).group(1)


def test_a_bad_year_or_an_unknown_code_is_told_beside_the_field(client, manager):
    bad_year = client.get("/manager?year=1999")
    assert bad_year.status_code == 422
    assert 'id="year-error"' in bad_year.get_data(as_text=True)
    assert 'value="1999"' in bad_year.get_data(as_text=True)

    unknown = client.get("/manager?year=2018&office=999999")
    assert unknown.status_code == 404
    assert "mã 999999 không có trong danh mục" in text_of(unknown)

    future = client.get(f"/manager?year={date.today().year + 2}")
    assert future.status_code == 422
    assert client.get("/manager?year=2018&chart=nothing").status_code == 422


def test_csv_and_xlsx_exports_are_the_apis(client, manager, two_years):
    csv = client.get("/manager/export?format=csv&part=office&year=2018")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert csv.data.startswith("\ufeff".encode())
    assert 'filename="bao-cao-tang-truong-2018-buu-cuc.csv"' in csv.headers["Content-Disposition"]
    api = client.get(
        "/api/v1/reports/growth?format=csv&part=office&year=2018", headers=manager.headers
    )
    assert csv.data == api.data

    xlsx = client.get("/manager/export?format=xlsx&year=2018&office=810000")
    workbook = load_workbook(io.BytesIO(xlsx.data))
    assert workbook.sheetnames[:2] == ["Tổng hợp", "Theo tháng"]
    assert workbook["Tổng hợp"]["B5"].value == 36  # postal total of office 810000

    assert client.get("/manager/export?format=csv&part=nothing&year=2018").status_code == 422
    assert client.get("/manager/export?year=2018").status_code == 422  # json is the API's
    assert client.get("/manager/export?format=xlsx&year=2018&sector=XX").status_code == 404


def test_english_switch(client, manager, two_years):
    client.set_cookie("lang", "en")
    text = text_of(client.get("/manager?year=2018"))
    assert "Growth dashboard 2018" in text
    assert "Postal total" in text and "By post office" in text
    assert "Tổng qua bưu chính" not in text
    assert "English" in text_of(client.get("/manager/settings?year=2018"))
    assert "Overdue dossiers" in text_of(client.get("/manager/problems"))


# Baselines and targets -------------------------------------------------------------------


def test_settings_show_the_targets_of_the_year(client, manager):
    client.put("/api/v1/reports/baselines/2017", json=SEED_2017, headers=manager.headers)

    html = client.get("/manager/settings?year=2018").get_data(as_text=True)

    for metric, value in (("two_way", 753), ("one_way", 400_233), ("postal_total", 400_985)):
        assert re.search(rf'class="num target-{metric}">{re.escape(vi_number(value))}<', html)
    assert "30,0%" in text_of_html(html)
    # The 2017 form shows what is stored.
    form = client.get("/manager/settings?year=2017").get_data(as_text=True)
    assert 'name="one_way" type="text" value="307871"' in form


def test_settings_refuse_a_post_without_csrf(client, manager):
    response = client.post("/manager/settings?year=2017", data={"form": "baseline", "two_way": 5})
    assert response.status_code == 400
    assert db.session.scalars(select(Baseline)).all() == []


def test_baseline_errors_sit_beside_the_fields_and_keep_what_was_typed(client, manager):
    data = {"form": "baseline", "two_way": "579", "one_way": "many", "months.3.send_only": "-4"}

    response = post_form(client, "/manager/settings?year=2017", data)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="one_way-error">\s*<li>Không phải số nguyên hợp lệ.</li>', html)
    assert re.search(r'id="months-3-send_only-error">\s*<li>Phải là số từ 0', html)
    assert 'value="many"' in html and 'value="-4"' in html and 'value="579"' in html
    assert 'aria-invalid="true"' in html
    assert db.session.scalars(select(Baseline)).all() == []

    too_many = post_form(
        client, "/manager/settings?year=2017",
        {"form": "baseline", "two_way": "10", "months.1.two_way": "8", "months.2.two_way": "3"},
    )  # fmt: skip
    assert too_many.status_code == 422
    assert "the months add up to 11" in too_many.get_data(as_text=True)
    assert db.session.scalars(select(Baseline)).all() == []


def test_figures_too_long_for_python_are_form_errors_not_a_crash(client, manager):
    # Python's int() refuses more than 4,300 digits; the form must still answer beside the field.
    data = {"form": "baseline", "one_way": "9" * 5000, "months.3.two_way": "9" * 5000}
    response = post_form(client, "/manager/settings?year=2017", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="one_way-error"' in html and 'id="months-3-two_way-error"' in html
    assert db.session.scalars(select(Baseline)).all() == []


def test_a_post_that_names_no_form_changes_nothing(client, manager):
    saved = post_form(client, "/manager/settings?year=2017", {"form": "baseline", "two_way": "579"})
    assert saved.status_code == 302
    # Without the form's name the figures would all be blank: a baseline that removes itself.
    for data in ({"rate": "25"}, {"form": "other", "rate": "25"}):
        response = post_form(client, "/manager/settings?year=2017", data)
        assert response.status_code == 400, data
    db.session.expire_all()
    assert [b.two_way for b in db.session.scalars(select(Baseline))] == [579]


def test_a_baseline_is_saved_through_the_operation_and_audited(client, manager):
    data = {
        "form": "baseline",
        "two_way": "579",
        "one_way": "307.871",
        "all_tthc": "1,101,607",
        "note": "Đồng Nai 2017",
        "months.2.two_way": "40",
    }

    response = post_form(client, "/manager/settings?year=2017", data)

    assert response.status_code == 302
    assert response.headers["Location"] == "/manager/settings?year=2017"
    state = queries.baseline_state(2017)
    assert (state["two_way"], state["one_way"], state["send_only"], state["all_tthc"]) == (
        579, 307_871, None, 1_101_607,
    )  # fmt: skip
    assert state["months"] == [
        {"month": 2, "two_way": 40, "one_way": None, "send_only": None, "all_tthc": None}
    ]
    assert state["updated_by"] == manager.user.username
    assert "report.baseline.set" in db.session.scalars(select(AuditEntry.action)).all()
    page = client.get(response.headers["Location"])
    assert "Đã lưu số liệu gốc năm 2017" in text_of(page)
    targets = client.get("/manager/settings?year=2018").get_data(as_text=True)
    assert re.search(r'class="num target-two_way">753<', targets)


def test_the_growth_rate_form(client, manager):
    client.put("/api/v1/reports/baselines/2017", json=SEED_2017, headers=manager.headers)

    bad = post_form(client, "/manager/settings?year=2018", {"form": "target", "rate": "-5"})
    assert bad.status_code == 422
    assert 'id="rate-error"' in bad.get_data(as_text=True)
    assert "Nhập tỷ lệ phần trăm từ 0 đến 1000, tối đa 2 chữ số thập phân." in text_of(bad)
    assert 'value="-5"' in bad.get_data(as_text=True)
    words = post_form(client, "/manager/settings?year=2018", {"form": "target", "rate": "lots"})
    assert words.status_code == 422 and "Không phải số hợp lệ." in text_of(words)
    assert db.session.get(GrowthTarget, 2018) is None

    saved = post_form(
        client, "/manager/settings?year=2018",
        {"form": "target", "rate": "25", "target_note": "Kế hoạch tỉnh"},
    )  # fmt: skip
    assert saved.status_code == 302
    assert float(db.session.get(GrowthTarget, 2018).rate) == 0.25
    page = client.get("/manager/settings?year=2018").get_data(as_text=True)
    assert re.search(r'class="num target-two_way">724<', page)  # ceil(579 x 1.25)
    assert 'name="rate" type="text" value="25"' in page

    back = post_form(client, "/manager/settings?year=2018", {"form": "target", "rate": ""})
    assert back.status_code == 302
    db.session.expire_all()
    assert db.session.get(GrowthTarget, 2018) is None


def test_a_bad_settings_year_is_a_422_page(client, manager):
    response = client.get("/manager/settings?year=20x8")
    assert response.status_code == 422
    assert "year" in text_of(response)


# Overdue dossiers and anomalies ----------------------------------------------------------


def test_problems_list_overdue_dossiers_and_open_anomalies(
    client, manager, clerk, create_dossier, today
):
    late = create_dossier(received_at="2025-03-03T09:00:00+07:00")
    handed = {"status": "forwarded", "occurred_at": "2025-03-03T15:00:00+07:00"}
    url = f"/api/v1/dossiers/{late['code']}/events"
    assert client.post(url, json=handed, headers=clerk.headers).status_code == 201
    create_dossier()  # received now: not overdue
    mark_overdue_and_stuck()  # the hourly sweep marks it
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == late["code"]))
    db.session.add(
        Anomaly(
            dossier_id=dossier.id,
            kind="result_not_collected",
            detail="Cơ quan giải quyết đã có kết quả từ lâu",
            data={},
        )
    )
    db.session.commit()

    response = client.get("/manager/problems")

    assert response.status_code == 200
    html, text = response.get_data(as_text=True), text_of(response)
    overdue = re.search(r'<table data-sortable id="overdue-table">(.*?)</table>', html, re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", overdue.group(1).split("<tbody>")[1], re.S)
    assert len(rows) == 1
    assert f'href="/dossiers/{late["code"]}"' in rows[0]
    days = (today - dossier.due_date).days
    assert f'data-value="{days}"' in rows[0] and days > 0
    assert "Hồ sơ quá hạn (1)" in text
    assert "Có kết quả đã lâu nhưng bưu điện chưa nhận" in text
    assert "Bất thường chưa xử lý (1)" in text

    client.set_cookie("lang", "en")
    english = text_of(client.get("/manager/problems"))
    assert "Result ready long ago, not collected by the post" in english


def test_problems_page_refuses_a_bad_cursor(client, manager):
    assert client.get("/manager/problems?anomalies_after=%%%").status_code == 422


# Across the go-live year -----------------------------------------------------------------


def test_the_dashboard_says_where_each_month_comes_from(client, manager, catalogue):
    db.session.merge(ReportSetting(id=1, go_live_on=date(2018, 7, 1)))
    db.session.commit()
    for month in range(1, 7):
        db.session.add(Baseline(year=2018, month=month, two_way=100, one_way=1000))
    db.session.commit()
    put_counts(date(2018, 9, 1), catalogue.office, catalogue.procedure, "two_way", taken=60)
    put_counts(date(2018, 9, 1), catalogue.other_office, catalogue.procedure, "two_way", taken=40)
    put_counts(date(2019, 3, 1), catalogue.office, catalogue.procedure, "two_way", taken=30)

    response = client.get("/manager?year=2019&as_of=2019-06-30&chart=two_way")

    assert response.status_code == 200
    html, text = response.get_data(as_text=True), text_of(response)
    table = re.search(r'<table class="sources" id="table-sources">(.*?)</table>', html, re.S)[1]
    rows = [text_of_html(row) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]]
    assert rows[0] == "2019 " + " ".join(["Dữ liệu ghi nhận"] * 6)
    assert rows[1] == "2018 " + " ".join(["Số liệu tổng hợp"] * 6 + ["Dữ liệu ghi nhận"] * 6)
    assert "Hệ thống bắt đầu dùng từ" in text
    card = text_of_html(re.search(r'id="card-two_way">(.*?)</article>', html, re.S)[1])
    assert "910" in card  # ceil((600 + 100) x 1.3)
    assert "Theo mùa vụ: năm trước có số liệu riêng của từng tháng đến ngày này." in card
    # The breakdown carries each office's postal target: 810000 had 60 of the 100 recorded in
    # 2018, so 60 + 60% of the 6,600 from the baseline.
    office = re.search(r'id="table-office">(.*?)</table>', html, re.S)[1]
    first = re.findall(r"<tr>(.*?)</tr>", office.split("<tbody>")[1], re.S)[0]
    values = re.findall(r'data-value="([^"]*)"', first)
    assert values[-3] == "5226"  # ceil(4,020 x 1.3)
    client.set_cookie("lang", "en")
    english = text_of(client.get("/manager?year=2019&as_of=2019-06-30"))
    assert "Where the figures come from: Postal total" in english
    assert "Seasonal: last year has a figure of its own" in english


def test_the_notes_read_in_the_page_language_and_the_export_in_vietnamese(
    client, manager, catalogue
):
    db.session.merge(ReportSetting(id=1, go_live_on=date(2018, 7, 1)))
    db.session.add(Baseline(year=2018, month=0, two_way=365))
    db.session.commit()
    put_counts(date(2018, 9, 1), catalogue.office, catalogue.procedure, "two_way", taken=6)
    stitched_vi = (
        "Năm 2018: đến hết ngày 30/06/2018 theo số liệu tổng hợp đã nhập, từ ngày 01/07/2018"
        " theo dữ liệu ghi nhận trong hệ thống."
    )
    stitched_en = (
        "Year 2018: up to 30/06/2018 from the aggregate figures entered, from 01/07/2018 from"
        " the records in the system."
    )

    api = client.get("/api/v1/reports/growth?year=2018", headers=manager.headers).get_json()
    vietnamese = text_of(client.get("/manager?year=2018"))
    client.set_cookie("lang", "en")
    english = text_of(client.get("/manager?year=2018"))
    xlsx = client.get("/manager/export?format=xlsx&year=2018")

    assert {"code": "stitched", "message": stitched_vi} in api["notes"]
    assert stitched_vi in vietnamese and stitched_en not in vietnamese
    assert stitched_en in english and stitched_vi not in english
    assert "Year 2017 has neither records nor aggregate figures." in english
    sheet = load_workbook(io.BytesIO(xlsx.data))["Ghi chú"]
    notes = [row[1] for row in sheet.iter_rows(values_only=True) if row[0] == "Ghi chú"]
    assert notes == [note["message"] for note in api["notes"]]


def test_the_go_live_form(client, manager, today):
    late = (today + timedelta(days=1)).isoformat()

    bad = post_form(client, "/manager/settings?year=2018", {"form": "go_live", "go_live_on": late})
    saved = post_form(
        client, "/manager/settings?year=2018",
        {"form": "go_live", "go_live_on": "2018-07-01", "go_live_note": "Bắt đầu"},
    )  # fmt: skip

    assert bad.status_code == 422
    assert 'id="go_live_on-error"' in bad.get_data(as_text=True)
    assert f'value="{late}"' in bad.get_data(as_text=True)
    assert saved.status_code == 302
    assert queries.go_live_on() == date(2018, 7, 1)
    page = client.get("/manager/settings?year=2018")
    assert 'name="go_live_on" type="date" value="2018-07-01"' in page.get_data(as_text=True)
    assert "Đã lưu ngày bắt đầu dùng hệ thống." in text_of(page)
    cleared = post_form(
        client, "/manager/settings?year=2018", {"form": "go_live", "go_live_on": ""}
    )
    assert cleared.status_code == 302
    db.session.expire_all()
    assert queries.go_live_on() is None
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert actions.count("report.go_live.set") == 2


def test_the_targets_of_each_office_and_the_page_that_sets_one(
    client, manager, two_years, catalogue
):
    settings = client.get("/manager/settings?year=2018").get_data(as_text=True)
    offices = re.search(r'id="targets-office">(.*?)</table>', settings, re.S)[1]
    rows = [
        text_of_html(r) for r in re.findall(r"<tr>(.*?)</tr>", offices.split("<tbody>")[1], re.S)
    ]
    assert rows[0].startswith("810000 Bưu cục Biên Hòa 24 32 tăng trưởng so với năm trước")
    assert rows[1].startswith("811000 Bưu cục Long Khánh 0 — —")
    url = "/manager/settings/targets/office/811000?year=2018"
    assert "Bưu cục Long Khánh" in text_of(client.get(url))

    refused = post_form(client, url, {"weight": "150"})
    assert refused.status_code == 422
    assert "Nhập tỷ lệ phần trăm từ 0 đến 100, tối đa 2 chữ số thập phân." in text_of(refused)
    assert 'id="weight-error"' in refused.get_data(as_text=True)
    saved = post_form(client, url, {"weight": "10", "note": "Mới mở"})
    assert saved.status_code == 302
    overridden = post_form(client, url.replace("811000", "810000"), {"two_way": "50"})
    assert overridden.status_code == 302

    row = db.session.get(OfficeTarget, (2018, "office", catalogue.other_office.id))
    assert row.weight == Decimal("0.1") and row.note == "Mới mở"
    report = build_report(2018)
    by_code = {r["code"]: r["metrics"] for r in report["breakdowns"]["office"]}
    assert by_code["811000"]["postal_total"]["target"] == 4  # ceil(32 x 10%)
    assert by_code["810000"]["two_way"]["target"] == 50
    assert by_code["810000"]["postal_total"]["target"] == 32
    again = client.get("/manager/settings?year=2018").get_data(as_text=True)
    offices = re.search(r'id="targets-office">(.*?)</table>', again, re.S)[1]
    rows = [
        text_of_html(r) for r in re.findall(r"<tr>(.*?)</tr>", offices.split("<tbody>")[1], re.S)
    ]
    assert rows[1].startswith("811000 Bưu cục Long Khánh 0 4 tỷ lệ trên kế hoạch của tỉnh")
    removed = post_form(client, url, {"weight": "", "note": ""})
    assert removed.status_code == 302
    db.session.expire_all()
    assert db.session.get(OfficeTarget, (2018, "office", catalogue.other_office.id)) is None
    assert client.get("/manager/settings/targets/office/999999?year=2018").status_code == 404
    assert client.get("/manager/settings/targets/sector/TP?year=2018").status_code == 404
