"""Staff sessions kept on the server: they end at sign-out, at their absolute and idle limits,
and with the user's credentials; admins see and end them; a bearer token never opens a page."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.pages import post_form, sign_in, text_of
from tracker.accounts.models import ApiToken, StaffSession, User
from tracker.accounts.operations import (
    create_user,
    issue_token,
    reset_password,
    set_user_active,
    update_user,
)
from tracker.audit.models import AuditEntry
from tracker.calendar import utcnow
from tracker.errors import ValidationFailed
from tracker.extensions import db


def signed_in(app, username: str, address: str = "127.0.0.1"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    assert sign_in(client, username).status_code == 302
    return client


def copy_of(app, client):
    """Another browser holding a copy of `client`'s cookies (a stolen cookie)."""
    thief = app.test_client()
    for cookie in client._cookies.values():
        thief.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    return thief


def sessions_of(user: User) -> list[StaffSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(StaffSession).where(StaffSession.user_id == user.id)))


def test_a_copied_cookie_is_dead_after_sign_out(app, make_staff):
    admin = make_staff("admin")
    client = signed_in(app, admin.user.username)
    thief = copy_of(app, client)
    assert thief.get("/admin/users").status_code == 200  # the copy works while the session lives

    assert post_form(client, "/logout", {}, page="/admin/users").status_code == 302

    answer = thief.get("/admin/users")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    [row] = sessions_of(admin.user)
    assert row.ended_at is not None and row.end_reason == "signed_out"
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "user.sign_out" in actions


def test_the_cookie_carries_only_a_random_id(app, make_staff):
    clerk = make_staff("clerk")
    client = signed_in(app, clerk.user.username)
    [row] = sessions_of(clerk.user)
    cookie = client.get_cookie("session").value
    content = app.session_interface.get_signing_serializer(app).loads(cookie)
    # No user id in the cookie: only the session's random id, whose hash is the table's key.
    assert "_user_id" not in content
    assert hashlib.sha256(content["sid"].encode()).hexdigest() == row.token_hash
    assert len(content["sid"]) >= 40


def test_the_absolute_limit_counts_from_sign_in_and_requests_do_not_extend_it(app, make_staff):
    clerk = make_staff("clerk")
    client = signed_in(app, clerk.user.username)
    [row] = sessions_of(clerk.user)
    assert row.expires_at - row.started_at == timedelta(hours=app.config["SESSION_HOURS"])
    # Used a minute later: the last request moves, the end does not.
    row.started_at -= timedelta(minutes=2)
    row.last_seen_at -= timedelta(minutes=2)
    row.expires_at -= timedelta(minutes=2)
    db.session.commit()
    expires = row.expires_at
    assert client.get("/dossiers").status_code == 200
    [row] = sessions_of(clerk.user)
    assert row.expires_at == expires
    assert utcnow() - row.last_seen_at < timedelta(seconds=30)

    row.expires_at = utcnow() - timedelta(seconds=1)
    row.last_seen_at = utcnow()
    db.session.commit()
    assert client.get("/dossiers").status_code == 302


def test_an_idle_session_ends(app, make_staff):
    clerk = make_staff("clerk")
    client = signed_in(app, clerk.user.username)
    [row] = sessions_of(clerk.user)
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    row.last_seen_at = utcnow() - idle + timedelta(minutes=1)
    db.session.commit()
    assert client.get("/dossiers").status_code == 200  # 29 minutes idle: still there
    [row] = sessions_of(clerk.user)
    row.last_seen_at = utcnow() - idle - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/dossiers").status_code == 302


def test_a_page_that_only_reads_still_records_the_last_request(app, make_staff):
    """The idle limit needs the last request even on pages that commit nothing."""
    manager = make_staff("manager")
    client = signed_in(app, manager.user.username)
    [row] = sessions_of(manager.user)
    row.last_seen_at = utcnow() - timedelta(minutes=20)
    db.session.commit()
    assert client.get("/manager/settings").status_code == 200
    [row] = sessions_of(manager.user)
    assert utcnow() - row.last_seen_at < timedelta(seconds=30)


@pytest.mark.parametrize("change", ["password", "disable", "role", "office"])
def test_a_change_of_credentials_ends_every_session_and_revokes_every_token(
    app, catalogue, make_staff, change
):
    clerk = make_staff("clerk")
    second_token = issue_token(clerk.user, name="script")
    db.session.commit()
    first = signed_in(app, clerk.user.username, "10.1.1.1")
    second = signed_in(app, clerk.user.username, "10.1.1.2")
    user = db.session.get(User, clerk.user.id)
    if change == "password":
        reset_password(user, "a brand new password")
    elif change == "disable":
        set_user_active(user, False)
    elif change == "role":
        update_user(user, role="manager", full_name="")
    else:
        update_user(user, role="clerk", full_name="", office_code=catalogue.other_office.code)
    db.session.commit()

    for client in (first, second):
        assert client.get("/dossiers").status_code == 302
    for token in (clerk.token, second_token):
        headers = {"Authorization": f"Bearer {token}"}
        assert first.get("/api/v1/dossiers", headers=headers).status_code == 401
    assert all(row.ended_at is not None for row in sessions_of(clerk.user))
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "user.credentials_ended")
    ).one()
    assert entry.after["sessions"] == 2 and entry.after["tokens"] == 2


def test_a_name_change_alone_keeps_sessions_and_tokens(app, make_staff):
    clerk = make_staff("clerk")
    client = signed_in(app, clerk.user.username)
    user = db.session.get(User, clerk.user.id)
    update_user(user, role="clerk", full_name="Trần Thị Bích", office_code=user.office.code)
    db.session.commit()
    assert client.get("/dossiers").status_code == 200
    assert client.get("/api/v1/dossiers", headers=clerk.headers).status_code == 200


def test_changing_ones_own_password_keeps_that_session_only(app, make_staff):
    admin = make_staff("admin")
    here = signed_in(app, admin.user.username, "10.2.2.1")
    elsewhere = signed_in(app, admin.user.username, "10.2.2.2")
    answer = post_form(
        here,
        f"/admin/users/{admin.user.id}/password",
        {"password": "my own new password", "password_confirm": "my own new password"},
        page=f"/admin/users/{admin.user.id}",
    )
    assert answer.status_code == 302
    assert here.get("/admin/users").status_code == 200
    assert elsewhere.get("/admin/users").status_code == 302


def test_admins_see_open_sessions_and_end_them(app, make_staff):
    admin = make_staff("admin")
    clerk = make_staff("clerk")
    at_counter = signed_in(app, clerk.user.username, "10.3.3.1")
    at_home = signed_in(app, clerk.user.username, "10.3.3.2")
    console = signed_in(app, admin.user.username)

    page = console.get(f"/admin/users/{clerk.user.id}")
    assert page.status_code == 200
    text = text_of(page)
    assert "10.3.3.1" in text and "10.3.3.2" in text
    rows = {row.remote_addr: row for row in sessions_of(clerk.user)}

    one = post_form(
        console,
        f"/admin/users/{clerk.user.id}/sessions/end",
        {"session": str(rows["10.3.3.2"].id)},
        page=f"/admin/users/{clerk.user.id}",
    )
    assert one.status_code == 302
    assert at_home.get("/dossiers").status_code == 302
    assert at_counter.get("/dossiers").status_code == 200
    assert "10.3.3.2" not in text_of(console.get(f"/admin/users/{clerk.user.id}"))

    every = post_form(
        console,
        f"/admin/users/{clerk.user.id}/sessions/end",
        {},
        page=f"/admin/users/{clerk.user.id}",
    )
    assert every.status_code == 302
    assert at_counter.get("/dossiers").status_code == 302
    ended = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "session.end")).all()
    assert [entry.after["sessions"] for entry in ended] == [1, 1]


def test_another_users_session_id_is_404(app, make_staff):
    admin = make_staff("admin")
    clerk = make_staff("clerk")
    manager = make_staff("manager")
    signed_in(app, manager.user.username)
    console = signed_in(app, admin.user.username)
    [row] = sessions_of(manager.user)
    for number in (str(row.id), "99999999999999999999"):
        answer = post_form(
            console,
            f"/admin/users/{clerk.user.id}/sessions/end",
            {"session": number},
            page=f"/admin/users/{clerk.user.id}",
        )
        assert answer.status_code == 404
    assert sessions_of(manager.user)[0].ended_at is None


def test_the_admin_page_edits_role_and_office(app, catalogue, make_staff):
    admin = make_staff("admin")
    clerk = make_staff("clerk")
    at_counter = signed_in(app, clerk.user.username)
    console = signed_in(app, admin.user.username)
    url = f"/admin/users/{clerk.user.id}"
    bad = post_form(console, url + "/edit", {"role": "clerk", "office": "NOPE"}, page=url)
    assert bad.status_code == 422
    assert "office" in text_of(bad).lower() or "bưu cục" in text_of(bad).lower()
    good = post_form(
        console,
        url + "/edit",
        {"role": "clerk", "office": catalogue.other_office.code, "full_name": "Lê Văn C"},
        page=url,
    )
    assert good.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, clerk.user.id)
    assert user.office.code == catalogue.other_office.code and user.full_name == "Lê Văn C"
    assert at_counter.get("/dossiers").status_code == 302
    own = post_form(console, f"/admin/users/{admin.user.id}/edit", {"role": "clerk"}, page=url)
    assert own.status_code == 422


def test_a_bearer_token_never_opens_a_page(app, make_staff):
    admin = make_staff("admin")
    client = app.test_client()
    answer = client.get("/admin/users", headers=admin.headers)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert client.get("/api/v1/dossiers", headers=admin.headers).status_code == 200


def test_integration_accounts_have_no_password(app, catalogue, make_staff):
    account = create_user("agency_system", "integration", PASSWORD, agency_code="000.00.01.H19")
    db.session.commit()
    assert sign_in(app.test_client(), account.username, PASSWORD).status_code == 401
    with pytest.raises(ValidationFailed) as refused:
        reset_password(account, "another long password")
    assert refused.value.fields == {"password": ["integration accounts have no password"]}


def test_feed_scopes_follow_the_accounts_agency(app, catalogue):
    agency_system = create_user("agency_system", "integration", None, agency_code="000.00.01.H19")
    postal_system = create_user("postal_system", "integration", None)
    db.session.commit()
    with pytest.raises(ValidationFailed) as postal_for_agency:
        issue_token(agency_system, scopes=["feed:postal"])
    assert "scopes" in postal_for_agency.value.fields
    with pytest.raises(ValidationFailed) as agency_without_agency:
        issue_token(postal_system, scopes=["feed:agency"])
    assert "scopes" in agency_without_agency.value.fields
    assert issue_token(agency_system, scopes=["feed:agency"]).startswith("trk_")
    assert issue_token(postal_system, scopes=["feed:postal"]).startswith("trk_")


def test_a_token_used_from_a_new_address_is_shown_to_admins(app, make_staff):
    admin = make_staff("admin")
    clerk = make_staff("clerk")
    for address in ("10.4.4.1", "10.4.4.1", "10.9.9.9"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        assert client.get("/api/v1/dossiers", headers=clerk.headers).status_code == 200
    db.session.expire_all()
    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == clerk.user.id)).one()
    assert token.addresses == ["10.4.4.1", "10.9.9.9"] and token.last_used_at is not None
    [entry] = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "token.new_address")
    ).all()
    assert entry.after["address"] == "10.9.9.9" and entry.token_id == token.id

    console = signed_in(app, admin.user.username)
    text = text_of(console.get(f"/admin/users/{clerk.user.id}"))
    assert "10.9.9.9" in text and "Token được dùng từ địa chỉ mới" in text
    # The users list flags the account.
    listing = console.get("/admin/users").get_data(as_text=True)
    row = re.search(rf">{clerk.user.username}</a>.*?</tr>", listing, re.S).group(0)
    assert '<span class="badge badge-bad">1</span>' in row


def test_signing_in_again_in_the_same_browser_ends_the_previous_session(app, make_staff):
    clerk = make_staff("clerk")
    client = signed_in(app, clerk.user.username)
    thief = copy_of(app, client)
    data = {"username": clerk.user.username, "password": PASSWORD}
    assert post_form(client, "/login", data, page="/dossiers").status_code == 302
    assert thief.get("/dossiers").status_code == 302
    assert client.get("/dossiers").status_code == 200
    reasons = sorted((row.end_reason or "open") for row in sessions_of(clerk.user))
    assert reasons == ["open", "signed_in_again"]
