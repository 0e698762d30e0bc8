"""The admin's status-out pages: subscriptions (list, create with the secret shown once, edit,
switch off, rotate the secret) and deliveries (filters, replay one, replay a range), in
Vietnamese by default and English on request, CSRF-checked like every form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import dossier_payload
from tests.pages import csrf_of, post_form, sign_in, text_of
from tracker.calendar import VN_TZ, utcnow
from tracker.extensions import db
from tracker.status_out.models import StatusDelivery, StatusSubscription

URL = "http://127.0.0.1:9/hooks"


@pytest.fixture
def admin(make_staff, client):
    staff = make_staff("admin")
    assert sign_in(client, staff.user.username).status_code == 302
    return staff


def _subscriptions() -> list[StatusSubscription]:
    db.session.expire_all()
    rows = list(db.session.scalars(select(StatusSubscription).order_by(StatusSubscription.id)))
    db.session.commit()
    return rows


def _cursor(value: int) -> str:
    from tracker.dossiers.queries import encode_cursor

    return encode_cursor(value)


def _deliveries() -> list[StatusDelivery]:
    db.session.expire_all()
    rows = list(db.session.scalars(select(StatusDelivery).order_by(StatusDelivery.id)))
    db.session.commit()
    return rows


@pytest.mark.parametrize("url", ["/admin/subscriptions", "/admin/deliveries"])
def test_only_admins_see_the_pages(app, client, make_staff, url):
    assert client.get(url).status_code == 302  # to sign in
    clerk = make_staff("clerk")
    sign_in(client, clerk.user.username)
    assert client.get(url).status_code == 403


def test_an_admin_subscribes_an_agency_and_sees_the_secret_once(app, client, admin, catalogue):
    page = client.get("/admin/subscriptions")
    assert page.status_code == 200
    assert "Đăng ký nhận trạng thái" in text_of(page)  # Vietnamese by default
    new = client.get("/admin/subscriptions/new")
    assert "Đăng ký mới" in text_of(new)

    refused = post_form(
        client,
        "/admin/subscriptions/new",
        {"agency_code": catalogue.agency.code, "url": "ftp://nowhere"},
    )
    assert refused.status_code == 422
    assert "http://" in text_of(refused) and _subscriptions() == []

    made = post_form(
        client,
        "/admin/subscriptions/new",
        {
            "agency_code": catalogue.agency.code,
            "url": URL,
            "statuses": ["delivered", "received"],
            "active": "1",
        },
    )
    assert made.status_code == 200
    (row,) = _subscriptions()
    assert row.secret in made.get_data(as_text=True)
    assert row.statuses == ["received", "delivered"] and row.active
    listed = client.get("/admin/subscriptions").get_data(as_text=True)
    assert URL in listed and row.secret not in listed

    old_secret = row.secret
    rotated = post_form(
        client, f"/admin/subscriptions/{row.id}/secret", {}, page="/admin/subscriptions"
    )
    (after,) = _subscriptions()
    assert after.secret != old_secret and after.secret in rotated.get_data(as_text=True)

    off = post_form(
        client,
        f"/admin/subscriptions/{row.id}",
        {"url": URL, "statuses": []},
        follow_redirects=True,
    )
    assert off.status_code == 200
    (after,) = _subscriptions()
    assert after.active is False and after.statuses == [] and after.disabled_reason
    # Why, in the page's language (stored as the English message id).
    assert "quản trị viên đã tắt" in text_of(client.get("/admin/subscriptions"))
    on = post_form(client, f"/admin/subscriptions/{row.id}", {"url": URL, "active": "1"})
    assert on.status_code == 302
    (after,) = _subscriptions()
    assert after.active is True and after.disabled_reason is None
    assert client.get("/admin/subscriptions/999999").status_code == 404


def test_a_form_without_its_csrf_token_is_refused(app, client, admin, catalogue):
    answer = client.post(
        "/admin/subscriptions/new", data={"agency_code": catalogue.agency.code, "url": URL}
    )
    assert answer.status_code == 400 and _subscriptions() == []


def test_deliveries_are_filtered_and_replayed(app, client, admin, clerk, catalogue):
    subscription = StatusSubscription(
        agency=catalogue.agency, url=URL, secret="whsec_" + "A" * 44, statuses=[], active=True
    )
    db.session.add(subscription)
    db.session.commit()
    made = client.post(
        "/api/v1/dossiers", json=dossier_payload(postal_item_number=None), headers=clerk.headers
    )
    code = made.get_json()["code"]
    (row,) = _deliveries()
    db.session.execute(
        StatusDelivery.__table__.update().values(
            state="failed", attempts=7, last_status_code=503, last_error="HTTP 503: busy"
        )
    )
    db.session.commit()

    page = client.get(f"/admin/deliveries?subscription_id={subscription.id}&state=failed")
    text = text_of(page)
    assert page.status_code == 200 and code in text and "HTTP 503" in text and "Thất bại" in text
    assert code not in text_of(client.get("/admin/deliveries?state=delivered"))
    english = client.get("/lang/en?next=/admin/deliveries", follow_redirects=True)
    assert "Status deliveries" in text_of(english)
    client.get("/lang/vi")
    older = client.get(f"/admin/deliveries?limit=1&state=failed&cursor={_cursor(row.id + 1)}")
    assert older.status_code == 200 and code in text_of(older)
    bad = client.get("/admin/deliveries?since=yesterday")
    assert bad.status_code == 422

    replayed = post_form(
        client,
        f"/admin/deliveries/{row.id}/replay",
        {"back": "/admin/deliveries"},
        page="/admin/deliveries",
        follow_redirects=True,
    )
    assert replayed.status_code == 200
    (after,) = _deliveries()
    assert (after.state, after.attempts, after.message_id) == ("pending", 0, row.message_id)
    again = post_form(
        client,
        f"/admin/deliveries/{row.id}/replay",
        {},
        page="/admin/subscriptions",
        follow_redirects=True,
    )
    assert "đang chờ gửi rồi" in text_of(again)

    db.session.execute(StatusDelivery.__table__.update().values(state="delivered"))
    db.session.commit()
    now = utcnow().astimezone(VN_TZ).replace(tzinfo=None)
    ranged = post_form(
        client,
        "/admin/deliveries/replay",
        {
            "since": (now - timedelta(hours=1)).isoformat(timespec="minutes"),
            "until": (now + timedelta(hours=1)).isoformat(timespec="minutes"),
        },
        page="/admin/deliveries",
        follow_redirects=True,
    )
    assert ranged.status_code == 200
    assert [d.state for d in _deliveries()] == ["pending"]
    empty = post_form(
        client, "/admin/deliveries/replay", {}, page="/admin/deliveries", follow_redirects=True
    )
    message = text_of(empty)
    assert "Chưa gửi lại" in message
    # The field is named as the form names it, in the page's language.
    assert "since" not in message and "Ghi từ" in message


def test_the_admin_menu_links_the_subscriptions(app, client, admin):
    assert "/admin/subscriptions" in client.get("/admin/users").get_data(as_text=True)
    assert csrf_of(client.get("/admin/deliveries"))


def test_the_deliveries_page_pages_older_rows(app, client, admin, clerk, catalogue):
    db.session.add(
        StatusSubscription(
            agency=catalogue.agency, url=URL, secret="whsec_" + "B" * 44, statuses=[], active=True
        )
    )
    db.session.commit()
    for _ in range(3):
        client.post(
            "/api/v1/dossiers", json=dossier_payload(postal_item_number=None), headers=clerk.headers
        )
    newest, middle, oldest = reversed(_deliveries())
    first = client.get("/admin/deliveries?limit=1&state=pending")
    assert f'id="delivery-{newest.id}"' in first.get_data(as_text=True)
    second = client.get(f"/admin/deliveries?limit=1&state=pending&cursor={_cursor(newest.id)}")
    html = second.get_data(as_text=True)
    assert second.status_code == 200 and f'id="delivery-{middle.id}"' in html
    assert "cursor=" in html and f'id="delivery-{oldest.id}"' not in html
