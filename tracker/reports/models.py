"""Report tables: the rollups every report reads, the aggregate figures of periods without
records (baselines), the growth rate per year, the go-live date, the targets managers set per
office or channel, the nightly snapshots and the refresh jobs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tracker.calendar import utcnow
from tracker.extensions import db
from tracker.types import UTCDateTime

# What the rollups count, one column each (see `tracker.reports.rollups` for the rules):
# taken (the post took charge), delivered (result in the citizen's hands), its early / on_time /
# late split against the due date, overdue (the agency's result came after the due date).
MEASURES = ("taken", "delivered", "early", "on_time", "late", "overdue")
# The dimensions of one rollup row besides its day or month. The channel and agency are the
# dossier's own (as at receipt), not the office's or procedure's current ones.
DIMENSIONS = ("office_id", "channel_id", "procedure_id", "agency_id", "service_form")
# The key of a `daily_totals` / `monthly_totals` row besides its day or month, and which cube
# columns each dimension keeps as (member, partner).
TOTAL_KEY = ("dimension", "member_id", "partner_id", "service_form")
TOTAL_DIMENSIONS = {
    "office": ("office_id", "channel_id"),
    "procedure": ("procedure_id", "agency_id"),
}
DEFAULT_GROWTH_RATE = Decimal("0.30")
JOB_STATES = ("queued", "running", "done", "failed")


class Measures:
    taken: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    early: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    late: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)


class CountColumns(Measures):
    """Catalogue ids without foreign keys: catalogue rows are never deleted, and the nightly
    recompute rewrites many rows at once."""

    office_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_form: Mapped[str] = mapped_column(String(20), primary_key=True)


class DailyCount(CountColumns, db.Model):
    """Counts of one day (Asia/Ho_Chi_Minh) for one office, channel, procedure, agency and form."""

    __tablename__ = "daily_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)


class MonthlyCount(CountColumns, db.Model):
    """The same counts summed over a month (`month` is its first day): what reports read for
    whole months, so a year is twelve small slices rather than 365."""

    __tablename__ = "monthly_counts"

    month: Mapped[date] = mapped_column(Date, primary_key=True)


class TotalColumns(Measures):
    """The counts summed down to one side of the catalogue. `dimension` "office": `member_id` is
    the office, `partner_id` the dossier's channel; "procedure": the procedure and the dossier's
    agency. A province's catalogue (~100 offices, ~940 procedures) makes the full
    office x procedure rows too many to sum for every report; these are a few thousand a month."""

    dimension: Mapped[str] = mapped_column(String(10), primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_form: Mapped[str] = mapped_column(String(20), primary_key=True)


class DailyTotal(TotalColumns, db.Model):
    __tablename__ = "daily_totals"

    day: Mapped[date] = mapped_column(Date, primary_key=True)


class MonthlyTotal(TotalColumns, db.Model):
    __tablename__ = "monthly_totals"

    month: Mapped[date] = mapped_column(Date, primary_key=True)


class Baseline(db.Model):
    """Aggregate figures a manager enters for a year (month 0) or one of its months: periods
    without records, and the number of all TTHC dossiers of the province (the share's
    denominator). Unknown figures stay NULL."""

    __tablename__ = "report_baselines"
    __table_args__ = (
        CheckConstraint("month BETWEEN 0 AND 12", name="month_range"),
        CheckConstraint(
            "two_way >= 0 AND one_way >= 0 AND send_only >= 0 AND all_tthc >= 0",
            name="figures_not_negative",
        ),
    )

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    month: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    two_way: Mapped[int | None] = mapped_column(BigInteger)
    one_way: Mapped[int | None] = mapped_column(BigInteger)
    send_only: Mapped[int | None] = mapped_column(BigInteger)
    all_tthc: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GrowthTarget(db.Model):
    """The growth rate a manager set for a year; a year without a row uses 30%."""

    __tablename__ = "growth_targets"
    __table_args__ = (CheckConstraint("rate >= 0 AND rate <= 10", name="rate_range"),)

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    note: Mapped[str | None] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReportSetting(db.Model):
    """The growth reports' settings of the whole deployment, one row (id 1): the day the system
    went live. Before it, the reports read the baselines; from it on, the records."""

    __tablename__ = "report_settings"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    go_live_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OfficeTarget(db.Model):
    """A manager's say on the target of one office or channel (`dimension`, `member_id`) in a
    year: figures that replace the computed targets (NULL: computed), and the weight (a share of
    the province's target) of a unit that has no figure of the year before."""

    __tablename__ = "office_targets"
    __table_args__ = (
        CheckConstraint("dimension IN ('office', 'channel')", name="dimension_known"),
        CheckConstraint("weight >= 0 AND weight <= 1", name="weight_range"),
        CheckConstraint(
            "two_way >= 0 AND one_way >= 0 AND send_only >= 0 AND postal_total >= 0",
            name="figures_not_negative",
        ),
    )

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    dimension: Mapped[str] = mapped_column(String(10), primary_key=True)
    # An office's or a channel's id; no foreign key, as in the rollups (catalogue rows stay).
    member_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    two_way: Mapped[int | None] = mapped_column(BigInteger)
    one_way: Mapped[int | None] = mapped_column(BigInteger)
    send_only: Mapped[int | None] = mapped_column(BigInteger)
    postal_total: Mapped[int | None] = mapped_column(BigInteger)
    weight: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    note: Mapped[str | None] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReportSnapshot(db.Model):
    """A year's growth report as it stood on a day, kept by the nightly task."""

    __tablename__ = "report_snapshots"
    __table_args__ = (UniqueConstraint("year", "as_of"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    as_of: Mapped[date] = mapped_column(Date)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict] = mapped_column(JSON)


class ReportJob(db.Model):
    """A recompute a manager asked for: the rollups checked against the events, then snapshots."""

    __tablename__ = "report_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="queued")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The one year asked for; None: every year with data.
    year: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Progress: the years to recompute, and how many are done.
    years_total: Mapped[int] = mapped_column(Integer, default=0)
    years_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_fixed: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
