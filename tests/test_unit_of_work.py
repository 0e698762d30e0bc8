"""The unit of work: one commit when a request, a task or a chunk ends well, nothing when it
raises, and the consumers' commit hooks in their documented order."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import intake_data, make_app
from tracker import unit_of_work
from tracker.dossiers.models import Dossier
from tracker.dossiers.operations import create_dossier, record_event
from tracker.extensions import db
from tracker.notifications.models import Notification
from tracker.outbox.models import OutboxMessage
from tracker.outbox.operations import enqueue
from tracker.reports.models import DailyCount


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_commit_hooks_run_in_the_documented_order(app):
    assert unit_of_work.registered() == [
        "rollups",
        "notifications",
        "handovers",
        "status_out",
        "outbox",
    ]


def test_a_unit_commits_what_it_wrote_and_rolls_back_what_raised(app):
    with unit_of_work.unit_of_work():
        enqueue("outbox.relay")
    with pytest.raises(RuntimeError), unit_of_work.unit_of_work():
        enqueue("outbox.relay")
        raise RuntimeError("the operation failed")
    assert count(OutboxMessage) == 1


def test_each_chunk_is_committed_on_its_own(app):
    steps = iter([True, True, RuntimeError("the third chunk failed")])

    def step() -> bool:
        outcome = next(steps)
        enqueue("outbox.relay")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    done = []
    with pytest.raises(RuntimeError):
        for result in unit_of_work.each_committed(step):
            done.append(result)
    # The two chunks before the failure stay; the failed one left nothing.
    assert done == [True, True] and count(OutboxMessage) == 2


def test_a_view_that_raises_writes_nothing_and_one_that_returns_is_committed(
    app, database_url, make_dossier
):
    code = make_dossier().code
    # An app of its own: a view can only be added before an app's first request.
    other = make_app(database_url, PROPAGATE_EXCEPTIONS=False)

    @other.post("/api/v1/_test/unit-of-work/<outcome>")
    def _record(outcome: str):
        dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
        record_event(dossier, "forwarded", source="counter")
        if outcome == "raise":
            raise RuntimeError("after the event was flushed")
        return {"ok": True}

    try:
        client = other.test_client()
        assert client.post("/api/v1/_test/unit-of-work/raise").status_code == 500
        assert status_of(code) == "received"
        assert client.post("/api/v1/_test/unit-of-work/return").status_code == 200
        assert status_of(code) == "forwarded"
    finally:
        with other.app_context():
            db.engine.dispose()


def test_discard_forgets_what_the_consumers_noted(app, catalogue):
    """A refused page form discards: the dossier, the intake its rollups noted and the notice
    it queued go with it, and the next commit writes none of them."""
    create_dossier(intake_data(), None)
    unit_of_work.discard()
    with unit_of_work.unit_of_work():
        pass
    assert count(Dossier) == 0
    assert db.session.scalar(select(func.coalesce(func.sum(DailyCount.taken), 0))) == 0
    assert count(Notification) == 0 and count(OutboxMessage) == 0


def test_what_the_consumers_noted_is_written_with_the_commit(app, catalogue):
    create_dossier(intake_data(), None)
    with unit_of_work.unit_of_work():
        pass
    assert db.session.scalar(select(func.sum(DailyCount.taken))) == 1
    # The notice of the intake, and the one delivery task the transaction enqueued for it.
    assert count(Notification) == 1
    assert db.session.scalars(select(OutboxMessage.task)).all() == ["notifications.deliver"]


def status_of(code: str) -> str:
    db.session.rollback()  # a read of its own: it sees what the requests committed since
    return db.session.scalar(select(Dossier.status).where(Dossier.code == code))
