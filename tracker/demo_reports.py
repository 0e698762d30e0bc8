"""The report figures of `flask demo seed`: SAMPLE data, never for a real service.

- The 2017 baseline of the seed document (where the growth reports start).
- The go-live story: the demo's records start on its first day, which becomes the go-live date.
  The months of that year before it (the go-live month included: the report takes the days
  before go-live from it) and the year before get baselines on the demo's own scale: the pace of
  the first demo days, a little lower the further back (30% a year, the province's plan). So the
  current year's board compares with a whole last year, not with the last weeks of it.
"""

from __future__ import annotations

from datetime import date

from tracker.accounts.models import User
from tracker.reports import queries
from tracker.reports.figures import next_month
from tracker.reports.operations import set_baseline, set_go_live
from tracker.reports.queries import BASELINE_FIGURES
from tracker.reports.schemas import BaselineIn

# The year before the seed document's plan, as it reports it (579 two-way, 307,871 one-way,
# about 28% of all TTHC dossiers). The province's total is not given: 1,101,607 makes the
# share 28.0%.
BASELINE_YEAR = 2017
BASELINE = {
    "two_way": 579,
    "one_way": 307_871,
    "all_tthc": 1_101_607,
    "note": (
        "Số liệu năm 2017 theo tin của Sở Thông tin và Truyền thông tỉnh Đồng Nai ngày "
        "20/12/2017: 579 hồ sơ hai chiều, 307.871 hồ sơ một chiều, khoảng 28% tổng số hồ sơ "
        "TTHC của tỉnh (tổng số 1.101.607 là số ước tính cho tỷ lệ 28%; dữ liệu mẫu)."
    ),
}
# The demo dossiers' service forms (`demo._random_plan`: 7 one-way, 2 two-way, 1 send-only).
FORM_SHARES = {"one_way": 0.7, "two_way": 0.2, "send_only": 0.1}
SHARE_OF_ALL_TTHC = 0.28  # the postal share the seed document reports
PLAN_GROWTH = 0.30
NOTE = "Số liệu mẫu trước ngày bắt đầu dùng hệ thống (dữ liệu demo)."


def seed_baseline(actor: User | None) -> bool:
    """The 2017 figures of the seed document, unless that year already has a baseline (which
    a manager may have corrected): True when they were added."""
    if queries.baselines_of(BASELINE_YEAR):
        return False
    set_baseline(BASELINE_YEAR, BaselineIn().load(BASELINE), actor)
    return True


def seed_go_live(first_day: date, per_day: float, actor: User | None) -> str | None:
    """Make `first_day` (the demo's first) the go-live date and give the days before it
    baselines at `per_day` dossiers a day, unless a go-live date is set already (a manager's
    is kept, as are baselines already entered and the 2017 one). Returns what it did, or
    None."""
    if queries.go_live_on() is not None:
        return None
    set_go_live({"go_live_on": first_day, "note": NOTE}, actor)
    done = [f"go-live date {first_day:%Y-%m-%d}"]
    year = first_day.year
    if year != BASELINE_YEAR and not queries.baselines_of(year):
        months = [
            {"month": m, **_month(first_day, date(year, m, 1), per_day)}
            for m in range(1, first_day.month + 1)
        ]
        set_baseline(year, BaselineIn().load({"note": NOTE, "months": months}), actor)
        done.append(f"baseline {year} months 1-{first_day.month}")
    if year - 1 != BASELINE_YEAR and not queries.baselines_of(year - 1):
        months = [_month(first_day, date(year - 1, m, 1), per_day) for m in range(1, 13)]
        figures = {name: sum(month[name] for month in months) for name in BASELINE_FIGURES}
        set_baseline(year - 1, BaselineIn().load({**figures, "note": NOTE}), actor)
        done.append(f"baseline {year - 1}: {figures_of(figures)}")
    return ", ".join(done)


def _month(go_live: date, month: date, per_day: float) -> dict[str, int]:
    """A month's figures: the pace of the go-live days, 30% a year lower per year back."""
    back = (go_live.year - month.year) * 12 + go_live.month - month.month
    days = (next_month(month) - month).days
    dossiers = per_day * days * (1 + PLAN_GROWTH) ** (-back / 12)
    figures = {name: round(dossiers * share) for name, share in FORM_SHARES.items()}
    figures["all_tthc"] = round(dossiers / SHARE_OF_ALL_TTHC)
    return figures


def figures_of(figures: dict) -> str:
    return ", ".join(f"{name} {figures[name]:,}" for name in BASELINE_FIGURES if name in figures)
