"""Manager pages: growth dashboard, baselines and targets, overdue and anomalies.

The pages parse with the API's load schemas and call the same functions as the API
(`growth.build_report`, `export`, `operations.set_baseline/set_target`, the dossier and sweep
queries), so no rule is written twice. Exports get page routes because the API takes bearer
tokens only, never the session cookie.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, format_percent, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.routing import BuildError

from tracker.calendar import today_vn
from tracker.catalogue.models import Channel, Office, Sector
from tracker.dossiers import queries as dossier_queries
from tracker.errors import DomainError, error_page
from tracker.extensions import db
from tracker.i18n import N_
from tracker.pages import form_errors, label, page_roles
from tracker.reports import export, growth, operations, queries
from tracker.reports.chart import monthly_chart
from tracker.reports.queries import BASELINE_FIGURES
from tracker.reports.schemas import (
    RATE_MAX,
    RATE_PLACES,
    BaselineIn,
    GrowthReportArgs,
    TargetIn,
    parse_year,
)
from tracker.sweeps import queries as sweep_queries
from tracker.sweeps.checks import kind_label
from tracker.sweeps.schemas import AnomalyListArgs

bp = Blueprint("report_pages", __name__, template_folder="templates")

MANAGERS = ("manager", "admin")
FILTERS = ("channel", "office", "sector", "procedure")
SHOWN_BREAKDOWNS = ("channel", "office", "sector")
METRIC_NAMES = {
    "two_way": N_("Two-way"),
    "one_way": N_("One-way (results only)"),
    "send_only": N_("Send-only"),
    "postal_total": N_("Postal total"),
}
# The report's notes are Vietnamese; an English page shows these by the note's code instead.
NOTE_TEXTS = {
    "baseline_not_filterable": N_(
        "A year with only province-wide aggregate figures cannot be split by the filters."
    ),
    "no_figures": N_("A year has neither records nor aggregate figures."),
    "baseline_set_aside": N_(
        "A year with records in the system does not use the aggregate figures entered for it;"
        " months before the system went live are not counted."
    ),
    "no_target": N_("No target without the previous year's figures."),
    "no_same_period": N_(
        "The previous year has no monthly figures to compare the same period with."
    ),
    "share_unfiltered_only": N_("The share of all TTHC dossiers is computed province-wide only."),
}
PAGE_SIZE = 50
# A figure typed with more characters than this is no count anyone means.
MAX_FIGURE_CHARS = 40
_GROUPED = re.compile(r"-?[0-9]{1,3}(?:[.,\s][0-9]{3})+|-?[0-9]+")


@bp.context_processor
def _helpers() -> dict:
    return {
        "num": _number,
        "pct": _percent,
        "metric_name": lambda metric: _(METRIC_NAMES[metric]),
        "metric_options": lambda: [(metric, _(name)) for metric, name in METRIC_NAMES.items()],
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
    """The dossier page; by its path while that page is not registered."""
    try:
        return url_for("dossier_pages.dossier", code=code)
    except BuildError:
        return "/dossiers/" + quote(code)


def _actor():
    return current_user._get_current_object()


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
    rows = {
        "channel": db.session.scalars(select(Channel).order_by(Channel.code)),
        "office": db.session.scalars(select(Office).order_by(Office.code)),
        "sector": db.session.scalars(select(Sector).order_by(Sector.code)),
    }
    return {name: [(row.code, label(row)) for row in found] for name, found in rows.items()}


@bp.get("/manager")
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
        notes=_notes(report),
        period=[
            date.fromisoformat(report[span][end])
            for span in ("period", "same_period")
            for end in ("start", "end")
        ],
        link_args=link_args,
        parts=export.PARTS,
    )


def _notes(report: dict) -> list[str]:
    if str(get_locale()) == "vi":
        return [note["message"] for note in report["notes"]]
    codes = [note["code"] for note in report["notes"]]
    return [_(NOTE_TEXTS[code]) for code in codes if code in NOTE_TEXTS]


@bp.get("/manager/export", endpoint="export")
@page_roles(*MANAGERS)
def download():
    """The API's exports for a signed-in manager: one CSV part or the XLSX workbook."""
    try:
        args, _typed = _report_args()
    except ValidationError as exc:
        return error_page(422, _format_messages(form_errors(exc)))
    if args["format"] not in ("csv", "xlsx"):
        return error_page(422, _("Choose the CSV or XLSX format."))
    filters = growth.filters_from_codes(**{name: args.get(name) for name in FILTERS})
    report = growth.build_report(args["year"], args.get("as_of"), filters)
    return export.download(report, args["format"], args.get("part"))


def _format_messages(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())


# Baselines and targets -------------------------------------------------------------------


@bp.route("/manager/settings", methods=["GET", "POST"])
@page_roles(*MANAGERS)
def settings():
    year = parse_year(request.args.get("year") or str(today_vn().year))
    if request.method == "GET":
        return _settings_page(year)
    which = request.form.get("form")
    if which == "target":
        return _save_target(year)
    if which == "baseline":
        return _save_baseline(year)
    # Not one of the page's forms: read as a baseline, its blank figures would remove the
    # year's baseline.
    return error_page(400)


def _settings_page(year: int, *, typed: dict | None = None, errors: dict | None = None,
                   which: str | None = None, status: int = 200):  # fmt: skip
    """The page with both forms: the one posted (`which`) shows what was typed and its
    errors; the other shows what is stored."""
    baseline = queries.baseline_state(year)
    target = queries.target_state(year)
    stored_baseline = {name: baseline[name] for name in (*BASELINE_FIGURES, "note")}
    for entry in baseline["months"]:
        for name in BASELINE_FIGURES:
            stored_baseline[f"months.{entry['month']}.{name}"] = entry[name]
    stored_target = {
        "rate": "" if target["is_default"] else format_decimal(target["rate"] * 100, "0.##"),
        "target_note": target["note"],
    }
    page = render_template(
        "reports/settings.html",
        year=year,
        baseline=baseline,
        target=target,
        figures=BASELINE_FIGURES,
        values={
            "baseline": typed if which == "baseline" else stored_baseline,
            "target": typed if which == "target" else stored_target,
        },
        errors={which: errors} if which else {},
        months_open=bool(baseline["months"])
        or (which == "baseline" and any(k.startswith("months.") and v for k, v in typed.items())),
    )
    return page, status


def _figure(text: str | None) -> int | str | None:
    """A count typed in a form: digits, maybe grouped (1.101.607 or 1,101,607); empty is
    unknown. Anything else goes to the schema as typed, which says why it is not a count."""
    text = (text or "").strip()
    if not text:
        return None
    # Python's int() takes at most 4,300 digits; longer goes to the schema as text.
    if len(text) <= MAX_FIGURE_CHARS and _GROUPED.fullmatch(text):
        return int(re.sub(r"[.,\s]", "", text))
    return text


def _baseline_body(form) -> tuple[dict, list[int]]:
    """BaselineIn's body from the form, and the month of each entry of its `months`."""
    body: dict = {name: _figure(form.get(name)) for name in BASELINE_FIGURES}
    body["note"] = form.get("note", "").strip() or None
    months, month_of = [], []
    for month in range(1, 13):
        figures = {name: _figure(form.get(f"months.{month}.{name}")) for name in BASELINE_FIGURES}
        if any(value is not None for value in figures.values()):
            months.append({"month": month, **figures})
            month_of.append(month)
    body["months"] = months
    return body, month_of


def _by_month(errors: dict[str, list[str]], month_of: list[int]) -> dict[str, list[str]]:
    """Errors of `months.<index>...` renamed to the form's `months.<month>...` fields."""
    renamed = {}
    for key, messages in errors.items():
        parts = key.split(".")
        if parts[0] == "months" and len(parts) > 1 and parts[1].isdigit():
            parts[1] = str(month_of[int(parts[1])])
        renamed[".".join(parts)] = messages
    return renamed


def _save_baseline(year: int):
    body, month_of = _baseline_body(request.form)
    try:
        state = operations.set_baseline(year, BaselineIn().load(body), _actor())
    except (ValidationError, DomainError) as exc:
        db.session.rollback()
        status = exc.status if isinstance(exc, DomainError) else 422
        errors = _by_month(form_errors(exc), month_of)
        return _settings_page(
            year, typed=request.form.to_dict(), errors=errors, which="baseline", status=status
        )
    db.session.commit()
    if state["updated_at"] is None:
        flash(_("The baseline of %(year)s was removed.", year=year), "success")
    else:
        flash(_("The baseline of %(year)s was saved.", year=year), "success")
    return redirect(url_for(".settings", year=year))


def _rate(text: str | None) -> Decimal | str | None:
    """A growth rate typed in percent ("30", "25,5", "30%") as TargetIn's ratio (0.3); empty
    is the default. What is not a number goes to the schema as typed."""
    text = (text or "").strip().rstrip("%").strip().replace(",", ".")
    if not text:
        return None
    try:
        percent = Decimal(text)
    except InvalidOperation:
        return text
    return percent / 100 if percent.is_finite() else text


def _save_target(year: int):
    body = {"rate": _rate(request.form.get("rate")), "note": request.form.get("target_note")}
    body["note"] = (body["note"] or "").strip() or None
    try:
        operations.set_target(year, TargetIn().load(body), _actor())
    except (ValidationError, DomainError) as exc:
        db.session.rollback()
        status = exc.status if isinstance(exc, DomainError) else 422
        errors = form_errors(exc)
        if "note" in errors:
            errors["target_note"] = errors.pop("note")
        if "rate" in errors and isinstance(body["rate"], Decimal):
            # The schema counts in ratios (0..10, 4 places); the form in percent.
            errors["rate"] = [
                _(
                    "Enter a percentage from 0 to %(most)s, with at most %(places)s decimals.",
                    most=RATE_MAX * 100,
                    places=RATE_PLACES - 2,
                )
            ]
        return _settings_page(
            year, typed=request.form.to_dict(), errors=errors, which="target", status=status
        )
    db.session.commit()
    flash(_("The growth target of %(year)s was saved.", year=year), "success")
    return redirect(url_for(".settings", year=year))


# Overdue dossiers and anomalies ----------------------------------------------------------


@bp.get("/manager/problems")
@page_roles(*MANAGERS)
def problems():
    """The dossiers the hourly sweep marked overdue (the work queue's own section, longest
    overdue first, the first PAGE_SIZE with the total) and the open anomalies, paged."""
    user = _actor()
    cursor = request.args.get("anomalies_after")
    try:
        anomaly_args = AnomalyListArgs().load(
            {"open": True, "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
        )
    except ValidationError as exc:
        return error_page(422, _format_messages(form_errors(exc)))
    overdue_total, overdue = dossier_queries.queue_section(user, "overdue", limit=PAGE_SIZE)
    anomalies, anomalies_next = sweep_queries.list_anomalies(user, anomaly_args)
    return render_template(
        "reports/problems.html",
        today=today_vn(),
        overdue=overdue,
        overdue_total=overdue_total,
        anomalies=[(row, _kind_name(row.kind)) for row in anomalies],
        anomalies_total=sweep_queries.count_open_anomalies(user),
        anomalies_next=anomalies_next,
    )


def _kind_name(kind: str) -> str:
    names = kind_label(kind)
    return names["label_en"] if str(get_locale()) == "en" else names["label_vi"]
