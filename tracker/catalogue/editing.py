"""Editing one office or one procedure from the admin's pages, with the procedure loader's checks
(tracker/catalogue/operations.py). Flush only; rows are never deleted: an office or a procedure
ends with its last day (`active_to`), and old dossiers keep it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from flask_babel import gettext
from sqlalchemy import select

from tracker.catalogue.documents import ChecklistInvalid, Problem, parse_documents
from tracker.catalogue.loading import (
    NUL_MESSAGE,
    CellRefused,
    assign_audited,
    clean_text,
    max_length,
)
from tracker.catalogue.models import Agency, Channel, Office, Procedure, Sector
from tracker.catalogue.operations import (
    _entry_text,
    _fee,
    _period,
    _service_forms,
    _working_days,
)
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.text import fold


def update_office(office: Office, form: Mapping[str, str], *, actor_id: int | None = None) -> None:
    """Edit one office from a form's text (its code stays). The checks are the loader's; every
    field's error is reported at once. Deactivating is setting `active_to`: rows are never
    deleted, old dossiers keep their office."""
    channels = {c.code: c for c in db.session.scalars(select(Channel))}
    optional = {key: clean_text(form.get(key) or "") or None for key in _OFFICE_TEXT}
    errors, values = _collect(
        name=lambda: _entry_text(form, "name", "office"),
        channel=lambda: _known(channels, form.get("channel"), "unknown channel"),
        period=lambda: _form_period(form),
    )
    for key, value in optional.items():
        if value and len(value) > max_length(Office, key):
            errors[key] = ["too long"]
    if len(values.get("name") or "") > max_length(Office, "name"):
        errors["name"] = ["too long"]
    errors.update(_nul_errors(form))
    if errors:
        raise ValidationFailed("some fields are not valid", fields=errors)
    fields = {"code": office.code, "name": values["name"], "channel": values["channel"]}
    assign_audited(office, {**fields, **optional, **values["period"]}, "offices", actor_id)
    db.session.flush()


def update_procedure(
    procedure: Procedure,
    form: Mapping[str, str],
    service_forms: list[str],
    *,
    actor_id: int | None = None,
) -> None:
    """Edit one procedure (its code stays) with the CSV loader's checks; its active period too.
    The checklist is the `documents` text (one document per line); a form without that field
    leaves the checklist as it is."""
    sectors = {s.code: s for s in db.session.scalars(select(Sector))}
    agencies = {a.code: a for a in db.session.scalars(select(Agency))}
    errors, values = _collect(
        name=lambda: _entry_text(form, "name", "procedure"),
        sector=lambda: _known(sectors, form.get("sector"), "unknown sector"),
        agency=lambda: _known(agencies, form.get("agency"), "unknown agency"),
        working_days=lambda: _working_days((form.get("working_days") or "").strip()),
        service_forms=lambda: _chosen_forms(service_forms),
        fee_vnd=lambda: _fee((form.get("fee_vnd") or "").strip()),
        period=lambda: _form_period(form),
        documents=lambda: _form_documents(form, procedure),
    )
    errors.update(_nul_errors(form))
    if errors:
        raise ValidationFailed("some fields are not valid", fields=errors)
    forms = values["service_forms"]
    fields = {
        "code": procedure.code,
        "name": values["name"],
        "search_name": fold(values["name"]),
        "sector": values["sector"],
        "agency": values["agency"],
        "working_days": values["working_days"],
        "fee_vnd": values["fee_vnd"],
        "allows_two_way": "two_way" in forms,
        "allows_return_only": "return_only" in forms,
        "allows_send_only": "send_only" in forms,
        "documents": values["documents"],
        **values["period"],
    }
    assign_audited(procedure, fields, "procedures", actor_id)
    db.session.flush()


_OFFICE_TEXT = ("commune", "district", "province", "address")


def _collect(**checks: Callable[[], Any]) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Run every check; errors by form field (the last part of the loader's field path)."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name, check in checks.items():
        try:
            values[name] = check()
        except CellRefused as exc:
            errors[name] = [exc.args[0]]
        except ValidationFailed as exc:
            for path, messages in exc.fields.items():
                errors[path.rpartition(".")[2]] = messages
    return errors, values


def _nul_errors(form: Mapping[str, str]) -> dict[str, list[str]]:
    return {key: [NUL_MESSAGE] for key, value in form.items() if "\x00" in (value or "")}


def _known(rows: Mapping[str, Any], code: str | None, message: str) -> Any:
    if not code or code not in rows:
        raise CellRefused(message if code else "required")
    return rows[code]


def _chosen_forms(chosen: list[str]) -> set[str]:
    if not chosen:
        raise CellRefused("choose at least one service form")
    return _service_forms("|".join(chosen))


def _form_documents(form: Mapping[str, str], procedure: Procedure) -> list[dict]:
    if "documents" not in form:
        return list(procedure.documents or [])
    try:
        return parse_documents(form["documents"])
    except ChecklistInvalid as exc:
        messages = [_problem_message(problem) for problem in exc.problems]
        raise ValidationFailed("documents: not valid", fields={"documents": messages}) from None


def _problem_message(problem: Problem) -> str:
    # In the page's language here: the position of the document is part of the message.
    if problem.number is None:
        return gettext(problem.reason)
    return gettext(
        "Document %(number)s: %(problem)s", number=problem.number, problem=gettext(problem.reason)
    )


def _form_period(form: Mapping[str, str]) -> dict[str, date | None]:
    period = _period(
        {key: (form.get(key) or "").strip() for key in ("active_from", "active_to")}, ""
    )
    start, end = period["active_from"], period["active_to"]
    if start and end and end < start:
        raise ValidationFailed.field("active_to", "must not be before the start")
    return period
