"""Dossier codes (`<agency>-<YYMMDD>-<NNNN>`, per agency per Vietnam day, no gaps) and lookup
secrets."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tests.conftest import dossier_payload, intake_data
from tracker.calendar import VN_TZ
from tracker.dossiers import codes, operations
from tracker.dossiers.models import CodeCounter, Dossier
from tracker.extensions import db

AGENCY = "000.00.01.H19"
OTHER_AGENCY = "000.00.02.H19"


# ---- allocate_code ----------------------------------------------------------------------


def test_sequence_per_agency_per_day(app):
    day = date(2026, 2, 10)
    assert codes.allocate_code(AGENCY, day) == "000.00.01.H19-260210-0001"
    assert codes.allocate_code(AGENCY, day) == "000.00.01.H19-260210-0002"
    assert codes.allocate_code(OTHER_AGENCY, day) == "000.00.02.H19-260210-0001"
    assert codes.allocate_code(AGENCY, date(2026, 2, 11)) == "000.00.01.H19-260211-0001"
    assert codes.allocate_code(AGENCY, day) == "000.00.01.H19-260210-0003"
    db.session.commit()
    counters = {(c.agency_code, c.day): c.last_seq for c in db.session.scalars(select(CodeCounter))}
    assert counters == {(AGENCY, day): 3, (OTHER_AGENCY, day): 1, (AGENCY, date(2026, 2, 11)): 1}


def test_code_format(app):
    code = codes.allocate_code("000.00.01.H56", date(2025, 1, 5))
    assert code == "000.00.01.H56-250105-0001"
    assert re.fullmatch(r"000\.00\.01\.H56-\d{6}-\d{4}", code)


def test_rollback_gives_the_number_back(app):
    day = date(2026, 3, 2)
    assert codes.allocate_code(AGENCY, day) == "000.00.01.H19-260302-0001"
    db.session.commit()
    assert codes.allocate_code(AGENCY, day) == "000.00.01.H19-260302-0002"
    db.session.rollback()
    assert codes.allocate_code(AGENCY, day) == "000.00.01.H19-260302-0002"
    db.session.commit()
    assert codes.allocate_code(AGENCY, day) == "000.00.01.H19-260302-0003"


# ---- through create_dossier ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "code"),
    [
        # 23:30 on New Year's Eve in Vietnam counts in the old year...
        (datetime(2025, 12, 31, 16, 30, tzinfo=UTC), "000.00.01.H19-251231-0001"),
        # ... 00:30 on New Year's Day in the new one, though it is still 31 December in UTC.
        (datetime(2025, 12, 31, 17, 30, tzinfo=UTC), "000.00.01.H19-260101-0001"),
        (datetime(2026, 1, 1, 0, 30, tzinfo=VN_TZ), "000.00.01.H19-260101-0001"),
    ],
)
def test_code_day_is_the_vietnam_day_of_receipt(make_dossier, received_at, code):
    assert make_dossier(received_at=received_at).code == code


def test_codes_follow_the_receiving_agency(app, catalogue):
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)
    made = []
    for procedure in ("1.001234", "1.009876", "1.001234", "1.009876", "1.001234"):
        data = intake_data(received_at=moment, procedure_code=procedure)
        dossier, _ = operations.create_dossier(data, None)
        made.append(dossier.code)
    db.session.commit()
    assert made == [
        "000.00.01.H19-260302-0001",
        "000.00.02.H19-260302-0001",
        "000.00.01.H19-260302-0002",
        "000.00.02.H19-260302-0002",
        "000.00.01.H19-260302-0003",
    ]


def test_failed_intake_leaves_no_gap(make_dossier):
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)
    first = make_dossier(received_at=moment)
    assert first.code == "000.00.01.H19-260302-0001"
    # The code is allocated, then the INSERT fails (a document count of 0 breaks a CHECK).
    broken = intake_data(
        received_at=moment, documents=[{"name": "Tờ khai", "kind": "original", "count": 0}]
    )
    with pytest.raises(IntegrityError):
        operations.create_dossier(broken, None)
    db.session.rollback()
    second = make_dossier(received_at=moment)
    assert second.code == "000.00.01.H19-260302-0002"
    assert db.session.scalars(select(Dossier.code).order_by(Dossier.code)).all() == [
        "000.00.01.H19-260302-0001",
        "000.00.01.H19-260302-0002",
    ]


def test_refused_request_leaves_no_gap(client, clerk, catalogue):
    received = "2026-03-02T09:00:00+07:00"
    ok = client.post(
        "/api/v1/dossiers",
        headers=clerk.headers,
        json=dossier_payload(received_at=received, postal_item_number="EE123456785VN"),
    )
    assert ok.status_code == 201
    assert ok.get_json()["code"] == "000.00.01.H19-260302-0001"
    # Same postal item within 12 months: refused with 409 before anything is written.
    taken = client.post(
        "/api/v1/dossiers",
        headers=clerk.headers,
        json=dossier_payload(received_at=received, postal_item_number="EE123456785VN"),
    )
    assert taken.status_code == 409
    again = client.post(
        "/api/v1/dossiers",
        headers=clerk.headers,
        json=dossier_payload(received_at=received, postal_item_number=None),
    )
    assert again.get_json()["code"] == "000.00.01.H19-260302-0002"


# ---- concurrency ------------------------------------------------------------------------------

THREADS = 8
PER_THREAD = 10


def test_concurrent_intake_gets_unique_gapless_codes(app, catalogue, clerk):
    headers = clerk.headers
    # Nothing of the main thread's may hold a transaction (on SQLite: the write lock) meanwhile.
    db.session.commit()
    db.session.close()

    def worker(n: int) -> list[tuple[int, dict]]:
        answers = []
        for i in range(PER_THREAD):
            payload = dossier_payload(
                received_at="2026-03-02T09:00:00+07:00",
                postal_item_number=None,
                applicant={"name": f"Người nộp {n}-{i}", "phone": "0912345678"},
            )
            # Each request in its own app context, hence its own session and connection, as a
            # real server would run it.
            with app.app_context():
                response = app.test_client().post("/api/v1/dossiers", json=payload, headers=headers)
                answers.append((response.status_code, response.get_json()))
        return answers

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = [a for answers in pool.map(worker, range(THREADS)) for a in answers]

    assert [status for status, _ in results] == [201] * (THREADS * PER_THREAD), [
        body for status, body in results if status != 201
    ][:3]
    total = THREADS * PER_THREAD
    expected = [f"000.00.01.H19-260302-{n:04d}" for n in range(1, total + 1)]
    assert sorted(body["code"] for _, body in results) == expected
    stored = db.session.scalars(select(Dossier.code).order_by(Dossier.code)).all()
    assert stored == expected
    counter = db.session.get(CodeCounter, (AGENCY, date(2026, 3, 2)))
    assert counter.last_seq == total


# ---- lookup secrets -------------------------------------------------------------------------


def test_new_lookup_secret_format():
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    seen = set()
    for _ in range(200):
        secret = codes.new_lookup_secret()
        assert re.fullmatch(rf"[{alphabet}]{{5}}-[{alphabet}]{{5}}", secret)
        seen.add(secret)
    assert len(seen) == 200
    assert codes.SECRET_LENGTH * 5 >= 40  # DESIGN: at least 40 random bits


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("7K3QZ-M9XW2", "7K3QZM9XW2"),
        ("7k3qz m9xw2", "7K3QZM9XW2"),
        (" 7K3QZ-M9XW2 ", "7K3QZM9XW2"),
        ("O0I1L-ABCDE", "00111ABCDE"),  # O read as 0, I and L as 1 (Crockford)
    ],
)
def test_normalise_secret(typed, normalised):
    assert codes.normalise_secret(typed) == normalised


def test_secret_matches_retyped_forms_only_for_its_code():
    code = "000.00.01.H19-260302-0001"
    stored = codes.hash_secret(code, "7K3Q0-M91W2")
    assert codes.secret_matches(code, "7K3Q0-M91W2", stored)
    assert codes.secret_matches(code, "7k3qo m9lw2", stored)
    assert not codes.secret_matches(code, "7K3Q0-M91W3", stored)
    assert not codes.secret_matches("000.00.01.H19-260302-0002", "7K3Q0-M91W2", stored)
    assert len(stored) == 64
