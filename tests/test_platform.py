"""Schema, configuration, health, OpenAPI, headers, audit, accounts CLI."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select

from config import ConfigError, load_config
from tests.conftest import PASSWORD, make_app
from tracker.accounts.models import ApiToken, User
from tracker.accounts.operations import verify_password
from tracker.audit.models import AuditEntry
from tracker.extensions import db
from tracker.webhooks import new_secret


@pytest.fixture
def empty_database_url(backend, tmp_path, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"empty_{uuid.uuid4().hex[:10]}")


def test_migrations_build_the_models_schema_and_downgrade_cleanly(empty_database_url):
    app = make_app(empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert differences == []

        downgrade(revision="base")
        with db.engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        upgrade()
        with db.engine.connect() as connection:
            assert "dossiers" in inspect(connection).get_table_names()
        db.session.remove()
        db.engine.dispose()


def test_production_refuses_to_start_on_development_defaults(monkeypatch):
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "RATELIMIT_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY, DATABASE_URL, REDIS_URL"):
        load_config("production")

    monkeypatch.setenv("DATABASE_URL", "postgres://db/tracker")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    # Their absence is tested in tests/test_feed_signatures.py.
    monkeypatch.setenv("FEED_POSTAL_SECRET", new_secret())
    monkeypatch.setenv("FEED_AGENCY_SECRET", new_secret())
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        load_config("production")

    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("RATELIMIT_ENABLED", "0")
    with pytest.raises(ConfigError, match="RATELIMIT_ENABLED"):
        load_config("production")

    monkeypatch.delenv("RATELIMIT_ENABLED")
    config = load_config("production")
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db/tracker"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"
    assert config["SESSION_COOKIE_SECURE"] is True


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok", "database": "ok"}


def test_readiness_reports_an_unreachable_database(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite3'}")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_openapi_document_and_docs_page_are_served_locally(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/v1/dossiers",
        "/api/v1/dossiers/{code}",
        "/api/v1/dossiers/{code}/events",
        "/api/v1/track",
        "/api/v1/procedures",
        "/api/v1/offices",
    ):
        assert path in spec["paths"], path
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    page = docs.get_data(as_text=True)
    assert "/api/docs/assets/swagger-ui-bundle.js" in page
    assert "https://" not in page.replace("https://swagger.io", "")
    asset = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert asset.content_type.startswith("text/javascript")
    asset.close()


def test_security_headers(client):
    headers = client.get("/healthz").headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_unknown_route_and_method_are_json(client):
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    wrong_method = client.delete("/api/v1/dossiers")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"]["code"] == "method_not_allowed"


def test_changes_and_views_are_audited(app, client, clerk, create_dossier):
    created = create_dossier()
    code = created["code"]
    client.get(f"/api/v1/dossiers/{code}", headers=clerk.headers)
    client.patch(
        f"/api/v1/dossiers/{code}", json={"version": 1, "fee_vnd": 0}, headers=clerk.headers
    )

    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_key == code).order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries] == ["dossier.create", "dossier.view", "dossier.update"]
    assert {e.actor_id for e in entries} == {clerk.user.id}
    update = entries[-1]
    assert update.before["fee_vnd"] == 200000 and update.after["fee_vnd"] == 0


def test_cli_creates_users_with_argon2id_and_issues_tokens(app, catalogue):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["user", "create", "lan", "--role", "clerk", "--office", "810000"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "lan"))
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user, PASSWORD) and not verify_password(user, "wrong password")

    token = runner.invoke(args=["user", "token", "lan"])
    assert token.exit_code == 0
    value = token.output.strip()
    stored = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert value.startswith("trk_") and value not in stored.token_hash
    assert (
        app.test_client()
        .get("/api/v1/dossiers", headers={"Authorization": f"Bearer {value}"})
        .status_code
        == 200
    )


def test_cli_refuses_bad_users(app, catalogue):
    runner = app.test_cli_runner()
    no_office = runner.invoke(args=["user", "create", "an", "--role", "clerk"], input="x" * 12)
    assert no_office.exit_code != 0 and "office" in no_office.output
    generated = runner.invoke(args=["user", "create", "boss", "--role", "manager"], input="")
    assert generated.exit_code == 0 and "password: " in generated.output
    again = runner.invoke(args=["user", "create", "boss", "--role", "manager"], input="")
    assert again.exit_code != 0 and "username" in again.output
    unknown = runner.invoke(args=["user", "token", "nobody"])
    assert unknown.exit_code != 0


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    with app.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_dropped_database_connection_is_a_503_then_heals(postgres_server):
    url = postgres_server.create_database(f"drop_{uuid.uuid4().hex[:10]}")
    app = make_app(url)
    with app.app_context():
        upgrade()
    client = app.test_client()
    assert client.get("/api/v1/channels").status_code == 200  # a pooled connection now exists

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    dropped = client.get("/api/v1/channels")
    assert dropped.status_code == 503
    assert dropped.get_json()["error"]["code"] == "unavailable"
    assert dropped.headers["Retry-After"] == "5"
    assert client.get("/api/v1/channels").status_code == 200
    with app.app_context():
        db.engine.dispose()
