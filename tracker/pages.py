"""What every page shares: the staff session, CSRF, the role check, form errors and labels.

Pages are server-rendered (Jinja) and call the same operations as the API. Staff sign in with a
server-side session (`tracker/accounts/sessions.py`, loaded in `tracker/accounts/auth.py`); the
API keeps to bearer tokens, so a session cookie never authenticates an API call (and the API
needs no CSRF token) and a bearer token never opens a page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, after_this_request, redirect, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError

from tracker.accounts.models import User
from tracker.dossiers.lifecycle import SERVICE_FORM_LABELS, STATUSES
from tracker.errors import DomainError, Phrase, error_page, flatten_messages
from tracker.extensions import csrf
from tracker.i18n import N_, init_babel

F = TypeVar("F", bound=Callable)

API_PREFIX = "/api/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The first page of each role after signing in, and the links of its menu, by endpoint.
HOME_BY_ROLE = {
    "clerk": "dossier_pages.queue",
    "agency": "dossier_pages.queue",
    "manager": "report_pages.dashboard",
    "admin": "account_pages.users",
    # The day's pickups: the postman's own round, every office's for the hotline.
    "postman": "pickup_pages.index",
    "hotline": "pickup_pages.index",
}
MENU = (
    ("dossier_pages.queue", N_("Work queue"), ("clerk", "agency", "admin")),
    ("dossier_pages.intake", N_("New dossier"), ("clerk", "admin")),
    ("dossier_pages.batch_scan", N_("Batch scan"), ("clerk", "agency", "admin")),
    ("handover_pages.index", N_("Hand-over records"), ("clerk", "agency", "manager", "admin")),
    (
        "pickup_pages.index",
        N_("Pickups at home"),
        ("clerk", "postman", "hotline", "manager", "admin"),
    ),
    ("pickup_pages.new_call", N_("Record a call"), ("hotline", "admin")),
    ("report_pages.dashboard", N_("Growth dashboard"), ("manager", "admin")),
    ("report_pages.settings", N_("Baselines and targets"), ("manager", "admin")),
    ("report_pages.problems", N_("Overdue and anomalies"), ("manager", "admin")),
    ("report_pages.pickups", N_("Pickup figures"), ("manager", "admin")),
    ("account_pages.users", N_("Users"), ("admin",)),
    ("catalogue_pages.index", N_("Catalogue"), ("admin",)),
    ("status_out_pages.subscriptions", N_("Status subscriptions"), ("admin",)),
)
# Digits beyond this are no count anyone means (and Python's int() stops at 4,300).
MAX_DIGITS = 30
# ASCII digits only ("²" is a digit to str.isdigit(), not to int()), maybe grouped by thousands
# as typed by hand: "200.000" (vi), "200,000" (en) or "200 000".
_INTEGER = re.compile(r"(-?)([0-9]{1,3}(?:[.,\s][0-9]{3})+|[0-9]+)")
_SEPARATORS = re.compile(r"[.,\s]")


# How many sent forms of each kind the session remembers (the last answer or two is reloaded).
SENT_FORMS_KEPT = 10


def init_pages(app: Flask) -> None:
    init_babel(app)
    csrf.init_app(app)
    app.before_request(_check_csrf)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.jinja_env.globals.update(
        label=label,
        status_name=status_name,
        form_name=form_name,
        menu=menu,
        current_locale=lambda: str(get_locale()),
        here=here,
    )
    # `{{ text|message }}` translates a message that is data (a rule's error, which may repeat
    # what was typed): unlike `_()` in a template it is escaped and never %-formatted.
    app.jinja_env.filters["message"] = translate
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True


def _check_csrf() -> None:
    # API calls carry a bearer token, which a foreign site cannot make a browser send.
    if request.method in SAFE_METHODS or request.path.startswith(API_PREFIX):
        return
    csrf.protect()


def _csrf_refused(error: CSRFError):
    return error_page(400, "The form has expired or did not come from this site.")


def page_roles(*roles: str) -> Callable[[F], F]:
    """A page for signed-in staff of `roles`: others are sent to sign in, or answered 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                target = here() if request.method == "GET" else None
                return redirect(url_for("account_pages.login", next=target))
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def home_url(user: User) -> str:
    return url_for(HOME_BY_ROLE.get(user.role, "tracking_pages.lookup"))


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site (never another host: no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def form_errors(error: ValidationError | DomainError) -> dict[str, list[str]]:
    """Messages by field name ("applicant.name", "documents.0.count"), for `field_errors` in
    templates/macros.html; a rule's error without a field goes under "form"."""
    if isinstance(error, ValidationError):
        return flatten_messages(error.messages)
    if error.fields:
        return dict(error.fields)
    return {"form": [error.message]}


def sent_form(kind: str, form_id: str) -> str | None:
    """What the form `form_id` of `kind` made when it was sent before (a reload, a second
    click), remembered by `remember_sent_form`; None if it was not."""
    return session.get(kind, {}).get(form_id) if form_id else None


def remember_sent_form(kind: str, form_id: str, made: str, *, status: int) -> None:
    """Remember in the session that the form `form_id` of `kind` made `made` (a code, a
    reference), once the answer is `status`. The request's unit commits after the view returns;
    a commit that fails answers with an error page instead, and the session must not then lead a
    reload to what does not exist. The last SENT_FORMS_KEPT of each kind are kept."""
    if not form_id:
        return

    @after_this_request
    def remember(response):
        if response.status_code == status:
            sent = dict(list(session.get(kind, {}).items())[-(SENT_FORMS_KEPT - 1) :])
            sent[form_id] = made
            session[kind] = sent
        return response


def form_integer(
    text: str, *, negative: bool = False, grouped: bool = True, max_digits: int = MAX_DIGITS
) -> int | str:
    """An integer typed in a page form, for the API's load schema: ASCII digits, grouped by
    thousands unless `grouped` is false, with a minus sign only if `negative`, at most
    `max_digits` digits. Anything else is returned unchanged, for the schema to refuse beside
    the field with its own message."""
    match = _INTEGER.fullmatch(text)
    if match is None or (match[1] and not negative):
        return text
    digits = _SEPARATORS.sub("", match[2])
    if (digits != match[2] and not grouped) or len(digits) > max_digits:
        return text
    return int(match[1] + digits)


def translate(text: Any) -> str:
    """A message that is data in the page's language: a `Phrase` with its values put back."""
    if isinstance(text, Phrase):
        return _(text.template, **text.values)
    return _(str(text))


def label(row: Any) -> str:
    """The name of a catalogue row in the page's language: channels and sectors have one in
    each language, offices, agencies and procedures their official (Vietnamese) name only."""
    if row is None:
        return ""
    if not hasattr(row, "name_vi"):
        return row.name
    if str(get_locale()) == "en" and row.name_en:
        return row.name_en
    return row.name_vi


def status_name(code: str) -> str:
    status = STATUSES.get(code)
    if status is None:
        return code
    return status.label_en if str(get_locale()) == "en" else status.label_vi


def form_name(code: str) -> str:
    names = SERVICE_FORM_LABELS.get(code)
    if names is None:
        return code
    vietnamese, english = names
    return english if str(get_locale()) == "en" else vietnamese


def menu() -> list[tuple[str, str]]:
    """(url, label) of the signed-in user's menu."""
    if not current_user.is_authenticated:
        return []
    return [
        (url_for(endpoint), _(text)) for endpoint, text, roles in MENU if current_user.role in roles
    ]


def here() -> str:
    """This page's path and query, for a link that should come back to it."""
    return request.full_path.rstrip("?")
