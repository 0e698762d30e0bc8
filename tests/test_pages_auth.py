"""Staff sign-in for pages: session cookie, CSRF, throttling, roles, language, headers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.pages import csrf_of, post_form, sign_in, text_of
from tracker.accounts.models import User
from tracker.accounts.operations import hash_password
from tracker.audit.models import AuditEntry
from tracker.catalogue.models import Commune
from tracker.extensions import db
from tracker.pickups.models import Pickup


def test_sign_in_lands_on_the_role_home_and_sets_a_safe_cookie(app, client, make_staff):
    clerk = make_staff("clerk")
    response = sign_in(client, clerk.user.username)
    assert response.status_code == 302
    assert response.headers["Location"] == "/dossiers"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "user.sign_in" in actions


@pytest.mark.parametrize(
    ("role", "home"),
    [
        ("manager", "/manager"),
        ("admin", "/admin/users"),
        ("agency", "/dossiers"),
        # Their own pages come later: the day's pickups meanwhile, not the public lookup.
        ("postman", "/pickups"),
        ("hotline", "/pickups"),
    ],
)
def test_each_role_has_its_home(app, client, make_staff, role, home):
    staff = make_staff(role)
    assert sign_in(client, staff.user.username).headers["Location"] == home


def test_the_home_of_postmen_and_the_hotline_lists_todays_pickups_in_their_scope(
    app, client, make_staff, catalogue, today
):
    commune = Commune(code="26041", name="Phường Trấn Biên", province="Đồng Nai")
    rows = {
        reference: Pickup(
            reference=reference,
            state="requested",
            caller_name=caller,
            phone="0912345678",
            street="12 Đường 30/4",
            commune=commune,
            office=office,
            service_form="two_way",
            day=day,
            slot=slot,
        )
        for reference, caller, office, day, slot in [
            ("TG-AAAA-0002", "Nguyễn Văn An", catalogue.office, today, "afternoon"),
            ("TG-AAAA-0003", "Trần Thị Bình", catalogue.office, today, "morning"),
            ("TG-AAAA-0004", "Lê Văn Cường", catalogue.other_office, today, "morning"),
            (
                "TG-AAAA-0005",
                "Phạm Thị Dung",
                catalogue.office,
                today + timedelta(days=1),
                "morning",
            ),
        ]
    }
    db.session.add_all(rows.values())
    db.session.commit()

    def listed(page: str) -> list[str]:
        return re.findall(r"TG-AAAA-\d{4}", page)

    postman = make_staff("postman")
    response = client.get(sign_in(client, postman.user.username).headers["Location"])
    assert response.status_code == 200
    page = text_of(response)
    # The office's, of today only, in the order of the round: morning first.
    assert listed(page) == ["TG-AAAA-0003", "TG-AAAA-0002"]
    assert "Thu gom hôm nay" in page and "buổi sáng (8h-12h)" in page
    assert "Nguyễn Văn An" in page and catalogue.office.name in page
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "pickup.list")).one()
    assert audit.actor_id == postman.user.id

    post_form(client, "/logout", {}, page="/pickups")
    hotline = make_staff("hotline")
    sign_in(client, hotline.user.username)
    client.set_cookie("lang", "en")
    page = text_of(client.get("/pickups"))
    assert listed(page) == ["TG-AAAA-0003", "TG-AAAA-0004", "TG-AAAA-0002"]
    assert "Today's pickups" in page and "afternoon (13:30-17:00)" in page
    assert catalogue.other_office.name in page
    # The page is theirs alone, and theirs is no dossier page.
    assert client.get("/dossiers").status_code == 403
    post_form(client, "/logout", {}, page="/pickups")
    # Clerks have the office's list too (tests/test_pages_pickups.py); managers read it, and
    # their home stays the dashboard.
    manager = make_staff("manager")
    home = sign_in(client, manager.user.username).headers["Location"]
    assert "/pickups" not in home
    client.set_cookie("lang", "en")
    response = client.get("/pickups")
    assert listed(text_of(response)) == ["TG-AAAA-0003", "TG-AAAA-0004", "TG-AAAA-0002"]
    assert 'name="postman"' not in response.get_data(as_text=True)


def test_a_wrong_password_is_refused_beside_the_form_and_keeps_the_name(app, client, clerk):
    response = sign_in(client, clerk.user.username, "not the password")
    assert response.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in text_of(response)
    assert f'value="{clerk.user.username}"' in response.get_data(as_text=True)
    assert client.get("/dossiers").status_code == 302  # still signed out


def test_an_unknown_user_and_an_integration_account_cannot_sign_in(app, client, make_staff):
    assert sign_in(client, "nobody").status_code == 401
    integration = make_staff("integration")
    assert sign_in(client, integration.user.username).status_code == 401


def test_a_disabled_user_cannot_sign_in(app, client, clerk):
    clerk.user.active = False
    db.session.commit()
    assert sign_in(client, clerk.user.username).status_code == 401


def test_sign_in_without_a_csrf_token_is_refused(app, client, clerk):
    response = client.post("/login", data={"username": clerk.user.username, "password": PASSWORD})
    assert response.status_code == 400
    assert "Biểu mẫu đã hết hạn" in text_of(response)
    assert client.get("/dossiers").status_code == 302


def test_failed_sign_ins_are_throttled_per_user_name(app, client, clerk):
    for _ in range(5):
        assert sign_in(client, clerk.user.username, "wrong password").status_code == 401
    blocked = sign_in(client, clerk.user.username, PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Quá nhiều lần thử" in text_of(blocked)


def test_successful_sign_ins_are_not_counted_against_the_limit(app, client, clerk):
    for _ in range(7):
        assert sign_in(client, clerk.user.username).status_code == 302
        post_form(client, "/logout", {}, page="/dossiers")


def test_the_next_page_is_kept_but_never_another_site(app, client, clerk):
    first = client.get("/dossiers?overdue=1")
    assert first.status_code == 302
    assert "next=/dossiers?overdue%3D1" in first.headers["Location"]
    token = csrf_of(client.get("/login?next=/dossiers"))
    data = {"username": clerk.user.username, "password": PASSWORD, "csrf_token": token}
    to_page = client.post("/login", data={**data, "next": "/dossiers?overdue=1"})
    assert to_page.headers["Location"] == "/dossiers?overdue=1"
    post_form(client, "/logout", {}, page="/dossiers")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        token = csrf_of(client.get("/login"))
        answer = client.post("/login", data={**data, "csrf_token": token, "next": target})
        assert answer.headers["Location"] == "/dossiers", target
        post_form(client, "/logout", {}, page="/dossiers")


def test_sign_out_ends_the_session_and_needs_csrf(app, client, clerk):
    sign_in(client, clerk.user.username)
    assert client.post("/logout").status_code == 400
    response = post_form(client, "/logout", {}, page="/dossiers")
    assert response.status_code == 302
    assert client.get("/dossiers").status_code == 302


def test_a_role_without_access_gets_403(app, client, make_staff):
    clerk = make_staff("clerk")
    sign_in(client, clerk.user.username)
    response = client.get("/manager")
    assert response.status_code == 403
    assert "Bạn không có quyền" in text_of(response)


def test_a_new_password_ends_existing_sessions(app, client, clerk):
    sign_in(client, clerk.user.username)
    assert client.get("/dossiers").status_code == 200
    user = db.session.get(User, clerk.user.id)
    user.password_hash = hash_password("another password 123")
    db.session.commit()
    assert client.get("/dossiers").status_code == 302


def test_disabling_a_user_ends_their_session(app, client, clerk):
    sign_in(client, clerk.user.username)
    db.session.get(User, clerk.user.id).active = False
    db.session.commit()
    assert client.get("/dossiers").status_code == 302


def test_a_session_cookie_does_not_authenticate_the_api(app, client, clerk):
    sign_in(client, clerk.user.username)
    assert client.get("/dossiers").status_code == 200
    response = client.get("/api/v1/dossiers")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_the_api_needs_no_csrf_token_with_a_bearer_token(app, client, clerk, catalogue):
    from tests.conftest import dossier_payload

    response = client.post(
        "/api/v1/dossiers", json=dossier_payload(postal_item_number=None), headers=clerk.headers
    )
    assert response.status_code == 201


def test_the_language_switch_sets_a_cookie_and_comes_back(app, client):
    assert "Cán bộ đăng nhập" in text_of(client.get("/login"))
    response = client.get("/lang/en?next=/login")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Staff sign-in" in text_of(client.get("/login"))
    assert client.get("/lang/fr?next=https://evil.example/").headers["Location"] == "/"
    assert "Staff sign-in" in text_of(client.get("/login"))  # an unknown language changes nothing


def test_pages_answer_errors_as_pages_and_the_api_as_json(app, client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "Không tìm thấy trang" in text_of(page)
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"


def test_pages_carry_a_strict_policy_and_are_not_cached(app, client):
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    docs = client.get("/api/docs")
    assert "unsafe-inline" in docs.headers["Content-Security-Policy"]  # Swagger UI's own script


def test_production_sessions_are_secure_cookies(monkeypatch):
    from config import load_config
    from tracker.webhooks import new_secret

    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://tracker@localhost/tracker")
    monkeypatch.setenv("REDIS_URL", "redis://localhost:6379/0")
    monkeypatch.setenv("FEED_POSTAL_SECRET", new_secret())
    monkeypatch.setenv("FEED_AGENCY_SECRET", new_secret())
    config = load_config("production")
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_a_nul_in_the_user_name_is_a_failed_sign_in(app, client, clerk):
    assert sign_in(client, "clerk\x001").status_code == 401


@pytest.mark.parametrize("code", ["<a href='https:evil.example'>click</a>", "%", "<i>x</i>%d"])
def test_an_error_page_shows_what_was_typed_as_text(app, client, clerk, code):
    from urllib.parse import quote

    sign_in(client, clerk.user.username)
    answer = client.get("/dossiers/" + quote(code, safe=""))
    assert answer.status_code == 404
    html = answer.get_data(as_text=True)
    assert "<a href='https:evil.example'>" not in html and "<i>x</i>" not in html
    assert client.get("/manager?office=" + quote(code)).status_code in {302, 403}


def test_a_rules_message_is_shown_in_the_pages_language_with_its_values(app, client, clerk):
    sign_in(client, clerk.user.username)
    missing = client.get("/dossiers/000.00.01.H19-991231-9999")
    assert missing.status_code == 404
    assert "không có hồ sơ mã 000.00.01.H19-991231-9999" in text_of(missing)
    client.set_cookie("lang", "en")
    assert "no dossier with code 000.00.01.H19-991231-9999" in text_of(
        client.get("/dossiers/000.00.01.H19-991231-9999")
    )
    # The API says it as it reads.
    api = client.get("/api/v1/dossiers/000.00.01.H19-991231-9999", headers=clerk.headers)
    assert api.get_json()["error"]["message"] == "no dossier with code 000.00.01.H19-991231-9999"
