"""The growth report as spreadsheets: one table per part (summary, months, each breakdown), written
as CSV (one part per file) or as one XLSX workbook (one sheet per part, and a sheet of notes).

Headings and labels are Vietnamese. Numbers stay numbers: counts are integers; ratios are
percentages, written in CSV as plain numbers ("28.00", "." decimal, under a "(%)" heading) and in
XLSX as the ratio itself (0.28) with the number format "0.0%". CSV files start with a UTF-8 BOM
so that Excel reads the Vietnamese text. Text is never a formula (names come from the catalogue,
and so from outside): every cell goes through `tracker.csvfile`'s `csv_cell` / `set_xlsx_cell`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from flask import Response
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from tracker.csvfile import csv_cell, csv_row, set_xlsx_cell
from tracker.reports.growth import BREAKDOWNS, METRICS

PARTS = ("summary", "month", *BREAKDOWNS)
# Sheet title and file-name slug per part.
PART_TITLES = {
    "summary": ("Tổng hợp", "tong-hop"),
    "month": ("Theo tháng", "thang"),
    "channel": ("Theo kênh", "kenh"),
    "office": ("Theo bưu cục", "buu-cuc"),
    "sector": ("Theo lĩnh vực", "linh-vuc"),
    "procedure": ("Theo thủ tục", "thu-tuc"),
    "agency": ("Theo cơ quan", "co-quan"),
}
DIMENSION_HEADINGS = {
    "channel": "Kênh",
    "office": "Bưu cục",
    "sector": "Lĩnh vực",
    "procedure": "Thủ tục",
    "agency": "Cơ quan",
}
METHODS = {"seasonal": "Theo mùa vụ năm trước", "linear": "Theo tốc độ bình quân"}
REASONS = {
    "last_year_by_month": "Năm trước có số liệu riêng của từng tháng đến cùng ngày",
    "no_last_year": "Chưa có số liệu năm trước",
    "last_year_months_missing": "Có tháng của năm trước không có số liệu riêng",
    "no_same_period": "Cùng kỳ năm trước không có hồ sơ",
}
BOUNDS = {
    "best_pace": "Giới hạn ở lũy kế + tốc độ tháng cao nhất x số ngày còn lại",
    "year_to_date": "Giới hạn ở số lũy kế",
}
BASES = {
    "records": "Dữ liệu hệ thống",
    "baseline": "Số liệu tổng hợp",
    "stitched": "Số liệu tổng hợp trước ngày bắt đầu, dữ liệu hệ thống từ ngày đó",
    "none": "Không có",
}
SOURCES = {
    "records": "dữ liệu hệ thống",
    "baseline": "số liệu tổng hợp",
    "baseline_year": "số cả năm chia theo ngày",
    "go_live": "tổng hợp + dữ liệu hệ thống",
    "none": "thiếu",
}
TARGET_BASES = {
    "override": "Lãnh đạo đặt",
    "growth": "Tăng trưởng so với năm trước",
    "weight": "Tỷ lệ trên kế hoạch của tỉnh",
}
# A breakdown row's figures per metric, in the order of their columns (then "on track").
BREAKDOWN_FIGURES = (
    "actual",
    "same_period",
    "growth",
    "previous_year",
    "target",
    "progress",
    "projection",
)
COUNT_FORMAT = "#,##0"
RATIO_FORMAT = "0.0%"
FILE_STEM = "bao-cao-tang-truong"


@dataclass(frozen=True)
class Column:
    heading: str
    kind: str  # "text" | "count" | "ratio"


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[Column]
    rows: list[list]


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(report: dict, fmt: str, part: str | None) -> Response:
    """The report as a file to save: one CSV `part` (summary by default) or the XLSX workbook."""
    if fmt == "csv":
        part = part or "summary"
        body, mimetype, name = csv_bytes(report, part), "text/csv", filename(report, "csv", part)
    else:
        body, mimetype, name = xlsx_bytes(report), XLSX_TYPE, filename(report, "xlsx")
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, mimetype=mimetype, headers=disposition)


def filename(report: dict, extension: str, part: str | None = None) -> str:
    """bao-cao-tang-truong-2018.xlsx; a CSV part adds its slug: ...-2018-thang.csv."""
    slug = f"-{PART_TITLES[part][1]}" if part else ""
    return f"{FILE_STEM}-{report['year']}{slug}.{extension}"


def table_of(report: dict, part: str) -> Table:
    """One of PARTS as a table: headings, and rows of values (None: an empty cell)."""
    if part == "summary":
        return _summary(report)
    if part == "month":
        return _months(report)
    return _breakdown(report, part)


def csv_bytes(report: dict, part: str) -> bytes:
    """One part as CSV: comma separated, "." decimal, UTF-8 with a BOM."""
    table = table_of(report, part)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_row(column.heading for column in table.columns))
    for row in table.rows:
        writer.writerow(
            [
                _csv_cell(value, column.kind)
                for value, column in zip(row, table.columns, strict=True)
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def xlsx_bytes(report: dict) -> bytes:
    """Every part as a sheet of one workbook, then a sheet saying what the figures are."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for part in PARTS:
        _write_sheet(workbook, table_of(report, part))
    _write_sheet(workbook, _about(report))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _write_sheet(workbook: Workbook, table: Table) -> None:
    sheet = workbook.create_sheet(table.title)
    for index, column in enumerate(table.columns, start=1):
        heading = sheet.cell(row=1, column=index)
        set_xlsx_cell(heading, column.heading)
        heading.font = Font(bold=True)
    for row_number, row in enumerate(table.rows, start=2):
        for index, value in enumerate(row, start=1):
            set_xlsx_cell(sheet.cell(row=row_number, column=index), value)
    for index, column in enumerate(table.columns, start=1):
        letter = get_column_letter(index)
        number_format = {"count": COUNT_FORMAT, "ratio": RATIO_FORMAT}.get(column.kind)
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = number_format
        width = 40 if column.kind == "text" and index <= 2 else 16
        sheet.column_dimensions[letter].width = max(width, min(len(column.heading) + 2, 40))
    sheet.freeze_panes = "B2"


def _csv_cell(value, kind: str) -> object:
    if value is None:
        return ""
    if kind == "ratio":
        return f"{value * 100:.2f}"  # a number (-99.65 too), not text: never quoted
    return csv_cell(value)


def _day(iso: str | None) -> str | None:
    return None if iso is None else date.fromisoformat(iso).strftime("%d/%m/%Y")


def sources_text(sources: list[str | None]) -> str:
    """The sources of a year's months as runs: "T1-T9: số liệu tổng hợp; T10: ..."."""
    runs: list[list] = []
    for month, source in enumerate(sources, start=1):
        if source is None:
            continue
        if runs and runs[-1][2] == source and runs[-1][1] == month - 1:
            runs[-1][1] = month
        else:
            runs.append([month, month, source])
    return "; ".join(
        f"T{first}{'' if first == last else f'-T{last}'}: {SOURCES[source]}"
        for first, last, source in runs
    )


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("Có" if value else "Không")


# The tables ------------------------------------------------------------------------------


def _summary(report: dict) -> Table:
    year, last = report["year"], report["year"] - 1
    columns = [
        Column("Chỉ tiêu", "text"),
        Column(f"Năm {year} (lũy kế)", "count"),
        Column(f"Năm {last}", "count"),
        Column(f"Kế hoạch {year}", "count"),
        Column("Tỷ lệ hoàn thành (%)", "ratio"),
        Column(f"Cùng kỳ {last}", "count"),
        Column("Tăng trưởng (%)", "ratio"),
        Column("Dự báo cả năm", "count"),
        Column("Cách dự báo", "text"),
        Column("Đạt kế hoạch", "text"),
        Column("Tỷ trọng trên tổng hồ sơ TTHC (%)", "ratio"),
        Column(f"Tỷ trọng năm {last} (%)", "ratio"),
        Column("Đã trả kết quả", "count"),
        Column("Lý do chọn cách dự báo", "text"),
        Column("Giới hạn dự báo", "text"),
        Column(f"Nguồn số liệu năm {year}", "text"),
        Column(f"Nguồn số liệu năm {last}", "text"),
    ]
    rows = []
    for metric in METRICS:
        figures = report["metrics"][metric]
        rows.append(
            [
                figures["label"],
                figures["actual"],
                figures["previous_year"],
                figures["target"],
                figures["progress"],
                figures["same_period"],
                figures["growth"],
                figures["projection"],
                METHODS.get(figures["projection_method"]),
                _yes_no(figures["on_track"]),
                figures["share"],
                figures["previous_year_share"],
                figures["delivered"],
                REASONS.get(figures["projection_reason"]),
                BOUNDS.get(figures["projection_bound"]),
                sources_text(figures["sources"]["current"]),
                sources_text(figures["sources"]["previous"]),
            ]
        )
    return Table(PART_TITLES["summary"][0], columns, rows)


def _months(report: dict) -> Table:
    year, last = report["year"], report["year"] - 1
    columns = [Column("Tháng", "count")]
    for metric in METRICS:
        label = report["metrics"][metric]["label"]
        columns += [Column(f"{label} {year}", "count"), Column(f"{label} {last}", "count")]
    columns += [
        Column(f"Đã trả kết quả {year}", "count"),
        Column(f"Đã trả kết quả {last}", "count"),
        Column(f"Nguồn số liệu {year}", "text"),
        Column(f"Nguồn số liệu {last}", "text"),
    ]
    sources = report["metrics"]["postal_total"]["sources"]
    rows = []
    for index, entry in enumerate(report["months"]):
        current, previous = entry["current"] or {}, entry["previous"] or {}
        row = [entry["month"]]
        for key in (*METRICS, "delivered"):
            row += [current.get(key), previous.get(key)]
        row += [SOURCES.get(sources[side][index]) for side in ("current", "previous")]
        rows.append(row)
    return Table(PART_TITLES["month"][0], columns, rows)


def _breakdown(report: dict, part: str) -> Table:
    year, last = report["year"], report["year"] - 1
    columns = [Column("Mã", "text"), Column(DIMENSION_HEADINGS[part], "text")]
    for metric in METRICS:
        label = report["metrics"][metric]["label"]
        columns += [
            Column(f"{label}: năm {year} (lũy kế)", "count"),
            Column(f"{label}: cùng kỳ {last}", "count"),
            Column(f"{label}: tăng trưởng (%)", "ratio"),
            Column(f"{label}: năm {last}", "count"),
            Column(f"{label}: kế hoạch {year}", "count"),
            Column(f"{label}: tỷ lệ hoàn thành (%)", "ratio"),
            Column(f"{label}: dự báo cả năm", "count"),
            Column(f"{label}: đạt kế hoạch", "text"),
        ]
    columns += [
        Column("Đã trả kết quả", "count"),
        Column("Tỷ lệ đúng hạn (%)", "ratio"),
        Column("Cách giao kế hoạch (tổng)", "text"),
    ]
    rows = []
    for entry in report["breakdowns"][part]:
        row = [entry["code"], entry["name"]]
        for metric in METRICS:
            figures = entry["metrics"][metric]
            row += [figures[name] for name in BREAKDOWN_FIGURES]
            row.append(_yes_no(figures["on_track"]))
        basis = entry["metrics"]["postal_total"]["target_basis"]
        rows.append([*row, entry["delivered"], entry["on_time_rate"], TARGET_BASES.get(basis)])
    return Table(PART_TITLES[part][0], columns, rows)


def _about(report: dict) -> Table:
    filters = report["filters"]
    rows: list[list] = [
        ["Năm báo cáo", report["year"]],
        ["Tính đến ngày", _day(report["as_of"])],
        ["Tỷ lệ tăng trưởng kế hoạch (%)", f"{report['rate'] * 100:g}"],
        ["Ngày bắt đầu dùng hệ thống", _day(report["go_live"]) or "Chưa đặt"],
        [f"Số liệu năm {report['year']}", BASES[report["basis"]["current"]]],
        [f"Số liệu năm {report['year'] - 1}", BASES[report["basis"]["previous"]]],
    ]
    rows += [
        [f"Lọc theo {DIMENSION_HEADINGS[k].lower()}", code] for k, code in filters.items() if code
    ]
    rows += [["Ghi chú", note["message"]] for note in report["notes"]]
    return Table("Ghi chú", [Column("Mục", "text"), Column("Nội dung", "text")], rows)
