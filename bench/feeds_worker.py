"""The feed benchmark's worker app: the tracker's own Celery app, with notification deliveries
routed to a queue of their own. Run with `-Q tracker`, the worker then only applies feeds (and
whatever else is in the main queue), as in a deployment where deliveries, which wait on an SMS
gateway, have workers of their own. `bench.feeds` measures both ways."""

from __future__ import annotations

from workers.main import celery, flask_app

celery.conf.task_routes = {"notifications.*": {"queue": "notifications"}}

__all__ = ["celery", "flask_app"]
