"""Dossier REST API: intake, reads, corrections, scope."""

from __future__ import annotations

import re

from tests.conftest import dossier_payload


def test_create_returns_code_secret_and_initial_status(client, clerk, catalogue, today):
    response = client.post("/api/v1/dossiers", json=dossier_payload(), headers=clerk.headers)

    assert response.status_code == 201
    body = response.get_json()
    assert body["code"] == f"000.00.01.H19-{today:%y%m%d}-0001"
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", body["lookup_secret"])
    assert body["status"]["code"] == "received"
    assert body["office"]["code"] == "810000"
    assert body["channel"]["code"] == "post_l1"
    assert body["postal_item_number"] == "EE123456785VN"
    assert [d["kind"] for d in body["documents"]] == ["original", "certified_copy"]
    assert body["allowed_next"] == ["forwarded", "withdrawn"]
    assert body["version"] == 1


def test_get_and_events(client, clerk, create_dossier):
    created = create_dossier()
    response = client.get(f"/api/v1/dossiers/{created['code']}", headers=clerk.headers)
    assert response.status_code == 200
    assert "lookup_secret" not in response.get_json()
    events = client.get(f"/api/v1/dossiers/{created['code']}/events", headers=clerk.headers)
    assert [e["to_status"]["code"] for e in events.get_json()] == ["received"]
