"""The citizen's lookup page (no login), opened by the receipt's QR code.

The page is GET /api/v1/track with a face: the same argument schema (`TrackArgs`), the same
lookup (`find_dossier`), the same rate-limit counters (`shared_track_limit`) and item budgets
(`tracking.budget`), so that alternating the page and the API gives a guesser no extra tries.
Like the QR code, a lookup puts the secret in the URL: a read is a GET (bookmarkable, no CSRF
token needed); `Referrer-Policy: no-referrer` keeps the URL from leaking to other sites and
`Cache-Control: no-store` out of caches.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import get_locale
from marshmallow import ValidationError

from tracker.dossiers.delivery import DELIVERED_TO, FAILURE_REASONS
from tracker.i18n import N_, translations_for
from tracker.pages import form_errors
from tracker.tracking.api import NOT_FOUND_MESSAGE, find_dossier, shared_track_limit
from tracker.tracking.budget import ItemLookupsPaused
from tracker.tracking.schemas import TrackArgs

bp = Blueprint("tracking_pages", __name__, template_folder="templates")

BY_CODE = ("code", "secret")
BY_ITEM = ("item", "phone_last4")
LOOKUP_FIELDS = BY_CODE + BY_ITEM

# The on-time state (tracker.dossiers.timeliness) in a citizen's words, and its badge colour.
TIMELINESS = {
    "early": (N_("Result handed over before the appointment date"), "ok"),
    "on_time": (N_("Result handed over on the appointment date"), "ok"),
    "on_track": (N_("On schedule"), "ok"),
    "paused": (N_("Paused while additional documents are awaited"), "warn"),
    "overdue": (N_("Overdue: past the appointment date"), "bad"),
    "late": (N_("Later than the appointment date"), "bad"),
    "unknown": (N_("No appointment date yet"), "warn"),
}

# The answer's fixed words. The answer is the hot path (bench.lookup_page holds it to half the
# API's throughput) and a template's `_()` costs ~10 us: these are translated once per language.
ANSWER_WORDS = {
    "title": N_("Track a dossier"),
    "dossier": N_("Dossier"),
    "status": N_("Status"),
    "appointment": N_("Appointment date"),
    "not_set": N_("Not set yet"),
    "moved_to": N_("Moved to"),
    "moved_why": N_("after additional documents were requested"),
    "applicant": N_("Applicant"),
    "procedure": N_("Procedure"),
    "service": N_("Service"),
    "received": N_("Received"),
    "history": N_("History"),
    "again": N_("Look up another dossier"),
    **{state: text for state, (text, _badge) in TIMELINESS.items()},
}

_ARGS = TrackArgs()


@cache
def answer_words(locale: str) -> dict[str, str]:
    """ANSWER_WORDS in `locale` (the catalogues are read once, at start-up)."""
    translations = translations_for(locale)
    return {key: translations.ugettext(text) for key, text in ANSWER_WORDS.items()}


def nothing_asked() -> bool:
    """The bare form (the start page): it tells nothing, so it costs no try."""
    return not any(name in request.args for name in LOOKUP_FIELDS)


@bp.get("/")
@bp.get("/track")
@shared_track_limit(exempt_when=nothing_asked)
def lookup():
    """The lookup forms; with `code` and `secret` (the QR code) or `item` and `phone_last4` in
    the query, the answer instead. A wrong secret answers exactly as an unknown code."""
    asked = {name: request.args[name] for name in LOOKUP_FIELDS if name in request.args}
    if not asked:
        return render_template("tracking/lookup.html", way="code", asked={}, errors={})
    way = "item" if any(name in asked for name in BY_ITEM) else "code"
    try:
        args = _ARGS.load(asked)
    except ValidationError as error:
        page = render_template(
            "tracking/lookup.html", way=way, asked=asked, errors=_page_errors(error, asked)
        )
        return page, 422
    try:
        found = find_dossier(args)
    except ItemLookupsPaused as paused:
        # The lookup forms under the reason, the code form first: it still answers.
        page = render_template(
            "tracking/lookup.html",
            way="code",
            asked={},
            errors={},
            paused=paused.message,
            here=_path_only,
        )
        return page, paused.status, paused.headers
    if found is None:
        # Byte for byte the same page for every miss: what was typed comes back nowhere, not
        # even in the language switch's link back (base.html's `here()`).
        page = render_template(
            "tracking/lookup.html",
            way=way,
            asked={},
            errors={},
            not_found=NOT_FOUND_MESSAGE,
            here=_path_only,
        )
        return page, 404
    locale = str(get_locale())
    return render_template(
        "tracking/lookup.html", dossier=_for_page(found, locale), words=answer_words(locale)
    )


def _page_errors(error: ValidationError, asked: dict[str, str]) -> dict[str, list[str]]:
    """TrackArgs' messages by field; a field left blank is "required" (for the schema it is
    a string too short), and a rule across fields goes to the top of the form."""
    errors = form_errors(error)
    if "_schema" in errors:
        errors["form"] = errors.pop("_schema")
    for name, value in asked.items():
        if name in errors and not value.strip():
            errors[name] = ["required"]
    return errors


def _path_only() -> str:
    return request.path


def _for_page(found: dict[str, Any], locale: str) -> dict[str, Any]:
    """The query's JSON-shaped view with real dates and times, for the Babel date filters, and
    each step's proof of delivery in the reader's language (`detail`)."""
    timeline = [
        {
            **entry,
            "at": datetime.fromisoformat(entry["at"]),
            "detail": _detail(entry, locale),
        }
        for entry in found["timeline"]
    ]
    last = timeline[-1] if timeline else None
    current = last is not None and last["status"]["code"] == found["status"]["code"]
    return {
        **found,
        "received_at": datetime.fromisoformat(found["received_at"]),
        "appointment_date": _day(found["appointment_date"]),
        "due_date": _day(found["due_date"]),
        "badge": TIMELINESS.get(found["timeliness"], (None, None))[1],
        "timeline": timeline,
        "status_detail": last["detail"] if current else None,
    }


def _detail(entry: dict[str, Any], locale: str) -> str | None:
    """A step's proof of delivery in the reader's language: to whom, or why it failed."""
    for key, table in (("delivered_to", DELIVERED_TO), ("failure_reason", FAILURE_REASONS)):
        if entry[key] is not None:
            return table[entry[key]["code"]].in_language(locale)
    return None


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)
