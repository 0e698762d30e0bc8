"""Staff pages: sign in and out, the language switch; the admin's user pages.

A staff session is kept on the server (`tracker/accounts/sessions.py`): the cookie (HttpOnly,
SameSite=Lax, Secure in production) carries only its random id. Sign-in attempts are counted
per (user name, address), per address and per user name from strange addresses
(`tracker/accounts/throttle.py`).
"""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from marshmallow import ValidationError, fields, validate

from tracker.accounts import operations, queries, sessions, throttle
from tracker.accounts.auth import actor
from tracker.accounts.models import ROLES, SCOPES, User
from tracker.accounts.operations import SignIn, authenticate
from tracker.audit.operations import record_audit
from tracker.catalogue import queries as catalogue
from tracker.errors import DomainError, error_page
from tracker.i18n import LANGUAGE_COOKIE, N_
from tracker.pages import form_errors, home_url, page_roles, safe_next
from tracker.schemas import LoadSchema
from tracker.unit_of_work import discard

bp = Blueprint("account_pages", __name__, template_folder="templates")

STAFF_ROLES = ("clerk", "postman", "hotline", "agency", "manager", "admin")


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.values.get("next"))
    # The sign-in page is for anonymous visitors too: `actor()` would refuse them.
    if current_user.is_authenticated and request.method == "GET":
        return redirect(next_url or home_url(actor()))
    if request.method == "GET":
        return render_template("accounts/login.html", next_url=next_url, username="")
    username = request.form.get("username", "").strip()
    # A refused or failed sign-in answers an error page, not an exception: the request's unit
    # of work commits its audit entry all the same.
    attempt = throttle.count_attempt(username)
    if attempt.refused:
        if attempt.first_refusal:
            _audit_sign_in("user.sign_in_throttled", username, None)
        page, status = error_page(429)
        return page, status, {"Retry-After": str(attempt.retry_after)}
    outcome = authenticate(username, request.form.get("password", ""))
    if outcome.user is None:
        _audit_sign_in("user.sign_in_failed", username, outcome)
        error = _("The user name or password is wrong, or the account is disabled.")
        page = render_template(
            "accounts/login.html", next_url=next_url, username=username, error=error
        )
        return page, 401
    throttle.refund(attempt)
    user = outcome.user
    # A new session on sign-in: nothing from before it (a planted cookie) carries over, and a
    # session this browser still had ends.
    previous = sessions.live_session(session.get(sessions.SID_KEY, ""))
    if previous is not None:
        sessions.end_session(previous, "signed_in_again")
    session.clear()
    token, _row = sessions.start_session(user)
    session[sessions.SID_KEY] = token
    session.permanent = True
    record_audit(user.id, "user.sign_in", "user", user.username)
    return redirect(next_url or home_url(user))


def _audit_sign_in(action: str, typed: str, outcome: SignIn | None) -> None:
    """A refused sign-in, for the admins. A name nobody has is not written down: it may be a
    password typed in the wrong box."""
    known = outcome.known if outcome else None
    if outcome is None:
        known = queries.find_user_by_name(typed)
    after = {"reason": outcome.reason} if outcome else None
    record_audit(
        known.id if known else None, action, "user", known.username if known else "?", after=after
    )


@bp.post("/logout")
@page_roles(*STAFF_ROLES)
def logout():
    user = actor()
    row = sessions.live_session(session.get(sessions.SID_KEY, ""))
    if row is not None:
        sessions.end_session(row, "signed_out")
    record_audit(user.id, "user.sign_out", "user", user.username)
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("account_pages.login"))


@bp.get("/lang/<code>")
def language(code: str):
    """The language switch: a cookie for a year, then back to the page it was used on."""
    target = safe_next(request.args.get("next")) or "/"
    response = redirect(target)
    if code in current_app.config["LANGUAGES"]:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=365 * 24 * 3600,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
    return response


# Admin: users ----------------------------------------------------------------------------------

# Who may do what is the role's business; these are the names people read.
ROLE_NAMES = {
    "clerk": N_("Post office clerk"),
    "postman": N_("Postman"),
    "hotline": N_("Hotline 1022 operator"),
    "agency": N_("Agency officer"),
    "manager": N_("Manager"),
    "admin": N_("Administrator"),
    "integration": N_("Integration account"),
}
SCOPE_NAMES = {
    "feed:postal": N_("Postal feed"),
    "feed:agency": N_("Agency feed"),
    "orders:agency": N_("Collection orders"),
    "read:agency": N_("Agency's status changes (read)"),
}
EVENT_NAMES = {
    "user.sign_in_failed": N_("Refused sign-in"),
    "user.sign_in_throttled": N_("Sign-ins slowed down"),
    "token.new_address": N_("Token used from a new address"),
    "user.credentials_ended": N_("Sessions ended and tokens revoked"),
    "session.end": N_("Session ended by an admin"),
}
USERS_PER_PAGE = 50


class EditUserForm(LoadSchema):
    """A user's name, role and place; `create_user` and `update_user` check role, office and
    agency."""

    full_name = fields.String(load_default="", validate=validate.Length(max=200))
    role = fields.String(required=True, validate=validate.OneOf(ROLES, error=N_("Choose a role")))
    office = fields.String(load_default="", validate=validate.Length(max=40))
    agency = fields.String(load_default="", validate=validate.Length(max=40))


class NewUserForm(EditUserForm):
    """The new-user form; the rules of a password are `create_user`'s."""

    username = fields.String(required=True)
    password = fields.String(load_default="")
    password_confirm = fields.String(load_default="")
    generate = fields.Boolean(load_default=False)


class TokenForm(LoadSchema):
    """The new-token form's name (scopes are `issue_token`'s to check)."""

    name = fields.String(
        load_default="", validate=validate.Length(max=120, error=N_("At most 120 characters"))
    )


def _form_data() -> dict[str, str]:
    return {name: value for name, value in request.form.items() if name != "csrf_token"}


def _user_or_404(user_id: int) -> User:
    user = queries.find_user(user_id)
    if user is None:
        abort(404)
    return user


def _chosen_password(typed: dict[str, str], generate: bool) -> str:
    """The password typed twice (as typed: spaces count), or a generated one when asked for
    (the caller shows it once)."""
    if generate:
        return secrets.token_urlsafe(12)
    if typed.get("password", "") != typed.get("password_confirm", ""):
        raise ValidationError({"password_confirm": [N_("The two passwords differ")]})
    return typed.get("password", "")


@bp.get("/admin/users")
@page_roles("admin")
def users():
    """Every user with role, office or agency, state, live tokens and security alerts; a
    search by name."""
    query = request.args.get("q", "").strip()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows = queries.list_users(query)
    start = (page - 1) * USERS_PER_PAGE
    return render_template(
        "accounts/users.html",
        rows=rows[start : start + USERS_PER_PAGE],
        total=len(rows),
        page=page,
        more=len(rows) > start + USERS_PER_PAGE,
        q=query,
        tokens=queries.live_token_counts(),
        alerts=queries.alert_counts(),
        alert_days=queries.ALERT_DAYS,
        role_names=ROLE_NAMES,
    )


@bp.route("/admin/users/new", methods=["GET", "POST"])
@page_roles("admin")
def new_user():
    """Create a user; a generated first password is shown once, on the answer to the POST."""
    if request.method == "GET":
        return _new_user_form({"role": "clerk"}, {})
    typed = _form_data()
    try:
        form = NewUserForm().load(typed)
        password = _chosen_password(typed, form["generate"])
        user = operations.create_user(
            form["username"],
            form["role"],
            password,
            full_name=form["full_name"],
            office_code=form["office"] or None,
            agency_code=form["agency"] or None,
            actor=actor(),
        )
    except (ValidationError, DomainError) as exc:
        discard()
        return _new_user_form(typed, form_errors(exc), 422)
    if form["generate"] and user.role != "integration":  # an integration has no password
        return _secret_page(user, "password", password)
    flash(_("User %(name)s created.", name=user.username), "success")
    return redirect(url_for("account_pages.user", user_id=user.id))


def _new_user_form(values: dict, errors: dict, status: int = 200):
    page = render_template(
        "accounts/users_new.html",
        values=values,
        errors=errors,
        offices=catalogue.list_offices({}),
        agencies=catalogue.list_agencies(),
        role_names=ROLE_NAMES,
    )
    return page, status


@bp.get("/admin/users/<int:user_id>")
@page_roles("admin")
def user(user_id: int):
    """One user: state, tokens, and the forms to disable, reset the password, issue a token."""
    return _user_page(_user_or_404(user_id), {}, {})


def _user_page(user: User, values: dict, errors: dict, status: int = 200):
    # An integration account belongs to no office (to an agency at most): none is offered.
    offices = catalogue.list_offices({}) if user.role != "integration" else []
    page = render_template(
        "accounts/users_detail.html",
        user=user,
        tokens=queries.tokens_of(user),
        open_sessions=queries.open_sessions(user),
        events=queries.security_events(user),
        current_session=sessions.current_session_id(),
        values={**_placement_values(user), **values},
        errors=errors,
        offices=offices,
        agencies=catalogue.list_agencies(),
        role_names=ROLE_NAMES,
        scope_names=SCOPE_NAMES,
        event_names=EVENT_NAMES,
        scopes=SCOPES,
    )
    return page, status


def _placement_values(user: User) -> dict[str, str]:
    return {
        "full_name": user.full_name,
        "role": user.role,
        "office": user.office.code if user.office else "",
        "agency": user.agency.code if user.agency else "",
    }


@bp.post("/admin/users/<int:user_id>/edit")
@page_roles("admin")
def edit_user(user_id: int):
    """Name, role, office or agency; a new role or place ends the user's sessions and tokens."""
    user = _user_or_404(user_id)
    typed = _form_data()
    try:
        form = EditUserForm().load(typed)
        operations.update_user(
            user,
            role=form["role"],
            full_name=form["full_name"],
            office_code=form["office"] or None,
            agency_code=form["agency"] or None,
            actor=actor(),
        )
    except (ValidationError, DomainError) as exc:
        discard()
        return _user_page(_user_or_404(user_id), typed, form_errors(exc), 422)
    flash(_("%(name)s is saved.", name=user.username), "success")
    return redirect(url_for("account_pages.user", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/sessions/end")
@page_roles("admin")
def end_sessions(user_id: int):
    """End one session of the user (`session` in the form) or all of them."""
    user = _user_or_404(user_id)
    only = None
    if request.form.get("session"):
        only = queries.find_session(request.form.get("session", type=int) or 0)
        if only is None or only.user_id != user.id:
            abort(404)
    ended = operations.end_sessions_of(user, actor=actor(), only=only)
    flash(_("Sessions ended: %(count)s.", count=ended), "success")
    if only is not None and only.id == sessions.current_session_id():
        return redirect(url_for("account_pages.login"))
    return redirect(url_for("account_pages.user", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/active")
@page_roles("admin")
def set_active(user_id: int):
    """Disable or enable; a disabled user's session ends at their next request."""
    user = _user_or_404(user_id)
    active = request.form.get("active") == "1"
    try:
        operations.set_user_active(user, active, actor=actor())
    except DomainError as exc:
        discard()
        return _user_page(user, {}, form_errors(exc), 422)
    message = _("%(name)s can sign in again.") if active else _("%(name)s is disabled.")
    flash(message % {"name": user.username}, "success")
    return redirect(url_for("account_pages.user", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/password")
@page_roles("admin")
def reset_password(user_id: int):
    """A new password (typed twice, or generated and shown once); old sessions end."""
    user = _user_or_404(user_id)
    typed = _form_data()
    generate = bool(typed.get("generate"))
    try:
        password = _chosen_password(typed, generate)
        # Changing one's own password keeps the session it is done in (the others end).
        own = sessions.current_session_id() if user.id == actor().id else None
        operations.reset_password(user, password, actor=actor(), keep_session=own)
    except (ValidationError, DomainError) as exc:
        discard()
        return _user_page(user, typed, form_errors(exc), 422)
    if generate:
        return _secret_page(user, "password", password)
    flash(_("The password of %(name)s is changed.", name=user.username), "success")
    return redirect(url_for("account_pages.user", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/tokens")
@page_roles("admin")
def issue_token(user_id: int):
    """A bearer token, shown once on this answer: never stored, flashed or put in the cookie."""
    user = _user_or_404(user_id)
    typed = _form_data()
    try:
        name = TokenForm().load({"name": request.form.get("name", "")})["name"]
        token = operations.issue_token(
            user, name=name, scopes=request.form.getlist("scopes"), actor=actor()
        )
    except (ValidationError, DomainError) as exc:
        discard()
        return _user_page(user, typed, form_errors(exc), 422)
    return _secret_page(user, "token", token)


@bp.post("/admin/users/<int:user_id>/tokens/<int:token_id>/revoke")
@page_roles("admin")
def revoke_token(user_id: int, token_id: int):
    token = queries.find_token(token_id)
    if token is None or token.user_id != user_id:
        abort(404)
    operations.revoke_token(token, actor=actor())
    flash(_("Token “%(name)s” revoked.", name=token.name or token.id), "success")
    return redirect(url_for("account_pages.user", user_id=user_id))


def _secret_page(user: User, kind: str, secret: str):
    return render_template("accounts/users_secret.html", user=user, kind=kind, secret=secret)
