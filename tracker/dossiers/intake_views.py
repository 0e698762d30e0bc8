"""The clerk's intake page and the printed receipt (Form 01 of Circular 01/2018).

The intake form posts field names that are the API's payload paths ("applicant.name",
"documents.0.count"), so the page builds the very payload `POST /api/v1/dossiers` takes, loads it
with the same schema and calls the same operation: errors come back under the same names and
sit beside their fields.

The lookup secret is stored only as a hash and shown once: the receipt is the answer to the
intake POST itself (201), and a reprint makes a new secret. It never goes to the session.

Each intake form carries a one-time id; the session remembers the last ids sent (with the code
logged, never the secret), so reloading the receipt (which posts the form again) cannot log
the same dossier twice: it leads to the dossier page, where the receipt can be reissued.

The URL rules are in `blueprint.py`. The request is the unit of work: these views never commit.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import (
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from marshmallow import ValidationError

from tracker.accounts.auth import actor
from tracker.calendar import today_vn
from tracker.catalogue.models import Procedure
from tracker.catalogue.queries import find_procedure, list_offices, search_procedures
from tracker.dossiers import operations, queries
from tracker.dossiers.models import DOCUMENT_KINDS, Dossier
from tracker.dossiers.receipt import build_receipt
from tracker.dossiers.schemas import DossierCreateIn
from tracker.errors import DomainError
from tracker.i18n import N_
from tracker.pages import form_errors, form_integer, page_roles, remember_sent_form, sent_form
from tracker.unit_of_work import discard

INTAKE_ROLES = ("clerk", "admin")
SEARCH_LIMIT = 20
# Empty document rows offered below the filled ones (more come with "Add a row" when JS runs).
BLANK_ROWS = 3
MIN_ROWS = 4
# The schema takes at most 100 documents; a form row index beyond this is ignored.
MAX_ROWS = 100
# The form's plain fields, by payload path. office_code only for admins (clerks use their own).
TEXT_FIELDS = (
    "service_form",
    "procedure_code",
    "delivery_address",
    "postal_item_number",
    "appointment_date",
    "note",
)
APPLICANT_FIELDS = ("name", "phone", "id_number", "email")
KIND_NAMES = {
    "original": N_("Original"),
    "certified_copy": N_("Certified copy"),
    "copy": N_("Copy"),
}
# The session's memory of sent intake forms (a clerk reloads the last receipt or two).
SENT_KIND = "intakes_sent"
_ROW_FIELD = re.compile(r"documents\.([0-9]{1,3})\.(name|kind|count)\Z")


@page_roles(*INTAKE_ROLES)
def intake():
    """Find the procedure (GET ?q=), open its form (GET ?procedure=), log the dossier (POST)."""
    if request.method == "POST":
        return _submit()
    term = request.args.get("q", "").strip()[:200]
    code = request.args.get("procedure", "").strip()[:40]
    if code:
        procedure = procedure_in_force(code)
        if procedure is not None:
            return _form_page(procedure, _defaults(procedure), [], {})
        return _search_page(code, [], {"q": [N_("No procedure in force has this code.")]}, 404)
    matches = _search(term) if term else []
    exact = [p for p in matches if p.code == term]
    if len(exact) == 1:
        # A code typed or scanned in full opens its form straight away.
        return _form_page(exact[0], _defaults(exact[0]), [], {})
    return _search_page(term, matches, {}, 200)


@page_roles(*INTAKE_ROLES)
def reissue_receipt(code: str):
    """Reprint a receipt: a new lookup secret replaces the old one (which stops working)."""
    user = actor()
    dossier = queries.get_dossier(code, user, for_update=True)
    secret = operations.reissue_receipt(dossier, user)
    return receipt_page(dossier, secret, 200, reissued=True)


def _submit():
    values, documents = typed_intake(request.form)
    if sent := already_sent(values["form_id"]):
        return sent
    procedure = procedure_in_force(values.get("procedure_code", ""))
    if procedure is None:
        errors = {"q": [N_("Choose a procedure in force first.")]}
        return _search_page(values.get("procedure_code", ""), [], errors, 422)
    try:
        data = DossierCreateIn().load(intake_payload(values, documents))
        dossier, secret = operations.create_dossier(data, actor())
    except (ValidationError, DomainError) as error:
        # Nothing of a refused intake may stay (not even a code number taken for it).
        discard()
        return _form_page(procedure, values, documents, form_errors(error), 422)
    remember_sent(values["form_id"], dossier.code)
    return receipt_page(dossier, secret, 201)


def already_sent(form_id: str):
    """The way to the dossier a form sent before made (a reload, a second click), if it did:
    a second dossier would be a second code for the same papers."""
    logged = sent_form(SENT_KIND, form_id)
    if not logged:
        return None
    flash(
        _(
            "This form was already sent: dossier %(code)s is logged. Reissue its receipt to "
            "print it again.",
            code=logged,
        ),
        "error",
    )
    return redirect(url_for("dossier_pages.dossier", code=logged), 303)


def remember_sent(form_id: str, code: str) -> None:
    """Remember the form as sent once the dossier is committed (its receipt answered, 201)."""
    remember_sent_form(SENT_KIND, form_id, code, status=201)


def typed_intake(form) -> tuple[dict[str, str], list[dict[str, str]]]:
    """What the clerk typed, as typed: the plain fields, and the document rows that have a
    name, in order (so that "documents.N" of an error is the N-th row shown again)."""
    values = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
    for key in APPLICANT_FIELDS:
        values[f"applicant.{key}"] = form.get(f"applicant.{key}", "").strip()
    values["fee_vnd"] = form.get("fee_vnd", "").strip()
    values["form_id"] = form.get("form_id", "").strip()[:40]
    if actor().role == "admin":
        values["office_code"] = form.get("office_code", "").strip()
    rows: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = _ROW_FIELD.match(key)
        if match and int(match.group(1)) < MAX_ROWS:
            row = rows.setdefault(int(match.group(1)), {"name": "", "kind": "", "count": ""})
            row[match.group(2)] = value.strip()
    # A row without a name is left out: clearing the name removes a pre-filled document.
    documents = [row for _index, row in sorted(rows.items()) if row["name"]]
    return values, documents


def intake_payload(values: dict[str, str], documents: list[dict[str, str]]) -> dict[str, Any]:
    """The API's JSON payload from the form: an empty field is left out, as a client would."""
    payload: dict[str, Any] = {name: values[name] for name in TEXT_FIELDS if values[name]}
    if values.get("office_code"):
        payload["office_code"] = values["office_code"]
    if values["fee_vnd"]:
        payload["fee_vnd"] = form_integer(values["fee_vnd"])
    payload["applicant"] = {
        key: values[f"applicant.{key}"] for key in APPLICANT_FIELDS if values[f"applicant.{key}"]
    }
    payload["documents"] = [
        {
            key: form_integer(value) if key == "count" else value
            for key, value in row.items()
            if value
        }
        for row in documents
    ]
    return payload


def _defaults(procedure: Procedure) -> dict[str, str]:
    forms = procedure.service_forms
    return {
        "form_id": secrets.token_urlsafe(12),
        "procedure_code": procedure.code,
        "service_form": "two_way" if "two_way" in forms else forms[0],
        "fee_vnd": str(procedure.fee_vnd or 0),
    }


def procedure_in_force(code: str) -> Procedure | None:
    """The procedure in force with `code`, if any. No code holds a NUL character, and
    PostgreSQL refuses one in a query: such a code is not looked up."""
    if "\x00" in code:
        return None
    return _active(find_procedure(code))


def _active(procedure: Procedure | None) -> Procedure | None:
    if procedure is None or not procedure.is_active_on(today_vn()):
        return None
    return procedure


def _search(term: str) -> list[Procedure]:
    # Code prefix or accent-insensitive part of the name; procedures no longer in force are
    # left out (the operation would refuse them). PostgreSQL refuses a NUL in a query.
    if "\x00" in term:
        return []
    found = search_procedures({"q": term, "limit": SEARCH_LIMIT * 2, "offset": 0})
    return [procedure for procedure in found if _active(procedure)][:SEARCH_LIMIT]


def _search_page(term: str, matches: list[Procedure], errors: dict, status: int):
    html = render_template("dossiers/intake_search.html", term=term, matches=matches, errors=errors)
    return html, status


def _form_page(
    procedure: Procedure,
    values: dict[str, str],
    documents: list[dict[str, str]],
    errors: dict[str, list[str]],
    status: int = 200,
):
    if request.method == "GET":
        # A form just opened starts with the procedure's checklist; the clerk edits it.
        documents = [
            {"name": doc["name"], "kind": doc["kind"], "count": str(doc["count"])}
            for doc in procedure.documents or []
        ]
    blank = {"name": "", "kind": "original", "count": "1"}
    rows = documents + [dict(blank) for _ in range(max(BLANK_ROWS, MIN_ROWS - len(documents)))]
    offices = []
    if actor().role == "admin":
        offices = [(o.code, f"{o.code} - {o.name}") for o in list_offices({"active": True})]
    html = render_template(
        "dossiers/intake.html",
        procedure=procedure,
        values=values,
        rows=rows[:MAX_ROWS],
        errors=errors,
        offices=offices,
        kinds=[(kind, _(KIND_NAMES[kind])) for kind in DOCUMENT_KINDS],
    )
    return html, status


def receipt_page(dossier: Dossier, secret: str, status: int, *, reissued: bool = False):
    receipt = build_receipt(dossier, secret)
    response = make_response(
        render_template(
            "dossiers/receipt.html",
            receipt=receipt,
            dossier=dossier,
            kind_names=KIND_NAMES,
            reissued=reissued,
        ),
        status,
    )
    # The page carries the only copy of the secret: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response
