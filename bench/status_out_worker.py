"""The status-out benchmark's worker app: the tracker's own Celery app, with status deliveries
routed to a queue of their own (`status_out`) and notifications to another that no benchmark
worker consumes. One worker applies the feed (`-Q tracker`), another sends (`-Q status_out`)."""

from __future__ import annotations

from workers.main import celery, flask_app

ROUTES = {
    "status_out.*": {"queue": "status_out"},
    "notifications.*": {"queue": "notifications"},
}
celery.conf.task_routes = ROUTES

__all__ = ["ROUTES", "celery", "flask_app"]
