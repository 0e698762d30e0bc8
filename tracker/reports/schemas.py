"""Schemas of the report endpoints: query arguments (load) and responses (dump)."""

from __future__ import annotations

import re
from decimal import Decimal

import marshmallow as ma
from marshmallow import ValidationError, fields, validate, validates_schema

from tracker.catalogue.schemas import (
    CHANNEL_EXAMPLE,
    OFFICE_EXAMPLE,
    PROCEDURE_EXAMPLE,
    SECTOR_EXAMPLE,
)
from tracker.errors import ValidationFailed
from tracker.reports.export import PARTS
from tracker.reports.growth import BREAKDOWNS, METRICS
from tracker.reports.projection import BOUNDS, REASONS
from tracker.reports.queries import BASELINE_FIGURES
from tracker.schemas import EARLIEST, LATEST, Day, LoadSchema

# Growth report ----------------------------------------------------------------------------

FORMATS = ("json", "csv", "xlsx")


# Examples of the OpenAPI document: a past year, and the test catalogue's codes.
YEAR_EXAMPLE = 2025
YEAR_PARAMETER = {
    "in": "path",
    "name": "year",
    "description": f"four digits, {EARLIEST.year} to {LATEST.year}",
    "example": str(YEAR_EXAMPLE),
}


class GrowthReportArgs(LoadSchema):
    year = fields.Integer(
        required=True,
        validate=validate.Range(min=EARLIEST.year, max=LATEST.year),
        metadata={"example": YEAR_EXAMPLE},
    )
    as_of = Day(
        metadata={
            "description": "default: today (current year), 31 Dec (past year)",
            "example": f"{YEAR_EXAMPLE}-06-30",
        }
    )
    channel = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"example": CHANNEL_EXAMPLE}
    )
    office = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"example": OFFICE_EXAMPLE}
    )
    sector = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"example": SECTOR_EXAMPLE}
    )
    procedure = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"example": PROCEDURE_EXAMPLE}
    )
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))
    part = fields.String(
        validate=validate.OneOf(PARTS),
        metadata={"description": "the table of a CSV file (default summary); csv only"},
    )

    @validates_schema
    def _part_with_csv_only(self, data, **kwargs):
        if "part" in data and data.get("format") != "csv":
            raise ValidationError("only with format=csv (a workbook holds every part)", "part")


def Count(**kwargs) -> fields.Integer:
    return fields.Integer(allow_none=True, **kwargs)


def Ratio(**kwargs) -> fields.Float:
    return fields.Float(allow_none=True, metadata={"description": "0.28 = 28%"}, **kwargs)


def TargetBasis() -> fields.String:
    return fields.String(
        allow_none=True,
        metadata={"description": "how the target was set: override, growth or weight"},
    )


class PeriodOut(ma.Schema):
    start = fields.String(metadata={"format": "date"})
    end = fields.String(metadata={"format": "date"})


class GrowthFiltersOut(ma.Schema):
    channel = fields.String(allow_none=True)
    office = fields.String(allow_none=True)
    sector = fields.String(allow_none=True)
    procedure = fields.String(allow_none=True)


class BasisOut(ma.Schema):
    current = fields.String(metadata={"description": "records, baseline, stitched or none"})
    previous = fields.String(metadata={"description": "records, baseline, stitched or none"})


class RecordsFromOut(ma.Schema):
    current = fields.String(
        allow_none=True, metadata={"format": "date", "description": "null: no records"}
    )
    previous = fields.String(allow_none=True, metadata={"format": "date"})


def Sources(**kwargs) -> fields.List:
    return fields.List(
        fields.String(allow_none=True),
        metadata={
            "description": "per month: records, baseline, baseline_year (the year's figure "
            "spread by days), go_live (baseline, then records), none; null after the period"
        },
        **kwargs,
    )


class SourcesOut(ma.Schema):
    current = Sources()
    previous = Sources()


class AllTthcOut(ma.Schema):
    current = Count(metadata={"description": "all TTHC dossiers, 1 Jan to as_of"})
    previous_year = Count()
    same_period = Count()


class MetricOut(ma.Schema):
    label = fields.String()
    actual = Count(metadata={"description": "1 January to as_of"})
    delivered = Count(metadata={"description": "results delivered, 1 January to as_of"})
    previous_year = Count(metadata={"description": "the whole previous year"})
    target = Count(metadata={"description": "ceil(previous_year x (1 + rate))"})
    target_basis = TargetBasis()
    progress = Ratio()
    same_period = Count(metadata={"description": "previous year, 1 January to the same day"})
    growth = Ratio()
    projection = Count(metadata={"description": "the year end, by projection_method"})
    projection_method = fields.String(allow_none=True, metadata={"description": "seasonal|linear"})
    projection_reason = fields.String(
        allow_none=True,
        metadata={"description": "why the method: " + ", ".join(REASONS)},
    )
    projection_bound = fields.String(
        allow_none=True,
        metadata={
            "description": "held at the year to date or at the best pace: null, or "
            + ", ".join(BOUNDS)
        },
    )
    on_track = fields.Boolean(allow_none=True)
    share = Ratio()
    previous_year_share = Ratio()
    same_period_share = Ratio()
    sources = fields.Nested(SourcesOut)


def _per_metric(schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    return ma.Schema.from_dict({metric: fields.Nested(schema) for metric in METRICS}, name=name)


class MonthFiguresOut(ma.Schema):
    two_way = Count()
    one_way = Count()
    send_only = Count()
    postal_total = Count()
    delivered = Count()


class MonthOut(ma.Schema):
    month = fields.Integer()
    current = fields.Nested(MonthFiguresOut, allow_none=True)
    previous = fields.Nested(MonthFiguresOut, allow_none=True)


class RowMetricOut(ma.Schema):
    actual = Count()
    same_period = Count()
    growth = Ratio()
    previous_year = Count()
    target = Count()
    target_basis = TargetBasis()
    progress = Ratio()
    projection = Count(metadata={"description": "its year to date at the report's pace"})
    on_track = fields.Boolean(allow_none=True)


class BreakdownRowOut(ma.Schema):
    code = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    metrics = fields.Nested(_per_metric(RowMetricOut, "BreakdownMetricsOut"))
    delivered = Count()
    on_time_rate = Ratio()


class OnTimeOut(ma.Schema):
    current = Ratio()
    same_period = Ratio()


class NoteOut(ma.Schema):
    code = fields.String()
    message = fields.String()


class GrowthReportOut(ma.Schema):
    year = fields.Integer()
    as_of = fields.String(metadata={"format": "date"})
    period = fields.Nested(PeriodOut)
    same_period = fields.Nested(PeriodOut)
    filters = fields.Nested(GrowthFiltersOut, metadata={"description": "catalogue codes"})
    rate = fields.Float(metadata={"description": "0.3 = 30%"})
    rate_is_default = fields.Boolean()
    go_live = fields.String(
        allow_none=True, metadata={"format": "date", "description": "null: no go-live date"}
    )
    records_from = fields.Nested(
        RecordsFromOut, metadata={"description": "the first day of each year read from records"}
    )
    basis = fields.Nested(BasisOut)
    baseline_share = fields.Nested(
        ma.Schema.from_dict({m: Ratio() for m in METRICS}, name="BaselineShareOut"),
        allow_none=True,
        metadata={"description": "a filtered report's share of the baselines; null unfiltered"},
    )
    all_tthc = fields.Nested(AllTthcOut)
    metrics = fields.Nested(_per_metric(MetricOut, "GrowthMetricsOut"))
    on_time_rate = fields.Nested(OnTimeOut)
    months = fields.List(fields.Nested(MonthOut))
    breakdowns = fields.Nested(
        ma.Schema.from_dict(
            {name: fields.List(fields.Nested(BreakdownRowOut)) for name in BREAKDOWNS},
            name="BreakdownsOut",
        )
    )
    notes = fields.List(fields.Nested(NoteOut))


# Baselines and targets --------------------------------------------------------------------

# Figures and rates a manager may enter: a province's yearly dossiers are far below this.
FIGURE_MAX = 10**12
RATE_MAX = Decimal(10)
RATE_PLACES = 4
NOTE_MAX = 2000
_YEAR = re.compile(r"[0-9]{4}")


def parse_year(text: str) -> int:
    """The year of a path or command line: four digits from 2000 to 2100, else 422 on `year`."""
    if not _YEAR.fullmatch(text) or not EARLIEST.year <= int(text) <= LATEST.year:
        raise ValidationFailed.field(
            "year", f"must be a year from {EARLIEST.year} to {LATEST.year}"
        )
    return int(text)


def Figure(**kwargs) -> fields.Integer:
    """A count of dossiers; null when unknown. JSON integers only: 1.0, "1" and true are not."""
    return fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=FIGURE_MAX), **kwargs
    )


def Note(**kwargs) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(max=NOTE_MAX), **kwargs)


class BaselineMonthIn(LoadSchema):
    month = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=1, max=12), metadata={"example": 1}
    )
    two_way = Figure(metadata={"example": 48})
    one_way = Figure(metadata={"example": 12})
    send_only = Figure(metadata={"example": 5})
    all_tthc = Figure(
        metadata={"description": "all TTHC dossiers of the province (share)", "example": 2100}
    )


class BaselineIn(LoadSchema):
    """The whole baseline of a year: it replaces what was there (figures left out become
    unknown, months left out are removed); a body with no figure and no note removes it."""

    two_way = Figure(metadata={"example": 579})
    one_way = Figure(metadata={"example": 140})
    send_only = Figure(metadata={"example": 61})
    all_tthc = Figure(
        metadata={"description": "all TTHC dossiers of the province (share)", "example": 25000}
    )
    note = Note(metadata={"example": "Số liệu năm trước, theo báo cáo của Sở"})
    months = fields.List(
        fields.Nested(BaselineMonthIn), load_default=list, validate=validate.Length(max=12)
    )

    @validates_schema
    def _months_once_with_a_figure(self, data, **kwargs):
        errors: dict = {}
        seen: set[int] = set()
        for index, entry in enumerate(data.get("months", [])):
            if entry["month"] in seen:
                errors[index] = {"month": [f"month {entry['month']} is given twice"]}
            elif all(entry.get(name) is None for name in BASELINE_FIGURES):
                errors[index] = ["give at least one figure for this month"]
            seen.add(entry["month"])
        if errors:
            raise ValidationError({"months": errors})


class BaselineMonthOut(ma.Schema):
    month = fields.Integer()
    two_way = Count()
    one_way = Count()
    send_only = Count()
    all_tthc = Count()


class BaselineOut(BaselineMonthOut):
    class Meta:
        exclude = ("month",)

    year = fields.Integer()
    note = fields.String(allow_none=True)
    months = fields.List(fields.Nested(BaselineMonthOut))
    updated_at = fields.DateTime(allow_none=True)
    updated_by = fields.String(
        allow_none=True, metadata={"description": "username; null from the command line"}
    )


class Rate(fields.Decimal):
    """A growth rate as a JSON number (0.3 = 30%); a string is not one."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        # A number out as well (a Decimal would be written as a string): the OpenAPI document's
        # minimum and maximum are made with this.
        number = super()._serialize(value, attr, obj, **kwargs)
        return None if number is None else float(number)


def _at_most_four_places(value: Decimal) -> None:
    if value.normalize().as_tuple().exponent < -RATE_PLACES:
        raise ValidationError(f"at most {RATE_PLACES} decimal places")


class TargetIn(LoadSchema):
    rate = Rate(
        required=True,
        allow_none=True,
        validate=[validate.Range(min=0, max=RATE_MAX), _at_most_four_places],
        metadata={"description": "0.3 = 30%; null goes back to the 30% default", "example": 0.3},
    )
    note = Note(metadata={"example": "Kế hoạch của UBND tỉnh"})


class TargetFiguresOut(ma.Schema):
    two_way = Count()
    one_way = Count()
    send_only = Count()
    postal_total = Count()


class TargetOut(ma.Schema):
    year = fields.Integer()
    rate = fields.Float(metadata={"description": "0.3 = 30%"})
    is_default = fields.Boolean(metadata={"description": "no rate set: the 30% default"})
    note = fields.String(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)
    updated_by = fields.String(allow_none=True)
    targets = fields.Nested(
        TargetFiguresOut, metadata={"description": "ceil(previous year x (1 + rate)); null unknown"}
    )
    previous = fields.Dict(
        metadata={
            "description": "the previous year's figures the targets come from: "
            '{"year": 2017, "two_way": {"actual": 579, "basis": "baseline"}, ...}; '
            "basis is records, baseline, stitched or none"
        }
    )


# The go-live date and the targets of an office or channel --------------------------------

GO_LIVE_EXAMPLE = f"{YEAR_EXAMPLE - 1}-10-06"
OFFICE_PARAMETER = {"in": "path", "name": "code", "example": OFFICE_EXAMPLE}
CHANNEL_PARAMETER = {"in": "path", "name": "code", "example": CHANNEL_EXAMPLE}
WEIGHT_MAX = Decimal(1)


class GoLiveIn(LoadSchema):
    go_live_on = Day(
        required=True,
        allow_none=True,
        metadata={
            "description": "the first day the records stand for (not after today); null: none",
            "example": GO_LIVE_EXAMPLE,
        },
    )
    note = Note(metadata={"example": "Bắt đầu dùng hệ thống tại các bưu cục"})


class GoLiveOut(ma.Schema):
    go_live_on = fields.Date(allow_none=True, metadata={"description": "null: not set"})
    note = fields.String(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)
    updated_by = fields.String(allow_none=True)


class OfficeTargetIn(LoadSchema):
    """What a manager says of one office's or channel's target in a year; it replaces what was
    there, and a body with no figure, weight or note removes it."""

    two_way = Figure(metadata={"description": "null: computed", "example": 120})
    one_way = Figure(metadata={"description": "null: computed", "example": 900})
    send_only = Figure(metadata={"description": "null: computed"})
    postal_total = Figure(metadata={"description": "null: computed", "example": 1080})
    weight = Rate(
        allow_none=True,
        validate=[validate.Range(min=0, max=WEIGHT_MAX), _at_most_four_places],
        metadata={
            "description": "share of the province's target (0.05 = 5%) for a unit without last "
            "year's figure",
            "example": 0.05,
        },
    )
    note = Note(metadata={"example": "Bưu cục mới mở từ tháng 3"})


class OfficeTargetOut(ma.Schema):
    year = fields.Integer()
    dimension = fields.String(metadata={"description": "office or channel"})
    code = fields.String()
    name = fields.String()
    two_way = Count()
    one_way = Count()
    send_only = Count()
    postal_total = Count()
    weight = Rate(allow_none=True)
    note = fields.String(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)
    updated_by = fields.String(allow_none=True)


# Refresh jobs -----------------------------------------------------------------------------


class RefreshIn(LoadSchema):
    year = fields.Integer(
        strict=True,
        validate=validate.Range(min=EARLIEST.year, max=LATEST.year),
        metadata={
            "description": "recompute this year only (default: every year with data)",
            "example": YEAR_EXAMPLE,
        },
    )


class ReportJobOut(ma.Schema):
    id = fields.Integer()
    year = fields.Integer(
        allow_none=True, metadata={"description": "the one year asked for; null: every year"}
    )
    state = fields.String(metadata={"description": "queued, running, done or failed"})
    years_total = fields.Integer(metadata={"description": "years to recompute (set on start)"})
    years_done = fields.Integer()
    rows_fixed = fields.Integer(metadata={"description": "rollup rows inserted/updated/deleted"})
    message = fields.String(
        allow_none=True, metadata={"description": "what was done, or why it failed"}
    )
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


# Pickups (hotline 1022) -------------------------------------------------------------------


class PickupFiguresArgs(LoadSchema):
    year = fields.Integer(
        required=True,
        validate=validate.Range(min=EARLIEST.year, max=LATEST.year),
        metadata={"example": YEAR_EXAMPLE},
    )
    office = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"example": OFFICE_EXAMPLE}
    )


class PickupCountsOut(ma.Schema):
    requested = fields.Integer(metadata={"description": "calls taken (by the day of the call)"})
    collected = fields.Integer(metadata={"description": "dossiers collected at the door"})
    failed = fields.Integer(metadata={"description": "requests closed without a collection"})
    median_hours = fields.Float(
        allow_none=True,
        metadata={"description": "median hours from the call to the collection"},
    )


class PickupMonthOut(PickupCountsOut):
    month = fields.Integer()


class PickupOfficeOut(ma.Schema):
    office = fields.Nested(
        ma.Schema.from_dict(
            {"code": fields.String(), "name": fields.String()}, name="PickupOfficeNameOut"
        )
    )
    months = fields.List(
        fields.Nested(PickupMonthOut()), metadata={"description": "months with a figure"}
    )
    total = fields.Nested(PickupCountsOut())


class PickupFiguresOut(ma.Schema):
    year = fields.Integer()
    offices = fields.List(fields.Nested(PickupOfficeOut()))
    months = fields.List(fields.Nested(PickupMonthOut()))
    total = fields.Nested(PickupCountsOut())
