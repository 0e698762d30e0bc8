"""Test fixtures. Every database test runs twice: on SQLite and on a real PostgreSQL server that
this session starts on loopback and stops at the end.

Without PostgreSQL installed, the PostgreSQL half is skipped with a message saying so; with CI=true
(as `.ci/run` sets it) a missing server is a failure instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

import pytest
import redis
from flask import Flask, g
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import delete, text

from tests.servers import (
    CeleryWorker,
    PostgresServer,
    RedisServer,
    find_postgres_bin,
    find_redis_server,
)
from tracker import create_app
from tracker.accounts.models import User
from tracker.accounts.operations import create_user, issue_token
from tracker.calendar import utcnow
from tracker.catalogue.models import Agency, Channel, Office, Procedure, Sector
from tracker.dossiers import operations
from tracker.dossiers.models import Dossier
from tracker.extensions import db, limiter
from tracker.unit_of_work import unit_of_work
from workers import celery_init_app

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "correct horse battery"
# Filled by the migrations themselves: kept between tests.
REFERENCE_TABLES = frozenset({"postal_event_codes"})


def missing_service(what: str, how: str) -> None:
    """Skip on a developer's machine, fail under CI: CI must never skip for want of a service."""
    message = f"{what} is not installed ({how}); these tests need it"
    if IN_CI:
        pytest.fail(message + " and CI=true", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        missing_service("PostgreSQL", "apt-get install postgresql")
    with PostgresServer(bin_dir) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = find_redis_server()
    if binary is None:
        missing_service("redis-server", "apt-get install redis-server")
    with RedisServer(binary) as server:
        yield server


@pytest.fixture
def redis_url(redis_server) -> str:
    """A real Redis server, emptied before the test."""
    with redis.Redis.from_url(redis_server.url) as connection:
        connection.flushdb()
    return redis_server.url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def database_url(backend, tmp_path_factory, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'tracker.sqlite3'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database("tracker_test")


def make_app(database_url: str, **overrides) -> Flask:
    config = {"SQLALCHEMY_DATABASE_URI": database_url, "TRACK_RATE_LIMIT": "1000 per minute"}
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture(scope="session")
def _app(database_url) -> Iterator[Flask]:
    app = make_app(database_url)
    with app.app_context():
        upgrade()  # the schema comes from the migrations, as in production
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(_app: Flask) -> Iterator[Flask]:
    """The application in an app context; every table is emptied after the test."""
    with _app.app_context():
        # The test's own reads must not take SQLite's write lock: requests need it.
        g.write_transaction = False
        yield _app
        db.session.rollback()
        db.session.remove()
        empty_tables()
        db.session.remove()
    limiter.reset()


def empty_tables(keep: frozenset[str] = REFERENCE_TABLES) -> None:
    """Delete every row of every table but `keep`'s, and commit."""
    db.session.rollback()
    if db.engine.dialect.name == "postgresql":
        # The audit table refuses DELETE (a trigger); the test server's superuser may switch
        # triggers off for this transaction.
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    for table in reversed(db.metadata.sorted_tables):
        if table.name not in keep:
            db.session.execute(delete(table))
    db.session.commit()


class IsolatedClient(FlaskClient):
    """Runs each request in its own app context, as a server does.

    Flask reuses an app context that is already pushed (the test's own), which would share `g`
    (the signed-in user) and the database session between requests and the test.
    """

    def open(self, *args, **kwargs):
        # End the test's own transaction first: it then holds no lock and sees fresh data after.
        outer = _cv_app.get(None)
        if outer is not None and outer.app is self.application:
            db.session.commit()
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)
            if outer is not None and outer.app is self.application:
                db.session.expire_all()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class Catalogue:
    channel: Channel
    hotline: Channel
    office: Office
    other_office: Office
    hotline_office: Office
    agency: Agency
    other_agency: Agency
    sector: Sector
    procedure: Procedure
    return_procedure: Procedure
    other_procedure: Procedure


@pytest.fixture
def catalogue(app) -> Catalogue:
    """A small catalogue: two post offices, a hotline desk, two agencies, three procedures."""
    post = Channel(
        code="post_l1", name_vi="Bưu cục cấp 1", name_en="Level 1 post office", national_code=3
    )
    hotline = Channel(
        code="hotline_1022", name_vi="Tổng đài 1022", name_en="Hotline 1022", national_code=3
    )
    agency = Agency(code="000.00.01.H19", name="Sở Tư pháp tỉnh Đồng Nai")
    other_agency = Agency(code="000.00.02.H19", name="Sở Xây dựng tỉnh Đồng Nai")
    sector = Sector(code="TP", name_vi="Tư pháp", name_en="Justice")
    office = Office(code="810000", name="Bưu cục Biên Hòa", channel=post, district="Biên Hòa")
    other = Office(code="811000", name="Bưu cục Long Khánh", channel=post, district="Long Khánh")
    hotline_office = Office(code="HL1022", name="Tổng đài 1022", channel=hotline)
    procedure = Procedure(
        code="1.001234",
        name="Cấp phiếu lý lịch tư pháp",
        search_name="cap phieu ly lich tu phap",
        sector=sector,
        agency=agency,
        working_days=10,
    )
    return_procedure = Procedure(
        code="1.004567",
        name="Cấp bản sao trích lục hộ tịch",
        search_name="cap ban sao trich luc ho tich",
        sector=sector,
        agency=agency,
        working_days=3,
        allows_two_way=False,
        allows_send_only=False,
    )
    other_procedure = Procedure(
        code="1.009876",
        name="Cấp giấy phép xây dựng",
        search_name="cap giay phep xay dung",
        sector=sector,
        agency=other_agency,
        working_days=15,
    )
    db.session.add_all(
        [
            post,
            hotline,
            agency,
            other_agency,
            sector,
            office,
            other,
            hotline_office,
            procedure,
            return_procedure,
            other_procedure,
        ]
    )
    db.session.commit()
    return Catalogue(
        post,
        hotline,
        office,
        other,
        hotline_office,
        agency,
        other_agency,
        sector,
        procedure,
        return_procedure,
        other_procedure,
    )


@dataclass
class Staff:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_staff(app, catalogue) -> Callable[..., Staff]:
    counter = iter(range(1, 10_000))

    def make(
        role: str = "clerk", *, office: Office | None = None, agency: Agency | None = None
    ) -> Staff:
        if role in ("clerk", "postman"):
            office = office or catalogue.office
        if role == "agency":
            agency = agency or catalogue.agency
        user = create_user(
            f"{role}{next(counter)}",
            role,
            PASSWORD,
            office_code=office.code if office else None,
            agency_code=agency.code if agency else None,
        )
        token = issue_token(user, name="test")
        db.session.commit()
        return Staff(user, token)

    return make


@pytest.fixture
def clerk(make_staff) -> Staff:
    return make_staff("clerk")


def dossier_payload(**overrides) -> dict:
    payload = {
        "service_form": "two_way",
        "procedure_code": "1.001234",
        "applicant": {"name": "Nguyễn Văn An", "phone": "0912345678"},
        "delivery_address": "12 Đường 30/4, phường Trung Dũng, Biên Hòa, Đồng Nai",
        "documents": [
            {"name": "Tờ khai", "kind": "original", "count": 1},
            {"name": "CCCD", "kind": "certified_copy", "count": 1},
        ],
        "postal_item_number": "EE123456785VN",
        "fee_vnd": 200000,
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def create_dossier(client, clerk) -> Callable[..., dict]:
    """POST a dossier as the clerk; returns the JSON body (code, lookup_secret, ...)."""

    def create(staff: Staff | None = None, **overrides) -> dict:
        overrides.setdefault("postal_item_number", None)
        response = client.post(
            "/api/v1/dossiers", json=dossier_payload(**overrides), headers=(staff or clerk).headers
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return create


def intake_data(
    service_form: str = "two_way", *, received_at: datetime | None = None, **overrides
) -> dict:
    """What the intake operation takes (as its schema loads it): procedure 1.001234 (10 working
    days, every service form) at office 810000, received now unless said; `overrides` replace
    or add fields (procedure_code, office_code, appointment_date, documents...)."""
    data = {
        "service_form": service_form,
        "procedure_code": "1.001234",
        "office_code": "810000",
        "applicant": {"name": "Trần Thị Bình", "phone": "0987654321"},
        "delivery_address": None if service_form == "send_only" else "5 Phan Chu Trinh, Biên Hòa",
        "received_at": received_at or utcnow(),
    }
    data.update(overrides)
    return data


@pytest.fixture
def make_dossier(app, catalogue) -> Callable[..., Dossier]:
    """Build dossiers through the intake operation, each in a unit of work of its own (committed
    when returned): `make(service_form, received_at=..., **overrides)`, as `intake_data`."""

    def make(service_form: str = "two_way", **overrides) -> Dossier:
        with unit_of_work():
            dossier, _secret = operations.create_dossier(
                intake_data(service_form, **overrides), None
            )
        return dossier

    return make


@pytest.fixture
def today() -> date:
    from tracker.calendar import today_vn

    return today_vn()


# Pages in a real browser (tests/browser.py) --------------------------------------------------

from tests.browser import browser_page, chromium, live_server  # noqa: E402, F401

# Workers ---------------------------------------------------------------------------------------


def fresh_session() -> None:
    """End the test's transaction and forget loaded rows: the next read sees a worker's commits."""
    db.session.commit()
    db.session.expire_all()


@pytest.fixture
def broker(app: Flask, redis_url: str) -> Iterator[str]:
    """The test app publishes to a real Redis (after-commit dispatch, relay) for this test."""
    previous = app.extensions["celery"]
    celery = celery_init_app(app, broker_url=redis_url)
    yield redis_url
    celery.close()
    app.extensions["celery"] = previous
    previous.set_default()


@pytest.fixture
def worker_env(database_url: str, redis_url: str, tmp_path) -> dict[str, str]:
    """Environment of worker processes: the test database, the test Redis, quick timings."""
    return {
        **os.environ,
        "TRACKER_ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_VISIBILITY_TIMEOUT": "10",
        "OUTBOX_RETRY_AFTER_SECONDS": "3",
        "NOTIFICATION_LOG": str(tmp_path / "notifications.log"),
        "BEAT_SCHEDULE_FILE": str(tmp_path / "beat-schedule"),
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "8192",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def start_worker(app, broker, worker_env, tmp_path) -> Iterator[Callable[..., CeleryWorker]]:
    """Start real `celery worker` processes (solo pool) on the test database and Redis; they
    are stopped before the tables are emptied."""
    started: list[CeleryWorker] = []

    def start(*, beat: bool = False, queues: str | None = None, **env: str) -> CeleryWorker:
        log_path = tmp_path / f"worker-{len(started)}.log"
        worker = CeleryWorker({**worker_env, **env}, log_path, beat=beat, queues=queues)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


def pytest_collection_modifyitems(config, items) -> None:
    """`@pytest.mark.postgres_only` tests are not collected for the SQLite run at all (rather
    than skipped): they test what only PostgreSQL has."""
    deselected = [
        item
        for item in items
        if item.get_closest_marker("postgres_only")
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("backend") == "sqlite"
    ]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]
