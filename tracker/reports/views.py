"""Manager pages: growth dashboard, overdue and anomalies; the settings pages (baselines,
targets, the go-live date) are in `setting_views`. Both register on the blueprint in
`blueprint.py`.

The pages parse with the API's load schemas and call the same functions as the API
(`growth.build_report`, `export`, the operations, the dossier and sweep queries), so no rule is
written twice. Exports get page routes because the API takes bearer tokens only, never the
session cookie.
"""

from __future__ import annotations

from datetime import date

from flask import render_template, request, url_for
from flask_babel import force_locale, format_decimal, format_percent, get_locale
from flask_babel import gettext as _
from marshmallow import ValidationError

from tracker.accounts.auth import actor
from tracker.calendar import today_vn
from tracker.catalogue import queries as catalogue_queries
from tracker.catalogue.models import Channel, Office, Sector
from tracker.dossiers import queries as dossier_queries
from tracker.errors import DomainError, error_page
from tracker.handovers import queries as handover_queries
from tracker.pages import form_errors, label, page_roles
from tracker.reports import export, growth, pickup_figures
from tracker.reports import queries as report_queries
from tracker.reports.chart import monthly_chart
from tracker.reports.schemas import GrowthReportArgs, PickupFiguresArgs
from tracker.sweeps import queries as sweep_queries
from tracker.sweeps.checks import kind_label
from tracker.sweeps.operations import HANDOVER_CONFIRM_DAYS, working_days_cutoff
from tracker.sweeps.schemas import AnomalyListArgs

MANAGERS = ("manager", "admin")
FILTERS = ("channel", "office", "sector", "procedure")
SHOWN_BREAKDOWNS = ("channel", "office", "sector")
PAGE_SIZE = 50


def page_helpers() -> dict:
    """What the manager pages' templates call (the blueprint's context processor)."""
    return {
        "num": _number,
        "pct": _percent,
        "metric_name": lambda metric: _(growth.METRIC_NAMES[metric]),
        "metric_options": lambda: [
            (metric, _(name)) for metric, name in growth.METRIC_NAMES.items()
        ],
        "dossier_url": _dossier_url,
    }


def _number(value) -> str:
    return "—" if value is None else format_decimal(value, format="#,##0")


def _percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    pattern = "+#,##0.0%;-#,##0.0%" if signed else "#,##0.0%"
    return format_percent(value, format=pattern)


def _dossier_url(code: str) -> str:
    return url_for("dossier_pages.dossier", code=code)


# Dashboard -------------------------------------------------------------------------------


def _report_args() -> tuple[dict, dict]:
    """The query string as the API reads it (GrowthReportArgs), the year defaulting to this
    one; empty values (a blank select) are left out. Returns (loaded args, what was typed)."""
    typed = {key: value for key, value in request.args.items() if value.strip()}
    typed.setdefault("year", str(today_vn().year))
    chart = typed.pop("chart", "postal_total")
    args = GrowthReportArgs().load(typed)
    typed["chart"] = chart
    if chart not in growth.METRICS:
        raise ValidationError({"chart": [_("Choose one of the metrics.")]})
    return args, typed


def _filter_options() -> dict[str, list[tuple[str, str]]]:
    """(code, name) of every channel, office and sector, for the filter selects."""
    models = {"channel": Channel, "office": Office, "sector": Sector}
    return {
        name: [(row.code, label(row)) for row in catalogue_queries.all_by_code(model)]
        for name, model in models.items()
    }


@page_roles(*MANAGERS)
def dashboard():
    options = _filter_options()
    typed = {key: value for key, value in request.args.items() if value.strip()}
    try:
        args, typed = _report_args()
        filters = growth.filters_from_codes(**{name: args.get(name) for name in FILTERS})
        report = growth.build_report(args["year"], args.get("as_of"), filters)
    except (ValidationError, DomainError) as exc:
        status = exc.status if isinstance(exc, DomainError) else 422
        page = render_template(
            "reports/dashboard.html", report=None, typed=typed, options=options,
            errors=form_errors(exc),
        )  # fmt: skip
        return page, status
    names = {name: dict(found) for name, found in options.items()}
    link_args = {key: value for key, value in typed.items() if key in {"year", "as_of", *FILTERS}}
    return render_template(
        "reports/dashboard.html",
        report=report,
        typed=typed,
        options=options,
        errors={},
        chart=monthly_chart(report, typed["chart"]),
        breakdowns={part: report["breakdowns"][part] for part in SHOWN_BREAKDOWNS},
        names=names,
        go_live=date.fromisoformat(report["go_live"]) if report["go_live"] else None,
        period=[
            date.fromisoformat(report[span][end])
            for span in ("period", "same_period")
            for end in ("start", "end")
        ],
        link_args=link_args,
        parts=export.PARTS,
        awaiting=report_queries.registrations_awaiting(filters),
    )


@page_roles(*MANAGERS)
def download():
    """The API's exports for a signed-in manager: one CSV part or the XLSX workbook, in
    Vietnamese whatever the page's language (the exports' headings are Vietnamese, so are
    the report's notes in them)."""
    try:
        args, _typed = _report_args()
    except ValidationError as exc:
        return error_page(422, _format_messages(form_errors(exc)))
    if args["format"] not in ("csv", "xlsx"):
        return error_page(422, _("Choose the CSV or XLSX format."))
    filters = growth.filters_from_codes(**{name: args.get(name) for name in FILTERS})
    with force_locale("vi"):
        report = growth.build_report(args["year"], args.get("as_of"), filters)
    return export.download(report, args["format"], args.get("part"))


def _format_messages(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())


# Pickups (hotline 1022) -----------------------------------------------------------------


@page_roles(*MANAGERS)
def pickups():
    """The year's pickup figures (`pickup_figures`): the province's months and each office's
    year, for one office or all."""
    typed = {key: value for key, value in request.args.items() if value.strip()}
    typed.setdefault("year", str(today_vn().year))
    offices = _filter_options()["office"]
    try:
        args = PickupFiguresArgs().load({k: typed[k] for k in ("year", "office") if k in typed})
        office_id = growth.filters_from_codes(office=args.get("office")).office_id
        figures = pickup_figures.pickup_figures(args["year"], office_id)
    except (ValidationError, DomainError) as exc:
        status = exc.status if isinstance(exc, DomainError) else 422
        page = render_template(
            "reports/pickups.html", figures=None, typed=typed, offices=offices,
            errors=form_errors(exc),
        )  # fmt: skip
        return page, status
    return render_template(
        "reports/pickups.html", figures=figures, typed=typed, offices=offices, errors={}
    )


# Overdue dossiers and anomalies ----------------------------------------------------------


@page_roles(*MANAGERS)
def problems():
    """The dossiers the hourly sweep marked overdue (the work queue's own section, longest
    overdue first, the first PAGE_SIZE with the total) and the open anomalies, paged."""
    user = actor()
    cursor = request.args.get("anomalies_after")
    try:
        anomaly_args = AnomalyListArgs().load(
            {"open": True, "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
        )
    except ValidationError as exc:
        return error_page(422, _format_messages(form_errors(exc)))
    overdue_total, overdue = dossier_queries.queue_section(user, "overdue", limit=PAGE_SIZE)
    anomalies, anomalies_next = sweep_queries.list_anomalies(user, anomaly_args)
    # Forward hand-over records the agency has not confirmed after a whole working day.
    cutoff = working_days_cutoff(today_vn(), HANDOVER_CONFIRM_DAYS)
    handovers_total, handovers = handover_queries.unconfirmed_before(user, cutoff, PAGE_SIZE)
    return render_template(
        "reports/problems.html",
        today=today_vn(),
        overdue=overdue,
        overdue_total=overdue_total,
        anomalies=[(row, _kind_name(row.kind)) for row in anomalies],
        anomalies_total=sweep_queries.count_open_anomalies(user),
        anomalies_next=anomalies_next,
        handovers=handovers,
        handovers_total=handovers_total,
    )


def _kind_name(kind: str) -> str:
    names = kind_label(kind)
    return names["label_en"] if str(get_locale()) == "en" else names["label_vi"]
