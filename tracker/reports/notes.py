"""The notes of a growth report: what the reader must know about where the figures come from and
what is left out. Messages are Vietnamese (the report's language, as in the exports); each has
a `code` by which a page words it in another language (`views.NOTE_TEXTS`)."""

from __future__ import annotations

from datetime import date, timedelta

from tracker.reports.figures import ReportFilters
from tracker.reports.models import Baseline
from tracker.reports.series import YearSeries

POSTAL_FIGURES = ("two_way", "one_way", "send_only")


def notes_of(
    year: int,
    filters: ReportFilters,
    baselines: dict[int, dict[int, Baseline]],
    basis: dict[str, str],
    periods: dict,
    shares: dict,
    this: YearSeries,
    last: YearSeries,
    metrics: dict,
    go_live: date | None,
) -> list[dict[str, str]]:
    """The notes of a report, in order: each year's (this one, then the previous), then the
    target's and the filters'."""
    notes: list[dict[str, str]] = []
    shared = False
    sides = (
        (year, "current", this, periods["current"]),
        (year - 1, "previous", last, periods["last_year"]),
    )
    for y, side, stitched, period in sides:
        kind, rows = basis[side], baselines[y]
        if kind == "none":
            notes.append(_note("no_figures", f"Năm {y} chưa có dữ liệu hay số liệu tổng hợp."))
        elif kind == "records":
            if _has_postal_figures(rows):
                notes.append(_set_aside(y, go_live))
        elif not filters.empty and shares.get("postal_total") is None:
            notes.append(
                _note(
                    "baseline_not_filterable",
                    f"Năm {y} có số liệu tổng hợp toàn tỉnh nhưng bộ lọc chưa có hồ sơ ghi nhận"
                    " để chia số liệu đó theo tỷ lệ.",
                )
            )
        else:
            shared = shared or not filters.empty
            notes += _baseline_notes(y, kind, stitched, period)
    if basis["previous"] == "none":
        notes.append(_note("no_target", "Chưa tính được kế hoạch khi thiếu số liệu năm trước."))
    elif metrics["postal_total"]["same_period"] is None:
        notes.append(
            _note("no_same_period", f"Số liệu năm {year - 1} không đủ theo tháng để so cùng kỳ.")
        )
    if shared:
        share = shares["postal_total"] * 100
        notes.append(
            _note(
                "baseline_shared",
                "Số liệu tổng hợp là số toàn tỉnh: phần trước khi dùng hệ thống được chia theo"
                f" tỷ lệ hồ sơ ghi nhận của bộ lọc ({float(share):.1f}% tổng qua bưu chính).",
            )
        )
    if not filters.empty:
        notes.append(
            _note("share_unfiltered_only", "Tỷ trọng trên tổng hồ sơ TTHC chỉ tính cho toàn tỉnh.")
        )
    return notes


def _baseline_notes(year: int, kind: str, stitched: YearSeries, period) -> list[dict]:
    notes = []
    sources = stitched.sources["postal_total"]
    missing = [index + 1 for index, source in enumerate(sources) if source == "none"]
    if missing:
        months = ", ".join(str(month) for month in missing)
        notes.append(
            _note(
                "baseline_missing",
                f"Năm {year}: tháng {months} trước khi dùng hệ thống chưa có số liệu tổng hợp,"
                " nên chưa có số liệu của cả năm; hãy nhập số liệu các tháng đó.",
            )
        )
    if kind == "stitched":
        before = period.first - timedelta(days=1)
        notes.append(
            _note(
                "stitched",
                f"Năm {year}: đến hết ngày {before:%d/%m/%Y} theo số liệu tổng hợp đã nhập, từ"
                f" ngày {period.first:%d/%m/%Y} theo dữ liệu ghi nhận trong hệ thống.",
            )
        )
    return notes


def _set_aside(year: int, go_live: date | None) -> dict[str, str]:
    # A year whose records cover it all does not add the baseline entered for it. Without a
    # go-live date that may be the year the system went live: say so rather than show a target
    # built on a few weeks without a word.
    message = (
        f"Năm {year} có dữ liệu ghi nhận trong hệ thống từ đầu năm nên số liệu tổng hợp đã nhập"
        " cho năm này không được dùng"
    )
    if go_live is None:
        message += (
            f"; nếu hệ thống bắt đầu giữa năm {year}, hãy đặt ngày bắt đầu dùng hệ thống để các"
            " tháng trước đó lấy từ số liệu tổng hợp"
        )
    return _note("baseline_set_aside", message + ".")


def _has_postal_figures(rows: dict[int, Baseline]) -> bool:
    return any(getattr(row, name) is not None for row in rows.values() for name in POSTAL_FIGURES)


def _note(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}
