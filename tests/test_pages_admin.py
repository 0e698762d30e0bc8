"""The admin's user pages: list, create, disable, reset a password, issue and revoke tokens."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tests.pages import csrf_of, post_form, sign_in, text_of
from tracker.accounts.models import ApiToken, User
from tracker.accounts.operations import verify_password
from tracker.audit.models import AuditEntry
from tracker.extensions import db

NEW_PASSWORD = "a brand new secret 42"


@pytest.fixture
def admin(make_staff, client):
    staff = make_staff("admin")
    assert sign_in(client, staff.user.username).status_code == 302
    return staff


def audited(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


def user_named(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def secret_on(response) -> str:
    match = re.search(r'<code id="secret">([^<]+)</code>', response.get_data(as_text=True))
    assert match, "the page shows no secret"
    return match.group(1)


# Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/admin/users", "/admin/users/new"])
def test_anonymous_users_are_sent_to_sign_in(app, client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/admin/users")


@pytest.mark.parametrize("role", ["clerk", "agency", "manager"])
def test_other_roles_get_403(app, client, make_staff, role):
    staff = make_staff(role)
    sign_in(client, staff.user.username)
    assert client.get("/admin/users").status_code == 403
    assert client.get(f"/admin/users/{staff.user.id}").status_code == 403
    token = csrf_of(client.get("/admin/users"))  # the 403 page's sign-out form has one
    answer = client.post(
        f"/admin/users/{staff.user.id}/password",
        data={"csrf_token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert answer.status_code == 403
    assert verify_password(user_named(staff.user.username), PASSWORD)


def test_the_list_shows_every_user_with_role_office_state_and_tokens(app, client, admin, clerk):
    text = text_of(client.get("/admin/users"))
    assert clerk.user.username in text and admin.user.username in text
    assert "Giao dịch viên bưu điện" in text  # the clerk's role, in Vietnamese
    assert "810000 · Bưu cục Biên Hòa" in text
    found = client.get(f"/admin/users?q={clerk.user.username}").get_data(as_text=True)
    rows = found[found.index("<tbody>") :]
    assert clerk.user.username in rows and admin.user.username not in rows
    client.set_cookie("lang", "en")
    english = text_of(client.get("/admin/users"))
    assert "Post office clerk" in english and "Live tokens" in english


def test_an_unknown_user_is_404(app, client, admin):
    assert client.get("/admin/users/999999").status_code == 404


# Creating -------------------------------------------------------------------------------------


def new_clerk(**overrides) -> dict:
    return {
        "username": "lan.nguyen",
        "full_name": "Nguyễn Thị Lan",
        "role": "clerk",
        "office": "811000",
        "agency": "",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
        **overrides,
    }


def test_an_admin_creates_a_clerk_who_can_sign_in(app, client, admin):
    response = post_form(client, "/admin/users/new", new_clerk())
    assert response.status_code == 302
    created = user_named("lan.nguyen")
    assert created.office.code == "811000" and created.full_name == "Nguyễn Thị Lan"
    assert response.headers["Location"] == f"/admin/users/{created.id}"
    page = text_of(client.get(response.headers["Location"]))
    assert "Đã tạo người dùng lan.nguyen." in page
    entry = audited("user.create")[-1]
    assert entry.actor_id == admin.user.id and entry.entity_key == "lan.nguyen"
    other = type(client)(app)
    assert sign_in(other, "lan.nguyen", NEW_PASSWORD).headers["Location"] == "/dossiers"


def test_a_generated_password_is_shown_once_and_works(app, client, admin):
    response = post_form(
        client, "/admin/users/new", new_clerk(password="", password_confirm="", generate="1")
    )
    assert response.status_code == 200
    password = secret_on(response)
    assert len(password) >= 10
    assert password not in (response.headers.get("Set-Cookie") or "")
    assert password not in client.get(f"/admin/users/{user_named('lan.nguyen').id}").text
    assert sign_in(type(client)(app), "lan.nguyen", password).status_code == 302


def test_an_agency_officer_and_an_integration_account(app, client, admin):
    officer = new_clerk(username="officer1", role="agency", office="", agency="000.00.02.H19")
    assert post_form(client, "/admin/users/new", officer).status_code == 302
    assert user_named("officer1").agency.code == "000.00.02.H19"
    feed = new_clerk(username="vnpost-feed", role="integration", office="", agency="")
    assert post_form(client, "/admin/users/new", feed).status_code == 302
    assert user_named("vnpost-feed").role == "integration"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"username": "has space"}, "username", "2 đến 80 chữ cái"),
        ({"office": "999999"}, "office", "mã bưu cục"),
        ({"role": "agency", "agency": "000.00.99.H19"}, "agency", "mã cơ quan"),
        ({"password": "short", "password_confirm": "short"}, "password", "ít nhất 10 ký tự"),
        ({"password_confirm": "something else"}, "password_confirm", "không khớp"),
        ({"role": "king"}, "role", "Hãy chọn vai trò"),
    ],
)
def test_form_errors_stand_beside_the_field_and_keep_what_was_typed(
    app, client, admin, overrides, field, message
):
    response = post_form(client, "/admin/users/new", new_clerk(**overrides))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = re.search(rf'<ul class="field-errors" id="{field}-error">(.*?)</ul>', html, re.S)
    assert errors and message in errors.group(1), html
    assert f'aria-describedby="{field}-error"' in html or f"{field}-hint {field}-error" in html
    assert 'value="Nguyễn Thị Lan"' in html  # what was typed comes back
    assert NEW_PASSWORD not in html  # but never a password
    assert user_named(overrides.get("username", "lan.nguyen")) is None
    assert audited("user.create") == [] or all(
        e.entity_key != "lan.nguyen" for e in audited("user.create")
    )


def test_a_taken_user_name_is_refused_beside_the_field(app, client, admin, clerk):
    response = post_form(client, "/admin/users/new", new_clerk(username=clerk.user.username))
    assert response.status_code == 422
    assert "đã có người dùng" in text_of(response)


def test_posting_without_a_csrf_token_is_refused(app, client, admin, clerk):
    assert client.post("/admin/users/new", data=new_clerk()).status_code == 400
    assert user_named("lan.nguyen") is None
    assert (
        client.post(f"/admin/users/{clerk.user.id}/active", data={"active": "0"}).status_code == 400
    )
    assert user_named(clerk.user.username).active


@pytest.mark.parametrize("action", ["password", "tokens", "revoke"])
def test_every_user_action_needs_a_csrf_token(app, client, admin, clerk, action):
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == clerk.user.id))
    url = {
        "password": f"/admin/users/{clerk.user.id}/password",
        "tokens": f"/admin/users/{clerk.user.id}/tokens",
        "revoke": f"/admin/users/{clerk.user.id}/tokens/{token.id}/revoke",
    }[action]
    data = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "name": "x"}
    assert client.post(url, data=data).status_code == 400
    db.session.expire_all()
    assert verify_password(user_named(clerk.user.username), PASSWORD)
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 2
    assert db.session.get(ApiToken, token.id).revoked_at is None


# Disabling ------------------------------------------------------------------------------------


def test_a_disabled_clerk_is_signed_out_at_the_next_request(app, client, admin, clerk):
    clerk_browser = type(client)(app)
    sign_in(clerk_browser, clerk.user.username)
    assert clerk_browser.get("/dossiers").status_code == 200
    url = f"/admin/users/{clerk.user.id}"
    response = post_form(client, f"{url}/active", {"active": "0"}, page=url)
    assert response.status_code == 302
    assert not user_named(clerk.user.username).active
    again = clerk_browser.get("/dossiers")
    assert again.status_code == 302 and again.headers["Location"].startswith("/login")
    assert client.get(url).status_code == 200
    assert client.get("/api/v1/dossiers", headers=clerk.headers).status_code == 401
    entry = audited("user.disable")[-1]
    assert entry.actor_id == admin.user.id and entry.after == {"active": False}
    assert post_form(client, f"{url}/active", {"active": "1"}, page=url).status_code == 302
    assert user_named(clerk.user.username).active
    assert audited("user.enable")


def test_an_admin_cannot_disable_themselves(app, client, admin):
    url = f"/admin/users/{admin.user.id}"
    assert "Khóa người dùng này" not in text_of(client.get(url))
    response = post_form(client, f"{url}/active", {"active": "0"}, page="/admin/users")
    assert response.status_code == 422
    assert "không thể tự khóa" in text_of(response)
    assert user_named(admin.user.username).active
    assert client.get("/admin/users").status_code == 200


# Passwords ------------------------------------------------------------------------------------


def test_a_password_reset_ends_the_users_sessions(app, client, admin, clerk):
    clerk_browser = type(client)(app)
    sign_in(clerk_browser, clerk.user.username)
    assert clerk_browser.get("/dossiers").status_code == 200
    url = f"/admin/users/{clerk.user.id}"
    data = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    response = post_form(client, f"{url}/password", data, page=url)
    assert response.status_code == 302
    assert clerk_browser.get("/dossiers").status_code == 302
    assert sign_in(clerk_browser, clerk.user.username).status_code == 401
    assert sign_in(clerk_browser, clerk.user.username, NEW_PASSWORD).status_code == 302
    entry = audited("user.password_reset")[-1]
    assert entry.actor_id == admin.user.id and entry.after is None  # never the password


def test_a_reset_with_two_different_passwords_changes_nothing(app, client, admin, clerk):
    url = f"/admin/users/{clerk.user.id}"
    data = {"password": NEW_PASSWORD, "password_confirm": "not the same one"}
    response = post_form(client, f"{url}/password", data, page=url)
    assert response.status_code == 422
    assert 'id="password_confirm-error"' in response.get_data(as_text=True)
    assert verify_password(user_named(clerk.user.username), PASSWORD)


def test_an_admin_resetting_their_own_password_stays_signed_in(app, client, admin):
    url = f"/admin/users/{admin.user.id}"
    response = post_form(client, f"{url}/password", {"generate": "1"}, page=url)
    assert response.status_code == 200
    assert verify_password(user_named(admin.user.username), secret_on(response))
    assert client.get("/admin/users").status_code == 200


# Tokens ---------------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_works_on_the_api(app, client, admin, clerk):
    url = f"/admin/users/{clerk.user.id}"
    response = post_form(client, f"{url}/tokens", {"name": "counter app"}, page=url)
    assert response.status_code == 200
    token = secret_on(response)
    assert token.startswith("trk_")
    assert token not in (response.headers.get("Set-Cookie") or "")
    assert response.headers["Cache-Control"] == "no-store"
    detail = client.get(url)
    assert token not in detail.get_data(as_text=True) and "counter app" in text_of(detail)
    api = client.get("/api/v1/dossiers", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    entry = audited("token.issue")[-1]
    assert entry.actor_id == admin.user.id and entry.after["name"] == "counter app"
    row = db.session.scalar(select(ApiToken).where(ApiToken.name == "counter app"))
    revoke = post_form(client, f"{url}/tokens/{row.id}/revoke", {}, page=url)
    assert revoke.status_code == 302
    api = client.get("/api/v1/dossiers", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401
    assert audited("token.revoke")[-1].actor_id == admin.user.id
    assert "Đã thu hồi" in text_of(client.get(url))


def test_integration_tokens_carry_scopes_and_staff_tokens_none(app, client, admin, make_staff):
    feed = make_staff("integration")
    url = f"/admin/users/{feed.user.id}"
    data = {"name": "postal feed", "scopes": ["feed:postal"]}
    response = post_form(client, f"{url}/tokens", data, page=url)
    assert response.status_code == 200
    row = db.session.scalar(select(ApiToken).where(ApiToken.name == "postal feed"))
    assert row.scopes == "feed:postal"
    bad = post_form(client, f"{url}/tokens", {"name": "x", "scopes": ["root"]}, page=url)
    assert bad.status_code == 422 and 'id="scopes-error"' in bad.get_data(as_text=True)
    assert 'value="x"' in bad.get_data(as_text=True)


def test_a_token_of_another_user_cannot_be_revoked_through_this_one(app, client, admin, clerk):
    other = db.session.scalar(select(ApiToken).where(ApiToken.user_id == clerk.user.id))
    url = f"/admin/users/{admin.user.id}"
    response = post_form(client, f"{url}/tokens/{other.id}/revoke", {}, page=url)
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(ApiToken, other.id).revoked_at is None


# The same operations from the command line -------------------------------------------------------


def test_the_cli_disables_enables_and_resets_a_password(app, clerk):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["user", "disable", clerk.user.username]).exit_code == 0
    assert not user_named(clerk.user.username).active
    assert runner.invoke(args=["user", "enable", clerk.user.username]).exit_code == 0
    assert user_named(clerk.user.username).active
    result = runner.invoke(args=["user", "password", clerk.user.username], input="short\n")
    assert result.exit_code == 1 and "at least 10 characters" in result.output
    result = runner.invoke(args=["user", "password", clerk.user.username], input=NEW_PASSWORD)
    assert result.exit_code == 0
    assert verify_password(user_named(clerk.user.username), NEW_PASSWORD)
    assert runner.invoke(args=["user", "disable", "nobody"]).exit_code == 1
    assert [e.action for e in audited("user.password_reset")] == ["user.password_reset"]


# Input the database cannot hold -------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["99999999999", "99999999999999999999999", "0"])
def test_ids_past_the_columns_range_are_404(app, client, admin, user_id):
    url = f"/admin/users/{admin.user.id}"
    assert client.get(f"/admin/users/{user_id}").status_code == 404
    for action in ("active", "password", "tokens", f"tokens/{user_id}/revoke"):
        target = f"/admin/users/{user_id}/{action}"
        assert post_form(client, target, {"active": "0"}, page=url).status_code == 404
    revoke = f"{url}/tokens/{user_id}/revoke"
    assert post_form(client, revoke, {}, page=url).status_code == 404


def test_a_nul_in_a_token_name_is_a_form_error(app, client, admin):
    url = f"/admin/users/{admin.user.id}"
    before = db.session.scalar(select(func.count()).select_from(ApiToken))
    response = post_form(client, f"{url}/tokens", {"name": "feed\x00"}, page=url)
    assert response.status_code == 422 and 'id="name-error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == before


def test_a_first_password_is_shown_whenever_one_is_generated(app, client, admin):
    # "generate" sent as a value the schema reads as false: no password is made up unseen.
    form = {"username": "quiet", "role": "manager", "generate": "false"}
    response = post_form(client, "/admin/users/new", form)
    assert response.status_code == 422 and 'id="password-error"' in response.get_data(as_text=True)
    assert user_named("quiet") is None


@pytest.mark.parametrize("username", ["two words", "x", "nul\x00name", "a" * 81])
def test_the_user_name_rule_is_the_operations_so_the_cli_keeps_it_too(app, catalogue, username):
    from tracker.accounts.operations import create_user
    from tracker.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        create_user(username, "manager", "a long enough password")
    assert "username" in refused.value.fields
