"""No known secret, no personal data in error logs, an audit log the application cannot alter,
and each audit entry naming the credential it was written under."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError

from config import ConfigError, load_config
from tests.conftest import dossier_payload
from tests.pages import sign_in
from tracker.accounts.models import ApiToken, StaffSession
from tracker.audit.models import AuditEntry
from tracker.audit.operations import record_audit
from tracker.extensions import db

PRODUCTION_ENV = {
    "DATABASE_URL": "postgresql://tracker@localhost/tracker",
    "REDIS_URL": "redis://localhost:6379/0",
    "FEED_POSTAL_SECRET": "whsec_" + "A" * 44,
    "FEED_AGENCY_SECRET": "whsec_" + "B" * 44,
}


def test_each_installation_makes_its_own_development_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first_file = tmp_path / "one" / "secret_key"
    monkeypatch.setenv("SECRET_KEY_FILE", str(first_file))
    first = load_config("development")["SECRET_KEY"]
    again = load_config("development")["SECRET_KEY"]
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "two" / "secret_key"))
    other = load_config("development")["SECRET_KEY"]

    assert first == again and first != other
    assert len(first) >= 40
    assert stat.S_IMODE(first_file.stat().st_mode) == 0o600
    import config

    assert not hasattr(config, "DEV_SECRET_KEY")


def test_production_refuses_to_start_without_its_own_key(monkeypatch):
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config("production")
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config("production")


@pytest.mark.parametrize("hidden", [True, False])
def test_production_errors_do_not_carry_a_citizens_data(monkeypatch, database_url, hidden):
    """The production engine options keep statement values out of an error (and so out of the
    log line that records it); without them the same error would carry the name."""
    for name, value in {**PRODUCTION_ENV, "SECRET_KEY": "k" * 40}.items():
        monkeypatch.setenv(name, value)
    options = dict(load_config("production")["SQLALCHEMY_ENGINE_OPTIONS"])
    assert options["hide_parameters"] is True
    options["hide_parameters"] = hidden
    engine = create_engine(database_url, **options)
    try:
        with pytest.raises(DBAPIError) as error, engine.connect() as connection:
            connection.execute(
                text("SELECT name FROM no_such_table WHERE name = :name AND phone = :phone"),
                {"name": "Nguyễn Văn An", "phone": "0912345678"},
            )
    finally:
        engine.dispose()
    message = str(error.value)
    assert ("0912345678" not in message and "Nguyễn" not in message) is hidden


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET action = 'nothing.happened'",
        "DELETE FROM audit_entries",
        "TRUNCATE audit_entries",
    ],
)
def test_the_audit_table_refuses_changes_on_postgresql(app, backend, statement):
    record_audit(None, "user.sign_in", "user", "someone")
    db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement))
    db.session.rollback()
    assert db.session.scalars(select(AuditEntry.action)).all() == ["user.sign_in"]


def test_audit_entries_name_the_token_or_the_session(app, client, clerk, catalogue):
    created = client.post(
        "/api/v1/dossiers", json=dossier_payload(postal_item_number=None), headers=clerk.headers
    )
    assert created.status_code == 201
    sign_in(client, clerk.user.username)
    assert client.get(f"/dossiers/{created.get_json()['code']}").status_code == 200

    token = db.session.scalars(select(ApiToken)).one()
    session = db.session.scalars(select(StaffSession)).one()
    by_action = {
        entry.action: entry
        for entry in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    }
    created_entry = by_action["dossier.create"]
    assert (created_entry.token_id, created_entry.session_id) == (token.id, None)
    viewed = by_action["dossier.view"]
    assert (viewed.token_id, viewed.session_id) == (None, session.id)
    assert by_action["user.sign_in"].session_id == session.id
