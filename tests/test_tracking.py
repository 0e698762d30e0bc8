"""Public lookup: code + secret, or item number + last 4 phone digits; nothing else personal."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest

from tests.servers import GunicornServer, free_port
from tracker.tracking.schemas import TrackOut


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
    # The hot path builds the body itself: it must be exactly what the documented schema gives.
    assert TrackOut().validate(body) == {}
    assert set(body) == set(TrackOut().fields)
    assert body["received_at"] == datetime.fromisoformat(body["received_at"]).isoformat()
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


def test_rate_limit_is_shared_by_separate_server_processes(database_url, redis_url, catalogue):
    """Two gunicorn servers (as on two nodes) count in the same Redis: the 4th lookup is 429.

    With per-process counting each server would allow 3, and all 4 lookups would pass.
    """
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRACK_RATE_LIMIT": "3 per minute",
        "TRACKER_ENV": "development",
    }
    with GunicornServer(env, workers=1) as first, GunicornServer(env, workers=1) as second:
        answers = [server.get("/api/v1/track?code=X&secret=Y") for server in (first, second) * 2]

    assert [status for status, _, _ in answers] == [404, 404, 404, 429]
    _, headers, body = answers[-1]
    assert json.loads(body)["error"]["code"] == "rate_limited"
    assert int(headers["Retry-After"]) > 0


def test_one_item_is_limited_whoever_asks(app, create_dossier):
    """Misses of one item number are counted whoever asks; then the item answers 429, the right
    phone digits too, while the receipt's code and secret still answer."""
    created = create_dossier(postal_item_number="RA473124829VN")
    app.config["TRACK_ITEM_MISSES_PER_DAY"] = 3
    try:
        statuses = []
        for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = address
            statuses.append(track(client, item="RA473124829VN", phone_last4="0000").status_code)
        right = track(app.test_client(), item="RA473124829VN", phone_last4="5678")
        by_code = track(app.test_client(), code=created["code"], secret=created["lookup_secret"])
    finally:
        app.config["TRACK_ITEM_MISSES_PER_DAY"] = 10
    assert statuses == [404, 404, 404, 429]
    assert right.status_code == 429
    error = right.get_json()["error"]
    assert error["code"] == "rate_limited" and error["reason"] == "item_misses_per_day"
    assert "wrong phone number" in error["message"]
    assert int(right.headers["Retry-After"]) > 0
    assert by_code.status_code == 200


def test_lookup_survives_redis_going_away(database_url, catalogue):
    """Nothing listens where REDIS_URL points: lookups still answer, readiness says degraded."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "TRACKER_ENV": "development",
    }
    with GunicornServer(env, workers=1) as server:
        lookup = server.get("/api/v1/track?code=X&secret=Y")
        ready = server.get("/readyz")

    assert lookup[0] == 404
    assert ready[0] == 200
    assert json.loads(ready[2]) == {
        "status": "degraded",
        "database": "ok",
        "redis": "unreachable",
    }


def test_answers_are_not_cached(client, create_dossier):
    created = create_dossier()
    response = track(client, code=created["code"], secret=created["lookup_secret"])
    assert response.headers["Cache-Control"] == "no-store"
