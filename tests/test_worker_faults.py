"""Redis stops while clerks keep working: every request succeeds, and once Redis is back the
outbox drains through a real worker and its beat, and nothing is missing."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from tests.conftest import dossier_payload, find_redis_server, missing_service
from tests.servers import RedisServer
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.notifications.models import Notification
from tracker.outbox.models import OutboxMessage
from workers import celery_init_app

BEFORE, DURING = 3, 12


def _count(model, *where) -> int:
    db.session.expire_all()
    value = db.session.scalar(select(func.count()).select_from(model).where(*where))
    db.session.commit()
    return value


def _work(client, clerk, n: int) -> list[str]:
    """n dossiers logged and handed to the agency; every request must succeed."""
    codes = []
    for _ in range(n):
        created = client.post(
            "/api/v1/dossiers", json=dossier_payload(postal_item_number=None), headers=clerk.headers
        )
        assert created.status_code == 201, created.get_json()
        code = created.get_json()["code"]
        forwarded = client.post(
            f"/api/v1/dossiers/{code}/events", json={"status": "forwarded"}, headers=clerk.headers
        )
        assert forwarded.status_code == 201, forwarded.get_json()
        codes.append(code)
    return codes


def test_outbox_drains_after_redis_comes_back(app, client, clerk, start_worker):
    binary = find_redis_server()
    if binary is None:
        missing_service("redis-server", "apt-get install redis-server")
    redis = RedisServer(binary).start()
    celery = celery_init_app(app, broker_url=redis.url)
    try:
        worker = start_worker(beat=True, REDIS_URL=redis.url, OUTBOX_RELAY_SECONDS="1")
        codes = _work(client, clerk, BEFORE)
        worker.wait_for(lambda: _count(Notification, Notification.state == "sent") == BEFORE, 30)

        redis.stop(keep_directory=True)
        started = time.monotonic()
        codes += _work(client, clerk, DURING)
        # A broker that is down costs one failed connection attempt now and then, not a stalled
        # request each time (2 requests per dossier).
        assert time.monotonic() - started < 8
        assert _count(OutboxMessage, OutboxMessage.done_at.is_(None)) >= DURING

        redis.start()
        worker.wait_for(lambda: _count(OutboxMessage, OutboxMessage.done_at.is_(None)) == 0, 60)
        worker.wait_for(
            lambda: _count(Notification, Notification.state == "sent") == BEFORE + DURING, 60
        )
    finally:
        celery.close()
        redis.stop()

    total = BEFORE + DURING
    assert _count(Dossier, Dossier.code.in_(codes)) == total
    assert _count(StatusEvent) == 2 * total
    # One "received" message per dossier, each sent exactly once.
    assert _count(Notification) == total
    assert _count(Notification, Notification.state != "sent") == 0
