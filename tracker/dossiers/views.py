"""Clerk and agency pages: the work queue, the dossier page and the batch scan.

Their URL rules are in `blueprint.py`, with those of intake and the receipt (`intake_views.py`).
Every change goes through the operations the API calls (`operations.record_event`), with the
API's load schema: no rule is written twice. The request is the unit of work: these views never
commit; a refused form is discarded before the page shows the dossier as it is.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from marshmallow import ValidationError

from tracker.accounts.auth import actor
from tracker.audit.operations import record_audit
from tracker.calendar import utcnow
from tracker.database import writes
from tracker.dossiers import operations, queries, signals
from tracker.dossiers.delivery import FAILURE_REASONS, RECEIVER_RELATIONS, check_proof, words
from tracker.dossiers.intake_views import INTAKE_ROLES
from tracker.dossiers.lifecycle import STATUSES, allowed_next
from tracker.dossiers.schemas import EventCreateIn
from tracker.errors import (
    DomainError,
    Forbidden,
    NotFound,
    StaleVersion,
    TransitionNotAllowed,
    ValidationFailed,
)
from tracker.extensions import db
from tracker.i18n import N_
from tracker.pages import form_errors, form_integer, page_roles, status_name
from tracker.unit_of_work import discard

QUEUE_ROLES = ("clerk", "agency", "admin")
VIEW_ROLES = ("clerk", "agency", "manager", "admin")
WRITERS = ("clerk", "agency", "admin")
QUEUE_LIMIT = 50
MAX_BATCH = 500
VERSION_DIGITS = 19

# The queue's sections, in the order shown, and who sees which: a clerk delivers results, an
# agency officer accepts what the post handed over.
SECTION_TITLES = {
    "received_today": N_("Received today"),
    "to_forward": N_("Waiting for hand-over to the agency"),
    "to_accept": N_("Handed to the agency, waiting for acceptance"),
    "results_at_agency": N_("Results ready at the agency"),
    "results_to_deliver": N_("Results waiting for delivery"),
    "overdue": N_("Overdue"),
    "delivery_failed": N_("Failed deliveries"),
}
SECTIONS_BY_ROLE = {
    "clerk": (
        "received_today",
        "to_forward",
        "results_at_agency",
        "results_to_deliver",
        "overdue",
        "delivery_failed",
    ),
    "agency": ("received_today", "to_forward", "to_accept", "overdue"),
    "admin": tuple(SECTION_TITLES),
}
# Events that are recorded for many dossiers at once, by scanning (in lifecycle order).
_POST_SCANS = {
    "forwarded",
    "result_collected",
    "out_for_delivery",
    "delivery_failed",
    "delivered",
    "returned_to_agency",
}
_AGENCY_SCANS = {"processing", "result_ready", "collected_in_person"}
SCAN_EVENTS = {
    "clerk": [s for s in STATUSES if s in _POST_SCANS],
    "agency": [s for s in STATUSES if s in _AGENCY_SCANS],
    "admin": [s for s in STATUSES if s in _POST_SCANS | _AGENCY_SCANS],
}
_BATCH_ID = re.compile(r"[0-9a-f]{32}")


def _source(user) -> str:
    return "agency" if user.role == "agency" else "counter"


# Work queue ------------------------------------------------------------------------------------


@writes
@page_roles(*QUEUE_ROLES)
def queue():
    """The user's work queue: a count and the most urgent rows of each section."""
    user = actor()
    search = request.args.get("q", "").strip()[:100]
    if search:
        code = queries.find_code(search, user)
        if code is not None:
            return redirect(url_for(".dossier", code=code))
    sections = []
    for name in SECTIONS_BY_ROLE[user.role]:
        total, rows = queries.queue_section(user, name, limit=QUEUE_LIMIT)
        section = {"name": name, "title": _(SECTION_TITLES[name]), "total": total, "rows": rows}
        if name == "delivery_failed":
            section["reasons"] = _failure_reasons(rows)
        if name == "results_at_agency":
            section["groups"] = _by_agency(rows)
        sections.append(section)
    shown = sorted({row.code for section in sections for row in section["rows"]})
    # Rows show applicants' full names: the view of personal data is audited, as in the API.
    record_audit(user.id, "dossier.list", "dossier", "*", after={"codes": shown})
    return render_template(
        "dossiers/queue.html",
        sections=sections,
        search=search,
        not_found=bool(search),
        now_vn=utcnow(),
    )


# Dossier page ----------------------------------------------------------------------------------


@writes
@page_roles(*VIEW_ROLES)
def dossier(code: str):
    """Details, timeline and the transitions this user may record now."""
    return _dossier_page(code, form={}, errors={}, status=200)


@page_roles(*WRITERS)
def record_event(code: str):
    """Record one status change from the dossier page; refused ones come back with the form."""
    user = actor()
    form = {key: request.form.get(key, "").strip() for key in _EVENT_FIELDS}
    dossier = queries.get_dossier(code, user, for_update=True)
    try:
        data = EventCreateIn().load(_event_data(form))
        operations.record_event(
            dossier,
            data["status"],
            source=_source(user),
            actor=user,
            occurred_at=data.get("occurred_at"),
            note=data.get("note"),
            office_id=user.office_id,
            appointment_date=data.get("appointment_date"),
            expected_version=data.get("expected_version"),
            receiver=data.get("receiver"),
            failure_reason=data.get("failure_reason"),
        )
    except ValidationError as exc:
        errors, status = form_errors(exc), 422
    except DomainError as exc:
        errors, status = _event_errors(exc), exc.status
    else:
        flash(_("Recorded: %(status)s.", status=status_name(data["status"])), "success")
        return redirect(url_for(".dossier", code=dossier.code, _anchor="timeline"))
    # Nothing of the refused event stays; the page shows the dossier as it is now.
    discard()
    return _dossier_page(code, form=form, errors=errors, status=status)


_EVENT_FIELDS = (
    "status",
    "receiver.name",
    "receiver.relation",
    "failure_reason",
    "note",
    "appointment_date",
    "occurred_at",
    "expected_version",
)
# The proof of delivery's fields, shared by the dossier page's form and the batch scan's.
_PROOF_FIELDS = ("receiver.name", "receiver.relation", "failure_reason")


def _event_data(form: dict[str, str]) -> dict[str, Any]:
    """The form as the API's EventCreateIn reads it: empty fields left out, `receiver.*`
    nested, the version as a number (a datetime-local value has no offset: the schema reads
    it as Vietnam time)."""
    data: dict[str, Any] = {}
    for key, value in form.items():
        if not value:
            continue
        if key.startswith("receiver."):
            data.setdefault("receiver", {})[key.removeprefix("receiver.")] = value
        else:
            data[key] = value
    if "expected_version" in data:
        # As the page wrote it: plain digits, few enough for a 64-bit integer.
        data["expected_version"] = form_integer(
            data["expected_version"], grouped=False, max_digits=VERSION_DIGITS
        )
    return data


def _event_errors(error: DomainError) -> dict[str, list[str]]:
    """A refusal in words a clerk acts on (the operations' messages are for API clients)."""
    if isinstance(error, TransitionNotAllowed):
        allowed = [status_name(s) for s in error.extra.get("allowed", [])]
        current = status_name(error.extra.get("current_status", ""))
        return {
            "form": [
                _(
                    "This change is not allowed now: the dossier is “%(current)s”. "
                    "Allowed now: %(allowed)s.",
                    current=current,
                    allowed=", ".join(allowed) or _("none"),
                )
            ]
        }
    if isinstance(error, StaleVersion):
        message = _(
            "Someone else changed this dossier after you opened it. It is shown as it is now: "
            "check it, then record again."
        )
        return {"form": [message]}
    if isinstance(error, Forbidden):
        return {"form": [_("An agency officer cannot record this status.")]}
    return form_errors(error)


def _dossier_page(code: str, *, form: dict[str, str], errors: dict, status: int):
    user = actor()
    dossier = queries.get_dossier(code, user)
    events = queries.list_events(dossier)
    names = queries.actor_names({e.actor_id for e in events if e.actor_id is not None})
    record_audit(user.id, "dossier.view", "dossier", dossier.code)
    page = render_template(
        "dossiers/dossier.html",
        dossier=dossier,
        events=events,
        names=names,
        choices=_allowed_for(user, dossier),
        can_reissue=user.role in INTAKE_ROLES,
        form=form,
        errors=errors,
        proof_words=_proof_words(),
    )
    return page, status


def _by_agency(rows: list) -> list[tuple[Any, list]]:
    """Rows (ordered by agency) as (agency, its rows): one trip to each agency's desk."""
    groups: list[tuple[Any, list]] = []
    for row in rows:
        if not groups or groups[-1][0].id != row.agency_id:
            groups.append((row.agency, []))
        groups[-1][1].append(row)
    return groups


def _failure_reasons(rows: list) -> dict[str, str]:
    """Each failed delivery's coded reason in the reader's language, by dossier code."""
    reasons = queries.failure_reasons([row.id for row in rows])
    labels = _proof_words()["reasons"]
    return {row.code: labels.get(reasons.get(row.id) or "", "") for row in rows}


def _proof_words() -> dict[str, dict[str, str]]:
    """The proof of delivery's coded lists in the reader's language, by code."""
    locale = str(get_locale())
    return {
        "relations": words(RECEIVER_RELATIONS, locale),
        "reasons": words(FAILURE_REASONS, locale),
    }


def _allowed_for(user, dossier) -> list[str]:
    """The statuses this user may record now: the transition table, then the role's rule."""
    if user.role not in WRITERS:
        return []
    allowed = allowed_next(dossier.service_form, dossier.status)
    if user.role == "agency":
        allowed = [s for s in allowed if s in operations.AGENCY_STATUSES]
    return allowed


# Batch scan ------------------------------------------------------------------------------------


@page_roles(*QUEUE_ROLES)
def batch_scan():
    """One event for many scanned codes or item numbers, each recorded on its own."""
    user = actor()
    if request.method == "GET":
        form = {key: "" for key in _SCAN_FIELDS} | {"batch": _new_batch_id()}
        if request.args.get("mode") == COLLECT_MODE and COLLECT_EVENT in SCAN_EVENTS[user.role]:
            # A collection run: the envelopes fetched from the agency's desk, one after another.
            form.update(mode=COLLECT_MODE, status=COLLECT_EVENT)
        return _scan_page(user, form, {})
    form = {key: request.form.get(key, "") for key in _SCAN_FIELDS}
    if form["mode"] != COLLECT_MODE:
        form["mode"] = ""
    for key in ("note", *_PROOF_FIELDS):
        form[key] = form[key].strip()
    if not _BATCH_ID.fullmatch(form["batch"]):
        form["batch"] = _new_batch_id()
    lines = [line.strip() for line in form["codes"].splitlines() if line.strip()]
    errors = _scan_form_errors(form, lines, SCAN_EVENTS[user.role])
    if not errors:
        try:
            results = _record_batch(lines, form, user)
        except (ValidationError, ValidationFailed) as exc:
            # A problem of the shared fields (e.g. no reason for a failed delivery): nothing kept.
            discard()
            errors = form_errors(exc)
    if errors:
        return _scan_page(user, form, errors, status=422)
    # A receiver's name belongs to one hand-over: the next batch starts without it.
    done = {**form, "codes": "", "batch": _new_batch_id()} | dict.fromkeys(_PROOF_FIELDS, "")
    counts = _count_outcomes(results)
    papers = _announce_batch(user, form, results)
    return _scan_page(
        user,
        done,
        {},
        results=results,
        scanned_status=form["status"],
        counts=counts,
        papers=papers,
    )


def _announce_batch(user, form: dict[str, str], results: list[dict[str, Any]]) -> list[dict]:
    """Tell who listens what the batch recorded (hand-over records are made so); returns the
    papers they made for it, for the page to link."""
    dossiers = [r.pop("dossier") for r in results if r.get("dossier") is not None]
    if not dossiers:
        return []
    answers = signals.batch_scanned.send(
        user, status=form["status"], dossiers=dossiers, batch_id=form["batch"]
    )
    return [paper for _receiver, made in answers for paper in (made or [])]


def _scan_page(user, form: dict[str, str], errors: dict, *, status: int = 200, **results):
    options = [(code, status_name(code)) for code in SCAN_EVENTS[user.role]]
    page = render_template(
        "dossiers/scan.html",
        choices_options=options,
        scans=SCAN_EVENTS[user.role],
        proof_words=_proof_words(),
        max_batch=MAX_BATCH,
        form=form,
        errors=errors,
        **results,
    )
    return page, status


_SCAN_FIELDS = ("status", "note", *_PROOF_FIELDS, "codes", "batch", "mode")
# The scan as a collection run of results from the agency (the queue's "results ready at the
# agency"): the event is fixed, the page says what it does.
COLLECT_MODE = "collect"
COLLECT_EVENT = "result_collected"


def _new_batch_id() -> str:
    return secrets.token_hex(16)


def _scan_form_errors(form: dict[str, str], lines: list[str], choices: list[str]) -> dict:
    """The batch as a whole: an event this role scans, and between 1 and MAX_BATCH lines."""
    errors: dict[str, list[str]] = {}
    if form["status"] not in choices:
        errors["status"] = [_("Choose the event to record.")]
    if not lines:
        errors["codes"] = [_("Scan or type at least one dossier code or item number.")]
    elif len(lines) > MAX_BATCH:
        errors["codes"] = [
            _(
                "At most %(max)s codes in one batch; this list has %(count)s. "
                "Split it and send the parts one after the other.",
                max=MAX_BATCH,
                count=len(lines),
            )
        ]
    return errors


def _record_batch(lines: list[str], form: dict[str, str], user) -> list[dict[str, Any]]:
    """Each line on its own savepoint: one that is refused undoes nothing of the others.

    The batch's id and event are the events' source id, so sending the same form twice (a
    reload) records nothing twice: the second time each dossier answers "already recorded"."""
    data = EventCreateIn().load(
        _event_data({key: form[key] for key in ("status", "note", *_PROOF_FIELDS)})
    )
    # The batch's shared fields, checked once before any line (each line checks them again).
    check_proof(data["status"], data.get("receiver"), data.get("failure_reason"), data.get("note"))
    seen: set[str] = set()
    results = []
    for value in lines:
        result = _scan_one(value, data, form["batch"], user, seen)
        results.append({"value": value, **result})
    return results


def _scan_one(value: str, data: dict, batch_id: str, user, seen: set[str]) -> dict[str, Any]:
    code = queries.find_code(value, user)
    if code is None:
        return {"outcome": "not_found"}
    if code in seen:
        return {"outcome": "duplicate", "code": code}
    seen.add(code)
    try:
        with db.session.begin_nested():
            dossier = queries.get_dossier(code, user, for_update=True)
            outcome = operations.record_event(
                dossier,
                data["status"],
                source=_source(user),
                actor=user,
                # The event is part of the id: the same batch sent again with another event
                # (the back button keeps the form's batch id) is new, not a repeat.
                source_event_id=f"scan-{batch_id}-{data['status']}",
                note=data.get("note"),
                office_id=user.office_id,
                receiver=data.get("receiver"),
                failure_reason=data.get("failure_reason"),
            )
    except NotFound:
        return {"outcome": "not_found"}
    except TransitionNotAllowed as exc:
        return {
            "outcome": "not_allowed",
            "code": code,
            "current": exc.extra.get("current_status"),
            "allowed": exc.extra.get("allowed", []),
        }
    except Forbidden:
        return {"outcome": "refused", "code": code}
    except ValidationFailed as exc:
        if set(exc.fields) <= {"note", "status", "receiver", *_PROOF_FIELDS}:
            raise  # the shared fields: the whole batch comes back to be corrected
        reason = next(iter(exc.fields.values()), [exc.message])[0]
        return {"outcome": "invalid", "code": code, "reason": reason}
    return {
        "outcome": "already" if outcome.duplicate else "recorded",
        "code": code,
        "current": dossier.status,
        # For the batch's listeners (`_announce_batch` takes it out before the page is shown).
        "dossier": dossier,
    }


def _count_outcomes(results: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
    return counts
