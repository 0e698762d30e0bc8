"""The beat schedule. Exactly one beat runs (see README); periodic tasks also hold a lease."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab


def beat_schedule(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "outbox-relay": {"task": "outbox.relay", "schedule": float(config["OUTBOX_RELAY_SECONDS"])},
        "notifications-deliver": {"task": "notifications.deliver", "schedule": 30.0},
        "sweeps-overdue-stuck": {
            "task": "sweeps.mark_overdue_and_stuck",
            "schedule": crontab(minute=5),
        },
        "sweeps-reconcile": {"task": "sweeps.reconcile", "schedule": crontab(minute=35)},
        "imports-resume": {"task": "imports.resume_stalled", "schedule": 120.0},
    }
