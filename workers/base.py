"""The task base class: an app context per task, one transaction, outbox bookkeeping, leases."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task
from flask import current_app, has_app_context

log = logging.getLogger(__name__)


class TrackerTask(Task):
    """Runs the task in the Flask app context and owns its transaction.

    - one unit of work (`tracker.unit_of_work`): commit on success, rollback on error;
      a task that commits per chunk opens a unit per chunk inside it;
    - `outbox_id` (added by the outbox when it publishes) is marked done in the same commit as
      the work, so a message is done exactly when its work is;
    - `lease_seconds` set on a task: the run holds a named lease in the database, and a second
      run that finds it held returns at once (periodic tasks never overlap);
    - `retry_backoff` with jitter on the errors listed in `autoretry_for`.
    """

    abstract = True
    lease_seconds: int | None = None
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from tracker.extensions import db
        from tracker.outbox import operations as outbox
        from tracker.unit_of_work import unit_of_work

        outbox_id = kwargs.pop("outbox_id", None)
        # Called inline (tests, `flask` commands), the task joins the app already running;
        # in a worker there is none, and the app the Celery app was made for is used.
        flask_app = (
            current_app._get_current_object() if has_app_context() else self.app.flask_app  # type: ignore[attr-defined]
        )
        with flask_app.app_context():
            lease = self.name if self.lease_seconds else None
            if lease and not outbox.acquire_lease(lease, timedelta(seconds=self.lease_seconds)):
                # A leased task sweeps whatever is due: the run holding the lease does this
                # message's work too, so the message is done (else the relay repeats it).
                log.info("task %s skipped: another run holds its lease", self.name)
                if outbox_id is not None:
                    with unit_of_work():
                        outbox.mark_done(outbox_id)
                db.session.remove()
                return None
            try:
                with unit_of_work():
                    result = self.run(*args, **kwargs)
                    if outbox_id is not None:
                        outbox.mark_done(outbox_id)
                return result
            except Exception as exc:
                if outbox_id is not None:
                    outbox.mark_failed(outbox_id, f"{type(exc).__name__}: {exc}")
                raise
            finally:
                db.session.remove()
                if lease:
                    outbox.release_lease(lease)
