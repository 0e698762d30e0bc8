"""Status out, pulled: `GET /api/v1/changes` for an agency's integration token (scope
`read:agency`): that agency's applied status changes in order, keyset paged with an opaque
cursor, the same payload as the webhooks."""

from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import select, text

from tests.conftest import dossier_payload
from tracker.accounts.operations import create_user, issue_token
from tracker.database import advisory_lock
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.status_out.models import StatusDelivery
from tracker.status_out.operations import CHANGES_LOCK

FLOW = ["forwarded", "processing", "result_ready"]
_NAMES = itertools.count(1)


def _reader(agency_code: str | None, scopes=("read:agency",)) -> dict[str, str]:
    user = create_user(
        f"onestop-{next(_NAMES)}",
        "integration",
        None,
        agency_code=agency_code,
    )
    token = issue_token(user, name="pull", scopes=scopes)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _dossier(client, clerk, **overrides) -> str:
    answer = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(postal_item_number=None, **overrides),
        headers=clerk.headers,
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["code"]


def _event(client, clerk, code: str, status: str) -> None:
    answer = client.post(
        f"/api/v1/dossiers/{code}/events", json={"status": status}, headers=clerk.headers
    )
    assert answer.status_code == 201, answer.get_json()


def _pull(client, headers, **params):
    return client.get("/api/v1/changes", query_string=params, headers=headers)


def test_pages_through_the_agencys_changes_in_order(client, clerk, catalogue):
    headers = _reader(catalogue.agency.code)
    mine = _dossier(client, clerk, agency_reference="HS-9")
    theirs = _dossier(client, clerk, procedure_code="1.009876")
    for status in FLOW:
        _event(client, clerk, mine, status)
        _event(client, clerk, theirs, "forwarded" if status == "forwarded" else status)

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = _pull(client, headers, **params)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        seen += body["items"]
        cursor = body["next_cursor"]
        pages += 1
        if not body["has_more"]:
            break
    assert pages == 2
    assert {item["data"]["code"] for item in seen} == {mine}  # agency isolation
    assert [item["data"]["status"] for item in seen] == ["received", *FLOW]
    assert [item["data"]["TrangThaiHoSo"] for item in seen] == [1, 2, 4, 9]
    assert seen[0]["data"]["MaHoSo"] == "HS-9" and seen[0]["type"] == "dossier.status_changed"
    ids = [item["data"]["event_id"] for item in seen]
    assert ids == sorted(ids)

    # Caught up: the cursor stays where it is until something new happens.
    empty = _pull(client, headers, cursor=cursor).get_json()
    assert empty == {"items": [], "next_cursor": cursor, "has_more": False}
    _event(client, clerk, mine, "result_collected")
    newer = _pull(client, headers, cursor=cursor).get_json()
    assert [item["data"]["status"] for item in newer["items"]] == ["result_collected"]
    assert newer["items"][0]["data"]["TrangThaiHoSo"] == 9  # carried


def test_the_pulled_payload_is_the_pushed_one(client, clerk, catalogue, make_staff):
    admin = make_staff("admin")
    made = client.post(
        "/api/v1/subscriptions",
        json={"agency_code": catalogue.agency.code, "url": "http://127.0.0.1:9/hooks"},
        headers=admin.headers,
    )
    assert made.status_code == 201
    code = _dossier(client, clerk)
    _event(client, clerk, code, "forwarded")
    pulled = _pull(client, _reader(catalogue.agency.code)).get_json()["items"]
    pushed = [row.payload for row in db.session.scalars(select(StatusDelivery).order_by("id"))]
    # The same message, but for the appointment date: a pulled change carries the dossier's
    # date now, a pushed one the date known when it was sent (given at hand-over here).
    moving = ("appointment_date", "NgayHenTra")
    assert [{**item, "data": {k: v for k, v in item["data"].items() if k not in moving}}
            for item in pulled] == [
        {**item, "data": {k: v for k, v in item["data"].items() if k not in moving}}
        for item in pushed
    ]  # fmt: skip
    assert pulled[-1] == pushed[-1]
    assert pushed[0]["data"]["NgayHenTra"] is None


def test_scope_token_kind_and_cursor_are_checked(client, clerk, catalogue):
    assert _pull(client, {}).status_code == 401
    assert _pull(client, clerk.headers).status_code == 403  # staff token: no scope
    feed_only = _reader(catalogue.agency.code, scopes=("feed:agency",))
    refused = _pull(client, feed_only)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["required_scopes"] == ["read:agency"]
    headers = _reader(catalogue.agency.code)
    for bad in ("nonsense", "YzEuLTE", "c1.5", "Zm9vLjU"):
        answer = _pull(client, headers, cursor=bad)
        assert answer.status_code == 422, bad
        assert "cursor" in answer.get_json()["error"]["fields"]
    assert _pull(client, headers, limit=0).status_code == 422


@pytest.mark.postgres_only
def test_a_change_committing_late_is_never_passed_by_the_cursor(app, client, clerk, catalogue):
    headers = _reader(catalogue.agency.code)
    code = _dossier(client, clerk)
    first = _pull(client, headers).get_json()
    event_id = first["items"][0]["data"]["event_id"]
    # A writer in the middle of its commit: its change numbered, under the shared lock, not yet
    # committed (a long transaction: an import chunk, a feed batch waiting on a lock).
    late = db.engine.connect()
    transaction = late.begin()
    pulled: list[dict] = []

    def pull() -> None:
        with app.app_context():
            pulled.append(_pull(app.test_client(), headers, cursor=first["next_cursor"]).get_json())

    try:
        advisory_lock(CHANGES_LOCK, shared=True, connection=late)
        late.execute(
            text("INSERT INTO status_changes (event_id, agency_id) VALUES (:event, :agency)"),
            {"event": event_id, "agency": catalogue.agency.id},
        )
        # Meanwhile another change, numbered after it, commits.
        _event(client, clerk, code, "forwarded")
        reader = threading.Thread(target=pull)
        reader.start()
        reader.join(timeout=1.0)
        waited = reader.is_alive()  # the reader waits for the writer's commit
        transaction.commit()
    finally:
        if transaction.is_active:
            transaction.rollback()
        late.close()
    reader.join(timeout=10)
    assert waited and not reader.is_alive()
    # Both, in commit-numbering order: the late one was not skipped.
    statuses = [item["data"]["status"] for item in pulled[0]["items"]]
    assert statuses == ["received", "forwarded"]


def test_the_scope_needs_an_account_tied_to_an_agency(app, catalogue):
    user = create_user("onestop-free", "integration", None)
    with pytest.raises(ValidationFailed) as refused:
        issue_token(user, scopes=["read:agency"])
    assert "scopes" in refused.value.fields
    db.session.rollback()
