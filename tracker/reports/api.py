"""REST endpoints: reports. Managers and admins only; every change is audited."""

from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from tracker.accounts.auth import actor, roles_required
from tracker.api import Blueprint
from tracker.reports import export, growth, jobs, operations, pickup_figures, queries
from tracker.reports.schemas import (
    CHANNEL_PARAMETER,
    OFFICE_PARAMETER,
    YEAR_PARAMETER,
    BaselineIn,
    BaselineOut,
    GoLiveIn,
    GoLiveOut,
    GrowthReportArgs,
    GrowthReportOut,
    OfficeTargetIn,
    OfficeTargetOut,
    PickupFiguresArgs,
    PickupFiguresOut,
    RefreshIn,
    ReportJobOut,
    TargetIn,
    TargetOut,
    parse_year,
)

blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports", description="reports")

READERS = ("manager", "admin")
JOB_ID = {"in": "path", "name": "job_id", "example": 1}


# Growth report and its exports ------------------------------------------------------------

EXPORTS = {
    200: {
        "description": "the report (json), one part as CSV or every part as an XLSX workbook",
        "content": {"text/csv": {}, export.XLSX_TYPE: {}},
    }
}


@blp.route("/growth")
@roles_required(*READERS)
@blp.arguments(GrowthReportArgs(), location="query")
@blp.response(200, GrowthReportOut())
@blp.doc(responses=EXPORTS)
@blp.errors(401, 403, 404)
def growth_report(args):
    """The growth report of a year, 1 January to `as_of`, against the previous year's target.

    Per metric (two-way, one-way, send-only, postal total): the year to date, the previous
    year, the target and progress, the same period last year and the growth over it, the
    projected year end, the share of all TTHC dossiers; the months of both years; breakdowns
    by channel, office, sector, procedure and agency with on-time rates. Filters are catalogue
    codes (404 when unknown). `format=csv` answers one `part` per file, `format=xlsx` one
    workbook with a sheet per part."""
    filters = growth.filters_from_codes(
        **{name: args.get(name) for name in ("channel", "office", "sector", "procedure")}
    )
    report = growth.build_report(args["year"], args.get("as_of"), filters)
    if args["format"] in ("csv", "xlsx"):
        return export.download(report, args["format"], args.get("part"))
    return report


@blp.route("/pickups")
@roles_required(*READERS)
@blp.arguments(PickupFiguresArgs(), location="query")
@blp.response(200, PickupFiguresOut())
@blp.errors(401, 403, 404)
def pickup_report(args):
    """Pickups (hotline 1022) of a year by office and month: calls taken, dossiers collected at
    the door, requests closed without a collection, and the median hours from the call to the
    collection; each office's year and the province's months. `office` (a code; 404 when
    unknown) keeps one office."""
    office_id = growth.filters_from_codes(office=args.get("office")).office_id
    return pickup_figures.pickup_figures(args["year"], office_id)


# Baselines and targets --------------------------------------------------------------------
# The year is read as text and checked here, so a bad one answers 422 on `year`, not 404.


@blp.route("/baselines/<year>", parameters=[YEAR_PARAMETER])
class Baselines(MethodView):
    @roles_required(*READERS)
    @blp.response(200, BaselineOut())
    @blp.errors(401, 403, 422)
    def get(self, year):
        """A year's baseline: its figures, note and months (nulls when none was entered)."""
        return queries.baseline_state(parse_year(year))

    @roles_required(*READERS)
    @blp.arguments(BaselineIn())
    @blp.response(200, BaselineOut())
    @blp.errors(401, 403, 409)
    def put(self, data, year):
        """Replace a year's baseline: figures left out become unknown, months left out are
        removed; a body with no figure and no note removes it. Audited."""
        state = operations.set_baseline(parse_year(year), data, actor())
        return state


@blp.route("/targets/<year>", parameters=[YEAR_PARAMETER])
class Targets(MethodView):
    @roles_required(*READERS)
    @blp.response(200, TargetOut())
    @blp.errors(401, 403, 422)
    def get(self, year):
        """A year's growth rate (30% unless set) and its targets over the previous year."""
        return growth.target_state(parse_year(year))

    @roles_required(*READERS)
    @blp.arguments(TargetIn())
    @blp.response(200, TargetOut())
    @blp.errors(401, 403, 409)
    def put(self, data, year):
        """Set a year's growth rate (0.3 = 30%) and note; a null rate goes back to 30%. Audited."""
        state = operations.set_target(parse_year(year), data, actor())
        return state


# The go-live date, and the targets of an office or channel --------------------------------


@blp.route("/go-live")
class GoLive(MethodView):
    @roles_required(*READERS)
    @blp.response(200, GoLiveOut())
    @blp.errors(401, 403)
    def get(self):
        """The day the system went live: before it the reports read the baselines, from it the
        records (null: not set; a year with records is then all records)."""
        return queries.go_live_state()

    @roles_required(*READERS)
    @blp.arguments(GoLiveIn())
    @blp.response(200, GoLiveOut())
    @blp.errors(401, 403, 409)
    def put(self, data):
        """Set the go-live date (not after today), or clear it with null. Audited."""
        state = operations.set_go_live(data, actor())
        return state


class _UnitTarget(MethodView):
    dimension = "office"

    @roles_required(*READERS)
    @blp.response(200, OfficeTargetOut())
    @blp.errors(401, 403, 404, 422)
    def get(self, year, code):
        """What managers set for this unit's target in a year (nulls: the computed target)."""
        member_id = queries.unit_id(self.dimension, code)
        return queries.office_target_state(parse_year(year), self.dimension, member_id)

    @roles_required(*READERS)
    @blp.arguments(OfficeTargetIn())
    @blp.response(200, OfficeTargetOut())
    @blp.errors(401, 403, 404, 409)
    def put(self, data, year, code):
        """Replace what managers set for this unit's target in a year: figures that replace the
        computed targets, the weight (share of the province's target) of a unit without last
        year's figure, a note; a body with none of them removes it. Audited."""
        number = parse_year(year)
        _id, state = operations.set_office_target(number, self.dimension, code, data, actor())
        return state


@blp.route("/targets/<year>/offices/<code>", parameters=[YEAR_PARAMETER, OFFICE_PARAMETER])
class OfficeTargets(_UnitTarget):
    dimension = "office"


@blp.route("/targets/<year>/channels/<code>", parameters=[YEAR_PARAMETER, CHANNEL_PARAMETER])
class ChannelTargets(_UnitTarget):
    dimension = "channel"


# Refresh jobs -----------------------------------------------------------------------------
# One job at a time: asking again while one is queued or running answers that job (200).


@blp.route("/refresh")
class Refresh(MethodView):
    @roles_required(*READERS)
    @blp.arguments(RefreshIn(), required=False)
    @blp.response(202, ReportJobOut())
    @blp.alt_response(200, schema=ReportJobOut(), description="a refresh is already under way")
    @blp.errors(401, 403)
    def post(self, data):
        """Queue a recompute of the rollups (of every year, or of `year`) and the snapshots
        after it; poll the job at its Location. Audited."""
        job, created = jobs.request_refresh(actor(), (data or {}).get("year"))
        location = {"Location": url_for("reports.RefreshItem", job_id=job.id)}
        return job, 202 if created else 200, location


@blp.route("/refresh/<int:job_id>", parameters=[JOB_ID])
class RefreshItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ReportJobOut())
    @blp.errors(401, 403, 404)
    def get(self, job_id):
        """State and progress of a refresh job: years done out of the total, rows fixed."""
        return jobs.get_job(job_id)
