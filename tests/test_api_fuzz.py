"""Fuzzing: schemathesis drives every operation of the live OpenAPI document against the app.

The document is the one the app serves (`from_wsgi`); the requests go through the test client
of the backend under test (SQLite, then PostgreSQL, like every database test). Each operation
is one test: its examples (the schemas' realistic ones: codes, item numbers and phones of the test
catalogue), the coverage phase (boundaries, missing and mistyped values, missing token) and
MAX_EXAMPLES random cases, derandomized with a fixed seed: a run is the same every time. Every
answer must be: no 5xx, a status the operation documents, the content type it documents, a body
that matches the documented schema of that status.

Callers: the examples go to every caller of the operation; any other case to one of them, chosen
from the case's content (the same case always has the same caller). The callers are a clerk and a
manager; also anonymous on the public lookup and catalogue, and on the feeds' intake the
integration accounts whose tokens have the feed's scope (the post's, an agency's), on the
collection orders an agency's system (scope orders:agency), and on the pickups a hotline
operator (who records the calls). The rows the
examples name are seeded first: the example dossier (its code, lookup secret and item number), a
feed batch, an import job and a refresh job, each with id 1; the example pickup (its reference,
its commune served by the example office).

Nothing is excluded: the upload (POST /imports) gets generated files (refused with 422 unless
well-formed), the feeds get unsigned batches (the test app configures no feed secret; with one,
their 401 is documented). The lookup's 429 is documented too, so the rate limits stay on.

Bounds: MAX_EXAMPLES random cases per operation (FUZZ_MAX_EXAMPLES to go deeper by hand), never
a clock: every operation is fuzzed on every run, however busy the machine. A backend's run takes
about 30-45 s on 2 cores (~2,700 cases); the numbers are printed at the end.
"""

from __future__ import annotations

import io
import json
import os
import time
import zlib
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text, update

from tests.conftest import PASSWORD, Staff, make_app
from tracker.accounts.operations import create_user, issue_token
from tracker.calendar import add_working_days, today_vn
from tracker.catalogue.models import Commune, ServiceArea
from tracker.dossiers import codes
from tracker.dossiers.models import Dossier
from tracker.dossiers.schemas import DOSSIER_CODE_EXAMPLE, ITEM_EXAMPLE, RECEIVED_AT_EXAMPLE
from tracker.extensions import db
from tracker.pickups.models import Pickup
from tracker.pickups.schemas import COMMUNE_EXAMPLE, REF_EXAMPLE
from tracker.tracking.schemas import SECRET_EXAMPLE

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))

# The document as the app serves it (the same on every backend).
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json",
    make_app("sqlite://"),
    config=schemathesis.Config.from_dict({"seed": 20250104}),
)

# What the run did, per backend: cases by caller and by status (printed at the end).
STATS: dict[str, dict] = {}


def _tally(backend: str) -> dict:
    now = time.monotonic()
    return STATS.setdefault(
        backend,
        {
            "started": now,
            "last": now,
            "operations": set(),
            "callers": Counter(),
            "statuses": Counter(),
        },
    )


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    for backend, tally in STATS.items():
        if tally.get("reported"):
            continue  # the module's fixture ends once per backend: each is told once
        tally["reported"] = True
        line = (
            f"fuzz [{backend}]: {len(tally['operations'])} operations, "
            f"{sum(tally['callers'].values())} cases in {tally['last'] - tally['started']:.0f} s; "
            f"by caller {dict(tally['callers'])}; "
            f"by status {dict(sorted(tally['statuses'].items()))}"
        )
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(line)


def _integration(username: str, scope: str, agency_code: str | None = None) -> Staff:
    user = create_user(username, "integration", PASSWORD, agency_code=agency_code)
    token = issue_token(user, name="feed", scopes=(scope,))
    db.session.commit()
    return Staff(user, token)


@pytest.fixture
def callers(make_staff, catalogue) -> dict[str, Staff | None]:
    return {
        "clerk": make_staff("clerk"),
        "manager": make_staff("manager"),
        "hotline": make_staff("hotline"),
        "post": _integration("post1", "feed:postal"),
        # The agency feed needs an account tied to an agency: the example dossier's.
        "agency": _integration("agency1", "feed:agency", catalogue.agency.code),
        "orders": _integration("orders1", "orders:agency", catalogue.agency.code),
        # Status out: subscriptions and deliveries are the admin's; the pull feed an agency's.
        "admin": make_staff("admin"),
        "reader": _integration("reader1", "read:agency", catalogue.agency.code),
        "anonymous": None,
    }


def _restart_ids(backend: str) -> None:
    """PostgreSQL keeps counting ids after the tables are emptied: the seeded rows get id 1,
    the examples' id, on both backends."""
    if backend != "postgresql":
        return
    for table in ("feed_batches", "import_jobs", "report_jobs"):
        db.session.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1, false)")
        )
    db.session.commit()


@pytest.fixture
def seeded(app, client, backend, catalogue, create_dossier, callers):
    """The rows the schemas' examples name: the example dossier (code, secret, item number), a
    feed batch, an import job, a refresh job."""
    _restart_ids(backend)
    created = create_dossier(postal_item_number=ITEM_EXAMPLE, received_at=RECEIVED_AT_EXAMPLE)
    assert created["code"] == DOSSIER_CODE_EXAMPLE
    # The receipt's secret is random: the example's is put in its place (a plain UPDATE, which
    # leaves the dossier at version 1, the PATCH example's).
    db.session.execute(
        update(Dossier.__table__)
        .where(Dossier.__table__.c.code == DOSSIER_CODE_EXAMPLE)
        .values(lookup_secret_hash=codes.hash_secret(DOSSIER_CODE_EXAMPLE, SECRET_EXAMPLE))
    )
    db.session.commit()

    event = {
        "event_id": "seed-1",
        "item_number": ITEM_EXAMPLE,
        "code": "EMA",
        "occurred_at": "2025-01-04T10:00:00+07:00",
    }
    feed = client.post(
        "/api/v1/feeds/postal", json={"events": [event]}, headers=callers["post"].headers
    )
    assert feed.status_code == 202 and feed.get_json()["batch_id"] == 1, feed.get_json()

    rows = (
        "\ufeffagency_reference,procedure_code,applicant_name,applicant_phone,delivery_address,"
        "postal_item_number,received_at,office_code,fee_vnd,note\n"
        'HS-000001,1.004567,Nguyễn Thị Hương,0912 345 678,"12 Đường 30/4, Biên Hòa",'
        "RR000000011VN,04/01/2025 09:30,810000,15.000,\n"
    )
    upload = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(rows.encode()), "ket-qua.csv")},
        headers=callers["clerk"].headers,
        content_type="multipart/form-data",
    )
    assert upload.status_code == 202 and upload.get_json()["id"] == 1, upload.get_json()

    refresh = client.post("/api/v1/reports/refresh", headers=callers["manager"].headers)
    assert refresh.status_code == 202 and refresh.get_json()["id"] == 1, refresh.get_json()

    # The example pickup: its commune served by the example office, its reference the example's.
    commune = Commune(code=COMMUNE_EXAMPLE, name="Phường Trấn Biên", province="Đồng Nai")
    db.session.add(ServiceArea(commune=commune, office=catalogue.office))
    db.session.commit()
    call = {
        "caller_name": "Nguyễn Văn An",
        "phone": "0912345678",
        "address": {"street": "12 Đường 30/4", "commune_code": COMMUNE_EXAMPLE},
        "service_form": "two_way",
        "day": add_working_days(today_vn(), 1).isoformat(),
        "slot": "morning",
    }
    pickup = client.post("/api/v1/pickups", json=call, headers=callers["hotline"].headers)
    assert pickup.status_code == 201, pickup.get_json()
    db.session.execute(update(Pickup.__table__).values(reference=REF_EXAMPLE))
    db.session.commit()


def _caller_names(case) -> tuple[str, ...]:
    operation = case.operation
    if operation.definition.raw.get("security") == []:
        return ("clerk", "manager", "anonymous")
    if operation.method.upper() == "POST" and operation.path.startswith("/api/v1/feeds/"):
        feed = "post" if operation.path.endswith("/postal") else "agency"
        return (feed, feed, "clerk", "manager")
    if operation.path == "/api/v1/orders":
        return ("orders", "orders", "clerk", "manager")
    if operation.path.startswith("/api/v1/pickups"):
        return ("hotline", "hotline", "clerk", "manager")
    if operation.path.startswith(("/api/v1/subscriptions", "/api/v1/deliveries")):
        return ("admin", "admin", "clerk", "manager")
    if operation.path == "/api/v1/changes":
        return ("reader", "reader", "clerk", "manager")
    return ("clerk", "manager")


def _stable(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else type(value).__name__


def _pick(case, names: tuple[str, ...]) -> str:
    """The same case always gets the same caller (a failure replays as it was found)."""
    content = json.dumps(
        [case.path_parameters, case.query, case.body], sort_keys=True, default=_stable
    )
    return names[zlib.crc32(content.encode()) % len(names)]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # The app, client and seeded rows are set up once per operation, not per case, on purpose:
    # the cases of an operation share (and change) that data.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
def test_api(case, client, callers, seeded, backend):
    tally = _tally(backend)
    names = _caller_names(case)
    # The schemas' examples (a handful per operation) go to every caller; the other cases to one.
    if case.meta is None or case.meta.phase.name.value != "examples":
        names = (_pick(case, names),)
    for name in dict.fromkeys(names):
        caller = callers[name]
        # buffered: a streamed answer (the errors CSV) is read while the request's context is
        # on, as a server does (conftest's IsolatedClient gives each request its own context).
        response = case.call_and_validate(
            session=client,
            headers=caller.headers if caller else None,
            checks=CHECKS,
            buffered=True,
        )
        tally["operations"].add(case.operation.label)
        tally["callers"][name] += 1
        tally["statuses"][response.status_code] += 1
        tally["last"] = time.monotonic()
