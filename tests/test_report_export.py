"""Exports of the growth report: CSV (one part per file) and XLSX (one sheet per part), read
back as a spreadsheet user would."""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest

from tracker.extensions import db
from tracker.reports.models import Baseline, ReportSetting

URL = "/api/v1/reports/growth"


@pytest.fixture
def manager(make_staff):
    return make_staff("manager")


@pytest.fixture
def seeded(app, catalogue, create_dossier, clerk):
    """The 2017 seed baseline, and 2018 dossiers: two two-way, one one-way delivered late."""
    db.session.add(Baseline(year=2017, month=0, two_way=579, one_way=307_871, all_tthc=1_101_607))
    db.session.commit()
    create_dossier(received_at="2018-01-15T09:00+07:00")
    create_dossier(received_at="2018-03-02T09:00+07:00")
    return create_dossier(
        service_form="return_only",
        procedure_code="1.004567",
        received_at="2018-03-05T09:00+07:00",
        appointment_date="2018-03-06",
    )


def get_csv(client, manager, part: str | None = None) -> tuple[list[list[str]], object]:
    query = {"year": 2018, "format": "csv", **({"part": part} if part else {})}
    response = client.get(URL, query_string=query, headers=manager.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.data.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    return rows, response


def test_csv_summary(client, manager, seeded):
    rows, response = get_csv(client, manager)

    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="bao-cao-tang-truong-2018-tong-hop.csv"'
    )
    heading = rows[0]
    assert heading[:8] == [
        "Chỉ tiêu",
        "Năm 2018 (lũy kế)",
        "Năm 2017",
        "Kế hoạch 2018",
        "Tỷ lệ hoàn thành (%)",
        "Cùng kỳ 2017",
        "Tăng trưởng (%)",
        "Dự báo cả năm",
    ]
    table = {row[0]: dict(zip(heading, row, strict=True)) for row in rows[1:]}
    assert list(table) == [
        "Hai chiều",
        "Một chiều (chỉ trả kết quả)",
        "Chỉ gửi hồ sơ",
        "Tổng qua bưu chính",
    ]
    two_way = table["Hai chiều"]
    assert (two_way["Năm 2018 (lũy kế)"], two_way["Kế hoạch 2018"]) == ("2", "753")
    assert table["Tổng qua bưu chính"]["Kế hoạch 2018"] == "400985"
    assert two_way["Tỷ lệ hoàn thành (%)"] == "0.27"  # 2 / 753, in percent
    assert table["Tổng qua bưu chính"]["Tỷ trọng năm 2017 (%)"] == "28.00"
    assert two_way["Tăng trưởng (%)"] == "-99.65"  # the whole year against 579
    assert table["Chỉ gửi hồ sơ"]["Kế hoạch 2018"] == ""  # unknown, not zero
    assert two_way["Đạt kế hoạch"] == "Không"


@pytest.mark.parametrize(
    ("part", "first_headings", "slug"),
    [
        ("month", ["Tháng", "Hai chiều 2018", "Hai chiều 2017"], "thang"),
        ("channel", ["Mã", "Kênh", "Hai chiều: năm 2018 (lũy kế)"], "kenh"),
        ("office", ["Mã", "Bưu cục"], "buu-cuc"),
        ("sector", ["Mã", "Lĩnh vực"], "linh-vuc"),
        ("procedure", ["Mã", "Thủ tục"], "thu-tuc"),
        ("agency", ["Mã", "Cơ quan"], "co-quan"),
    ],
)
def test_csv_parts(client, manager, seeded, part, first_headings, slug):
    rows, response = get_csv(client, manager, part)

    assert rows[0][: len(first_headings)] == first_headings
    assert (
        f'filename="bao-cao-tang-truong-2018-{slug}.csv"' in response.headers["Content-Disposition"]
    )
    if part == "month":
        assert [row[0] for row in rows[1:]] == [str(m) for m in range(1, 13)]
        # March 2018; 2017 has only a yearly figure, spread by days: 31/365 of 579.
        assert rows[3][1:3] == ["1", "49"]
        assert rows[4][1] == "0"  # April: after no dossiers, but within the year
    if part == "office":
        assert rows[1][:2] == ["810000", "Bưu cục Biên Hòa"]
        assert rows[1][rows[0].index("Tổng qua bưu chính: năm 2018 (lũy kế)")] == "3"


def test_xlsx_workbook(client, manager, seeded, clerk):
    delivered = client.post(
        f"/api/v1/dossiers/{seeded['code']}/events",
        json={
            "status": "delivered",
            "occurred_at": "2018-03-08T10:00+07:00",
            "receiver": {"name": "Trần Thị Bình", "relation": "applicant"},
        },
        headers=clerk.headers,
    )
    assert delivered.status_code == 201

    response = client.get(
        URL, query_string={"year": 2018, "format": "xlsx"}, headers=manager.headers
    )

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="bao-cao-tang-truong-2018.xlsx"'
    )
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == [
        "Tổng hợp",
        "Theo tháng",
        "Theo kênh",
        "Theo bưu cục",
        "Theo lĩnh vực",
        "Theo thủ tục",
        "Theo cơ quan",
        "Ghi chú",
    ]
    summary = workbook["Tổng hợp"]
    headings = [cell.value for cell in summary[1]]
    column = {heading: index for index, heading in enumerate(headings)}
    total = summary[5]
    assert total[0].value == "Tổng qua bưu chính"
    target = total[column["Kế hoạch 2018"]]
    assert (target.value, type(target.value), target.number_format) == (400_985, int, "#,##0")
    share = total[column["Tỷ trọng năm 2017 (%)"]]
    assert (share.value, share.number_format) == (0.28, "0.0%")
    assert summary[4][column["Kế hoạch 2018"]].value is None  # send-only: unknown
    office = workbook["Theo bưu cục"]
    row = {cell.value: value for cell, value in zip(office[1], office[2], strict=True)}
    assert row["Mã"].value == "810000"
    assert row["Đã trả kết quả"].value == 1
    on_time = row["Tỷ lệ đúng hạn (%)"]
    assert (on_time.value, on_time.number_format) == (0, "0.0%")  # delivered late
    months = workbook["Theo tháng"]
    assert [months.cell(row=r, column=1).value for r in range(2, 14)] == list(range(1, 13))
    about = {row[0]: row[1] for row in workbook["Ghi chú"].iter_rows(values_only=True)}
    assert about["Tính đến ngày"] == "31/12/2018"


def test_filtered_export_and_errors(client, manager, seeded):
    response = client.get(
        URL,
        query_string={"year": 2018, "format": "xlsx", "office": "811000"},
        headers=manager.headers,
    )
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    about = {row[0]: row[1] for row in workbook["Ghi chú"].iter_rows(values_only=True)}
    assert about["Lọc theo bưu cục"] == "811000"
    assert workbook["Theo bưu cục"].max_row == 1  # headings only

    unknown = client.get(
        URL, query_string={"year": 2018, "format": "csv", "office": "0"}, headers=manager.headers
    )
    assert unknown.status_code == 404
    assert list(unknown.get_json()["error"]["fields"]) == ["office"]


def test_exports_carry_targets_sources_and_the_go_live_date(client, manager, seeded):
    db.session.merge(ReportSetting(id=1, go_live_on=date(2018, 2, 1)))
    db.session.add(Baseline(year=2018, month=1, two_way=5, one_way=100))
    db.session.commit()

    summary, _ = get_csv(client, manager)
    months, _ = get_csv(client, manager, "month")
    offices, _ = get_csv(client, manager, "office")
    workbook = openpyxl.load_workbook(
        io.BytesIO(
            client.get(
                URL, query_string={"year": 2018, "format": "xlsx"}, headers=manager.headers
            ).data
        )
    )

    two_way = dict(zip(summary[0], summary[1], strict=True))
    # The dossier of 15 January came before go-live: January is the baseline's 5.
    assert two_way["Năm 2018 (lũy kế)"] == "6"
    assert two_way["Nguồn số liệu năm 2018"] == "T1: số liệu tổng hợp; T2-T12: dữ liệu hệ thống"
    assert two_way["Nguồn số liệu năm 2017"] == "T1-T12: số cả năm chia theo ngày"
    assert two_way["Lý do chọn cách dự báo"] == "Có tháng của năm trước không có số liệu riêng"
    january = dict(zip(months[0], months[1], strict=True))
    assert (january["Nguồn số liệu 2018"], january["Nguồn số liệu 2017"]) == (
        "số liệu tổng hợp",
        "số cả năm chia theo ngày",
    )
    office = dict(zip(offices[0], offices[1], strict=True))
    # The only office: the province's figures and target are its own.
    assert office["Tổng qua bưu chính: năm 2017"] == "308450"
    assert office["Tổng qua bưu chính: kế hoạch 2018"] == "400985"
    assert office["Hai chiều: kế hoạch 2018"] == "753"
    assert office["Tổng qua bưu chính: đạt kế hoạch"] == "Không"
    assert office["Cách giao kế hoạch (tổng)"] == "Tăng trưởng so với năm trước"
    sheet = workbook["Theo bưu cục"]
    cells = {cell.value: value for cell, value in zip(sheet[1], sheet[2], strict=True)}
    progress = cells["Tổng qua bưu chính: tỷ lệ hoàn thành (%)"]
    assert (progress.number_format, progress.value) == ("0.0%", round(107 / 400_985, 4))
    about = {row[0]: row[1] for row in workbook["Ghi chú"].iter_rows(values_only=True)}
    assert about["Ngày bắt đầu dùng hệ thống"] == "01/02/2018"
    assert about["Số liệu năm 2018"].startswith("Số liệu tổng hợp trước ngày bắt đầu")
