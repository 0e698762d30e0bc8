"""Public lookup: code + secret, or item number + last 4 phone digits; nothing else personal."""

from __future__ import annotations

import json
import os

import pytest

from tests.servers import GunicornServer


def track(client, **params):
    return client.get("/api/v1/track", query_string=params)


def test_lookup_shows_status_timeline_and_masked_name(client, clerk, create_dossier):
    created = create_dossier()
    client.post(
        f"/api/v1/dossiers/{created['code']}/events",
        json={"status": "forwarded"},
        headers=clerk.headers,
    )

    response = track(client, code=created["code"], secret=created["lookup_secret"])

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {
        "code",
        "procedure",
        "service_form",
        "status",
        "received_at",
        "appointment_date",
        "due_date",
        "timeliness",
        "applicant_name",
        "timeline",
    }
    assert body["applicant_name"] == "N***** V** A*"
    assert body["status"]["code"] == "forwarded"
    assert body["status"]["label_vi"] == "Đã chuyển cơ quan giải quyết"
    assert body["status"]["label_en"] == "Handed to the agency"
    assert [e["status"]["code"] for e in body["timeline"]] == ["received", "forwarded"]
    assert body["timeline"][0]["office"] == "Bưu cục Biên Hòa"
    assert body["timeliness"] == "on_track"
    text = response.get_data(as_text=True)
    for private in ("0912345678", "Nguyễn", "Đường 30/4", "clerk"):
        assert private not in text


def test_secret_is_forgiving_about_case_and_dashes(client, create_dossier):
    created = create_dossier()
    typed = created["lookup_secret"].replace("-", " ").lower()
    assert track(client, code=created["code"].lower(), secret=typed).status_code == 200


def test_wrong_secret_answers_byte_for_byte_like_unknown_code(client, create_dossier):
    created = create_dossier()
    wrong = track(client, code=created["code"], secret="AAAAA-AAAAA")
    unknown = track(client, code="000.00.01.H19-990101-0001", secret="AAAAA-AAAAA")

    assert wrong.status_code == unknown.status_code == 404
    assert wrong.get_data() == unknown.get_data()
    assert wrong.headers.get("Content-Type") == unknown.headers.get("Content-Type")


def test_lookup_by_item_and_phone_digits(client, create_dossier):
    created = create_dossier(postal_item_number="RA473124829VN")

    found = track(client, item="RA473124829VN", phone_last4="5678")
    wrong_phone = track(client, item="RA473124829VN", phone_last4="0000")
    unknown_item = track(client, item="EE123456785VN", phone_last4="5678")

    assert found.status_code == 200 and found.get_json()["code"] == created["code"]
    assert wrong_phone.status_code == unknown_item.status_code == 404
    assert wrong_phone.get_data() == unknown_item.get_data()


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({}, {"code", "secret"}),
        ({"code": "X"}, {"secret"}),
        ({"item": "RA473124829VN"}, {"phone_last4"}),
        ({"item": "RA473124820VN", "phone_last4": "12a4"}, {"item", "phone_last4"}),
        ({"code": "X", "secret": "Y", "item": "RA473124829VN", "phone_last4": "1234"}, {"_schema"}),
    ],
)
def test_incomplete_lookups_name_the_fields(client, catalogue, params, fields):
    response = track(client, **params)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == fields


def test_rate_limit_holds_across_gunicorn_workers(database_url, redis_url, catalogue):
    """Two gunicorn worker processes share one count in Redis; the 4th lookup is refused."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRACK_RATE_LIMIT": "3 per minute",
        "TRACKER_ENV": "development",
    }
    with GunicornServer(env, workers=2) as server:
        statuses, retry_after, bodies = [], None, []
        for _ in range(6):
            # A new connection per request, so that both workers serve some of them.
            status, headers, body = server.get("/api/v1/track?code=X&secret=Y")
            statuses.append(status)
            bodies.append(body)
            retry_after = headers.get("Retry-After", retry_after)

    assert statuses == [404, 404, 404, 429, 429, 429]
    assert json.loads(bodies[-1])["error"]["code"] == "rate_limited"
    assert retry_after is not None and int(retry_after) > 0
