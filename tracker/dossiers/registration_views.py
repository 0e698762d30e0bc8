"""The clerk's return-registration page: a citizen who filed at an agency's one-stop desk (or the
PAC) registers for the result to be returned by post.

The form's field names are the payload paths of `POST /api/v1/registrations`: the page loads
them with the API's schema and calls the same operation (`registrations.register_return`), so
errors come back under the same names beside their fields. The answer is a receipt, as at the
counter, with the lookup secret shown once; a reloaded receipt leads to the dossier (the intake
page's one-time form ids). The request is the unit of work: this view never commits.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import render_template, request
from marshmallow import ValidationError

from tracker.accounts.auth import actor
from tracker.catalogue.queries import list_agencies, list_offices
from tracker.dossiers import registrations
from tracker.dossiers.intake_views import already_sent, receipt_page, remember_sent
from tracker.dossiers.schemas import RegistrationCreateIn
from tracker.errors import DomainError
from tracker.pages import form_errors, form_integer, page_roles
from tracker.unit_of_work import discard

TEXT_FIELDS = (
    "agency_code",
    "agency_reference",
    "procedure_code",
    "delivery_address",
    "appointment_date",
    "note",
)
APPLICANT_FIELDS = ("name", "phone", "id_number", "email")


@page_roles(*registrations.REGISTRAR_ROLES)
def registration():
    """The form (GET); register the return and print the receipt (POST)."""
    if request.method == "GET":
        return _form_page({"form_id": secrets.token_urlsafe(12), "fee_vnd": "0"}, {})
    values = _typed(request.form)
    if sent := already_sent(values["form_id"]):
        return sent
    try:
        data = RegistrationCreateIn().load(_payload(values))
        dossier, secret = registrations.register_return(data, actor())
    except (ValidationError, DomainError) as error:
        # Nothing of a refused registration may stay (not even a code number taken for it).
        discard()
        status = error.status if isinstance(error, DomainError) else 422
        return _form_page(values, form_errors(error), status)
    remember_sent(values["form_id"], dossier.code)
    return receipt_page(dossier, secret, 201)


def _typed(form) -> dict[str, str]:
    values = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
    for key in APPLICANT_FIELDS:
        values[f"applicant.{key}"] = form.get(f"applicant.{key}", "").strip()
    values["fee_vnd"] = form.get("fee_vnd", "").strip()
    values["form_id"] = form.get("form_id", "").strip()[:40]
    if actor().role == "admin":
        values["office_code"] = form.get("office_code", "").strip()
    return values


def _payload(values: dict[str, str]) -> dict[str, Any]:
    """The API's JSON payload from the form: an empty field is left out, as a client would."""
    payload: dict[str, Any] = {name: values[name] for name in TEXT_FIELDS if values[name]}
    if values.get("office_code"):
        payload["office_code"] = values["office_code"]
    if values["fee_vnd"]:
        payload["fee_vnd"] = form_integer(values["fee_vnd"])
    payload["applicant"] = {
        key: values[f"applicant.{key}"] for key in APPLICANT_FIELDS if values[f"applicant.{key}"]
    }
    return payload


def _form_page(values: dict[str, str], errors: dict[str, list[str]], status: int = 200):
    offices = []
    if actor().role == "admin":
        offices = [(o.code, f"{o.code} - {o.name}") for o in list_offices({"active": True})]
    agencies = [(a.code, f"{a.name} ({a.code})") for a in list_agencies()]
    html = render_template(
        "dossiers/registration.html",
        values=values,
        errors=errors,
        offices=offices,
        agencies=agencies,
    )
    return html, status
