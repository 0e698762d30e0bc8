"""The admin's status-out pages: subscriptions (list, new, edit, switch on or off, rotate the
secret) and deliveries (filters, replay one, replay a time range). The forms are named like the
API's payloads, loaded by the API's schemas and handled by the same operations."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from tracker.accounts.auth import actor
from tracker.catalogue import queries as catalogue
from tracker.dossiers.lifecycle import STATUSES
from tracker.errors import DomainError, NotFound
from tracker.i18n import N_
from tracker.pages import form_errors, page_roles, safe_next, translate
from tracker.status_out import operations, queries
from tracker.status_out.models import DELIVERY_STATES
from tracker.status_out.schemas import DeliveryArgs, ReplayIn, SubscriptionIn, SubscriptionPatchIn
from tracker.unit_of_work import discard

bp = Blueprint("status_out_pages", __name__, template_folder="templates")

ADMIN = "admin"
STATE_NAMES = {
    "pending": N_("Pending"),
    "delivered": N_("Delivered"),
    "failed": N_("Failed"),
    "cancelled": N_("Cancelled"),
}


def _subscription_form() -> dict[str, Any]:
    """The subscription form as the API's payload: statuses ticked, `active` a checkbox."""
    data: dict[str, Any] = {
        "url": request.form.get("url", ""),
        "statuses": request.form.getlist("statuses"),
        "active": request.form.get("active") == "1",
    }
    if "agency_code" in request.form:
        data["agency_code"] = request.form.get("agency_code", "")
    return data


def _subscription_or_404(subscription_id: int):
    try:
        return queries.get_subscription(subscription_id)
    except NotFound:
        abort(404)


@bp.get("/admin/subscriptions")
@page_roles(ADMIN)
def subscriptions():
    """Every agency's subscriptions: URL, statuses, on or off and why."""
    return render_template(
        "status_out/subscriptions.html", rows=queries.list_subscriptions(), statuses=STATUSES
    )


@bp.route("/admin/subscriptions/new", methods=["GET", "POST"])
@page_roles(ADMIN)
def new_subscription():
    """Subscribe an agency's receiver; the secret is shown once on the answer."""
    if request.method == "GET":
        return _form_page(None, {"active": True, "statuses": []}, {})
    typed = _subscription_form()
    try:
        subscription, secret = operations.create_subscription(SubscriptionIn().load(typed), actor())
    except (ValidationError, DomainError) as exc:
        discard()
        return _form_page(None, typed, form_errors(exc), 422)
    return render_template("status_out/secret.html", subscription=subscription, secret=secret)


@bp.route("/admin/subscriptions/<int:subscription_id>", methods=["GET", "POST"])
@page_roles(ADMIN)
def subscription(subscription_id: int):
    """Edit the URL and the statuses; switch it on or off."""
    row = _subscription_or_404(subscription_id)
    if request.method == "GET":
        values = {"url": row.url, "statuses": row.statuses, "active": row.active}
        return _form_page(row, values, {})
    typed = _subscription_form()
    try:
        operations.update_subscription(row, SubscriptionPatchIn().load(typed), actor())
    except (ValidationError, DomainError) as exc:
        discard()
        return _form_page(_subscription_or_404(subscription_id), typed, form_errors(exc), 422)
    flash(_("Subscription saved."), "success")
    return redirect(url_for("status_out_pages.subscriptions"))


@bp.post("/admin/subscriptions/<int:subscription_id>/secret")
@page_roles(ADMIN)
def rotate_secret(subscription_id: int):
    """A new secret, shown once; the old one stops at once."""
    row = _subscription_or_404(subscription_id)
    secret = operations.rotate_secret(row, actor())
    return render_template("status_out/secret.html", subscription=row, secret=secret)


def _form_page(row, values: dict, errors: dict, status: int = 200):
    page = render_template(
        "status_out/subscription_form.html",
        row=row,
        values=values,
        errors=errors,
        agency_options=[(a.code, f"{a.code} · {a.name}") for a in catalogue.list_agencies()],
        statuses=STATUSES,
    )
    return page, status


@bp.get("/admin/deliveries")
@page_roles(ADMIN)
def deliveries():
    """Deliveries newest first, filtered by subscription, state and time range."""
    typed = {k: v for k, v in request.args.items() if v and k in DeliveryArgs().fields}
    errors: dict = {}
    try:
        args = DeliveryArgs().load(typed)
        rows, next_cursor = queries.list_deliveries(args)
    except (ValidationError, DomainError) as exc:
        errors = form_errors(exc)
        rows, next_cursor = [], None
    return render_template(
        "status_out/deliveries.html",
        rows=rows,
        next_cursor=next_cursor,
        values=typed,
        filters={k: v for k, v in typed.items() if k != "cursor"},
        errors=errors,
        subscriptions=queries.list_subscriptions(),
        states=DELIVERY_STATES,
        state_names=STATE_NAMES,
    ), (422 if errors else 200)


@bp.post("/admin/deliveries/<int:delivery_id>/replay")
@page_roles(ADMIN)
def replay(delivery_id: int):
    """Send one delivery again (same webhook-id)."""
    delivery = _delivery_or_404(delivery_id)
    try:
        operations.replay_one(delivery, actor())
    except DomainError as exc:
        discard()
        flash(_("Not replayed: %(reason)s", reason=_reason(exc)), "error")
    else:
        flash(_("Delivery %(id)s queued again.", id=delivery_id), "success")
    return redirect(safe_next(request.form.get("back")) or url_for("status_out_pages.deliveries"))


@bp.post("/admin/deliveries/replay")
@page_roles(ADMIN)
def replay_range():
    """Send again what was written in a time range (of one subscription, or all)."""
    typed = {k: v for k, v in request.form.items() if v and k in ReplayIn().fields}
    try:
        data = ReplayIn().load(typed)
        queued = operations.replay_range(
            data.get("subscription_id"), data["since"], data["until"], actor()
        )
    except (ValidationError, DomainError) as exc:
        discard()
        errors = form_errors(exc)
        field, messages = next(iter(errors.items()))
        label = translate(_REPLAY_FIELDS.get(field, field))
        flash(_("Not replayed: %(reason)s", reason=f"{label}: {translate(messages[0])}"), "error")
    else:
        flash(_("%(count)s delivery(ies) queued again.", count=queued), "success")
    return redirect(url_for("status_out_pages.deliveries"))


# The replay form's fields as the page names them.
_REPLAY_FIELDS = {
    "since": N_("Written from"),
    "until": N_("Written before"),
    "subscription_id": N_("Subscription"),
}


def _delivery_or_404(delivery_id: int):
    try:
        return queries.get_delivery(delivery_id)
    except NotFound:
        abort(404)


def _reason(exc: DomainError) -> str:
    if exc.fields:
        return translate(next(iter(exc.fields.values()))[0])
    return translate(exc.message)
