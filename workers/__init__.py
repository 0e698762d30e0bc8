"""The Celery side: the app bound to the Flask factory, the task base, and the task modules.

Tasks are thin: they take ids, call one operation, and leave the transaction to the base class.
Run a worker with `celery -A workers.main worker` and the one beat with `celery -A workers.main
beat` (see the Makefile and README).
"""

from __future__ import annotations

from pathlib import Path

from celery import Celery
from flask import Flask

from workers.base import TrackerTask
from workers.schedule import beat_schedule

TASK_MODULES = (
    "workers.outbox",
    "workers.feeds",
    "workers.sweeps",
    "workers.notifications",
    "workers.imports",
    "workers.demo",
    "workers.reports",
    "workers.status_out",
)


def celery_init_app(app: Flask, **overrides: object) -> Celery:
    """A Celery app whose tasks run inside `app`'s context; stored in `app.extensions`.

    `overrides` replace settings of `app.config["CELERY"]` (tests point the broker elsewhere).
    """
    celery = Celery(app.name, task_cls=TrackerTask, include=list(TASK_MODULES))
    settings = {**app.config["CELERY"], **overrides}
    if settings["broker_url"] == "filesystem://":
        # The server-less broker of the embedded default keeps its messages in these folders.
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            Path(settings["broker_transport_options"][key]).mkdir(parents=True, exist_ok=True)
    celery.config_from_object(settings)
    celery.conf.beat_schedule = beat_schedule(app.config)
    celery.flask_app = app  # type: ignore[attr-defined]
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
