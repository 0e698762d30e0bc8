"""Manager pages: baselines, growth targets, the go-live date and the targets of each office
and channel. Same blueprint as the dashboard (`blueprint.py`); the forms load with the API's
schemas and save with its operations, so no rule is written twice."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from marshmallow import ValidationError

from tracker.accounts.auth import actor
from tracker.calendar import today_vn
from tracker.catalogue import queries as catalogue_queries
from tracker.errors import DomainError, error_page
from tracker.pages import form_errors, form_integer, label, page_roles
from tracker.reports import growth, operations, queries
from tracker.reports.figures import ReportFilters
from tracker.reports.queries import BASELINE_FIGURES, TARGET_FIGURES
from tracker.reports.schemas import (
    RATE_MAX,
    RATE_PLACES,
    WEIGHT_MAX,
    BaselineIn,
    GoLiveIn,
    OfficeTargetIn,
    TargetIn,
    parse_year,
)
from tracker.reports.views import MANAGERS
from tracker.unit_of_work import discard

# A figure typed with more digits than this is no count anyone means.
MAX_FIGURE_DIGITS = 40


# Baselines, growth rates and the go-live date -----------------------------------------------


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
    if which == "go_live":
        return _save_go_live(year)
    # Not one of the page's forms: read as a baseline, its blank figures would remove the
    # year's baseline.
    return error_page(400)


def _settings_page(year: int, *, typed: dict | None = None, errors: dict | None = None,
                   which: str | None = None, status: int = 200):  # fmt: skip
    """The page with both forms: the one posted (`which`) shows what was typed and its
    errors; the other shows what is stored."""
    baseline = queries.baseline_state(year)
    target = growth.target_state(year)
    stored_baseline = {name: baseline[name] for name in (*BASELINE_FIGURES, "note")}
    for entry in baseline["months"]:
        for name in BASELINE_FIGURES:
            stored_baseline[f"months.{entry['month']}.{name}"] = entry[name]
    stored_target = {
        "rate": "" if target["is_default"] else format_decimal(target["rate"] * 100, "0.##"),
        "target_note": target["note"],
    }
    go_live = queries.go_live_state()
    stored_go_live = {"go_live_on": go_live["go_live_on"], "go_live_note": go_live["note"]}
    page = render_template(
        "reports/settings.html",
        year=year,
        baseline=baseline,
        target=target,
        go_live=go_live,
        units=_unit_rows(year),
        figures=BASELINE_FIGURES,
        values={
            "baseline": typed if which == "baseline" else stored_baseline,
            "target": typed if which == "target" else stored_target,
            "go_live": typed if which == "go_live" else stored_go_live,
        },
        errors={which: errors} if which else {},
        months_open=bool(baseline["months"])
        or (which == "baseline" and any(k.startswith("months.") and v for k, v in typed.items())),
    )
    return page, status


def _refused(exc: ValidationError | DomainError, note: str = "note") -> tuple[dict, int]:
    """A form refused: what the operation wrote undone (the page shows the state before it),
    the errors by field (the schema's `note` under the form's name for it) and the page's
    status."""
    discard()
    errors = form_errors(exc)
    if "note" in errors:
        errors[note] = errors.pop("note")
    return errors, exc.status if isinstance(exc, DomainError) else 422


def _figure(text: str | None) -> int | str | None:
    """A count typed in a form: digits, maybe grouped (1.101.607 or 1,101,607); empty is
    unknown. Anything else goes to the schema as typed, which says why it is not a count."""
    text = (text or "").strip()
    if not text:
        return None
    # Negative too: the schema says a count is never below 0.
    return form_integer(text, negative=True, max_digits=MAX_FIGURE_DIGITS)


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
        state = operations.set_baseline(year, BaselineIn().load(body), actor())
    except (ValidationError, DomainError) as exc:
        errors, status = _refused(exc)
        errors = _by_month(errors, month_of)
        return _settings_page(
            year, typed=request.form.to_dict(), errors=errors, which="baseline", status=status
        )
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
        operations.set_target(year, TargetIn().load(body), actor())
    except (ValidationError, DomainError) as exc:
        errors, status = _refused(exc, note="target_note")
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
    flash(_("The growth target of %(year)s was saved.", year=year), "success")
    return redirect(url_for(".settings", year=year))


def _save_go_live(year: int):
    body = {
        "go_live_on": (request.form.get("go_live_on") or "").strip() or None,
        "note": (request.form.get("go_live_note") or "").strip() or None,
    }
    try:
        operations.set_go_live(GoLiveIn().load(body), actor())
    except (ValidationError, DomainError) as exc:
        errors, status = _refused(exc, note="go_live_note")
        return _settings_page(
            year, typed=request.form.to_dict(), errors=errors, which="go_live", status=status
        )
    flash(_("The go-live date was saved."), "success")
    return redirect(url_for(".settings", year=year))


# Targets of each office and channel ---------------------------------------------------------


def _unit_rows(year: int) -> dict[str, list[dict]] | None:
    """Every office and channel with its previous-year figure and target of `year` (postal
    total, from the growth report), for the table on the settings page; None before the year
    has begun (the report has no previous-year figures to give yet)."""
    if year > today_vn().year:
        return None
    report = growth.build_report(year)
    tables = {}
    for part, model in queries.UNIT_MODELS.items():
        rows = {row["code"]: row["metrics"]["postal_total"] for row in report["breakdowns"][part]}
        members = catalogue_queries.all_by_code(model)
        tables[part] = [(member.code, label(member), rows.get(member.code)) for member in members]
    return tables


@page_roles(*MANAGERS)
def unit_target(dimension: str, code: str):
    """What a manager sets for one office's or channel's target in a year."""
    year = parse_year(request.args.get("year") or str(today_vn().year))
    member_id = queries.unit_id(dimension, code)
    if request.method == "GET":
        return _unit_page(year, dimension, member_id)
    body = {name: _figure(request.form.get(name)) for name in TARGET_FIGURES}
    body["weight"] = _rate(request.form.get("weight"))
    body["note"] = (request.form.get("note") or "").strip() or None
    try:
        operations.set_office_target(year, dimension, code, OfficeTargetIn().load(body), actor())
    except (ValidationError, DomainError) as exc:
        errors, status = _refused(exc)
        if "weight" in errors and isinstance(body["weight"], Decimal):
            # The schema counts in ratios (0..1, 4 places); the form in percent.
            errors["weight"] = [
                _(
                    "Enter a percentage from 0 to %(most)s, with at most %(places)s decimals.",
                    most=WEIGHT_MAX * 100,
                    places=RATE_PLACES - 2,
                )
            ]
        typed = request.form.to_dict()
        return _unit_page(year, dimension, member_id, typed=typed, errors=errors, status=status)
    flash(_("The target of %(code)s for %(year)s was saved.", code=code, year=year), "success")
    return redirect(url_for(".settings", year=year) + "#unit-targets-heading")


def _unit_page(year: int, dimension: str, member_id: int, *, typed: dict | None = None,
               errors: dict | None = None, status: int = 200):  # fmt: skip
    state = queries.office_target_state(year, dimension, member_id)
    stored = {name: state[name] for name in (*TARGET_FIGURES, "note")}
    weight = state["weight"]
    stored["weight"] = "" if weight is None else format_decimal(weight * 100, "0.##")
    report = None
    if year <= today_vn().year:
        filters = ReportFilters(**{f"{dimension}_id": member_id})
        report = growth.build_report(year, None, filters)
    page = render_template(
        "reports/unit_target.html",
        year=year,
        dimension=dimension,
        state=state,
        report=report,
        values=typed if typed is not None else stored,
        errors=errors or {},
        figures=TARGET_FIGURES,
    )
    return page, status
