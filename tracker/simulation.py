"""Demo only: a make-believe post and agency, so that `make run` shows statuses moving on their
own. Never active in production.

Each run (the beat task `demo.simulate`, on when DEMO_SIMULATION=1, which `make run` sets) takes
a few open dossiers and sends the next plausible step of each through the real paths: the
agency's decisions and the post's tracking scans as feed batches (stored, then applied by a
worker like any feed), the hand-over to the agency as the clerk's own event, with the
hand-over record the office's demo clerk prints (the agency's `processing` accepts its lines).
Hotline calls due today move too (`demo_pickups.move_pickups`): assigned by the office's
clerk, then visited by its postman.
"""

from __future__ import annotations

import logging
import random
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from tracker.accounts.models import User
from tracker.calendar import add_working_days, today_vn, utcnow
from tracker.demo import demo_receiver
from tracker.demo_pickups import move_pickups
from tracker.dossiers.lifecycle import TERMINAL
from tracker.dossiers.models import Dossier
from tracker.dossiers.operations import record_event
from tracker.extensions import db
from tracker.feeds.operations import receive_batch
from tracker.feeds.schemas import check_events
from tracker.handovers.operations import make_records

log = logging.getLogger(__name__)

# The agency's next decision after each status it handles: (status, weight).
AGENCY_NEXT: dict[str, list[tuple[str, int]]] = {
    "forwarded": [("processing", 9), ("supplement_required", 1)],
    "processing": [("result_ready", 8), ("supplement_required", 1), ("rejected", 1)],
    "supplement_required": [("processing", 1)],
}
# The post's next tracking scan on the way back: (raw code, weight).
POSTAL_NEXT: dict[str, list[tuple[str, int]]] = {
    "result_ready": [("EMA", 1)],
    "rejected": [("EMA", 1)],
    "result_collected": [("EMC", 1), ("EDG", 3)],
    "out_for_delivery": [("EMI", 5), ("EMH", 1)],
    "delivery_failed": [("EDG", 3), ("RTS", 1)],
}
# A failed delivery: the post's coded reason and its words (the note); a return: its words.
FAILURES = (
    ("absent", "Người nhận vắng nhà"),
    ("wrong_address", "Sai địa chỉ, không liên lạc được người nhận"),
)


def simulate(rng: random.Random | None = None, per_run: int = 4) -> dict[str, int]:
    """Move up to `per_run` open dossiers one step; returns how many steps of each kind."""
    rng = rng or random.Random()
    moved = {"counter": 0, "agency": 0, "postal": 0, "pickups": move_pickups(rng)}
    agency: list[dict[str, Any]] = []
    postal: list[dict[str, Any]] = []
    forwarded: dict[int, list[Dossier]] = {}
    for dossier in _open_dossiers(per_run):
        if dossier.status == "received":
            record_event(dossier, "forwarded", source="counter", office_id=dossier.office_id)
            forwarded.setdefault(dossier.office_id, []).append(dossier)
            moved["counter"] += 1
        elif dossier.status in AGENCY_NEXT and dossier.service_form != "return_only":
            agency.append(_agency_event(rng, dossier))
        elif dossier.status == "registered":
            # The agency's system names a return registration by its own code.
            agency.append(
                _new_event(
                    agency_reference=dossier.agency_reference,
                    agency_code=dossier.agency.code,
                    status="result_ready",
                )
            )
        elif dossier.status in POSTAL_NEXT and dossier.service_form != "send_only":
            postal.append(_postal_event(rng, dossier))
    for source, events in (("agency", agency), ("postal", postal)):
        valid, errors = check_events(source, enumerate(events))
        if errors:
            log.warning("simulated %s events refused: %s", source, errors)
        if valid:
            receive_batch(source, valid, refused=0, submitted_by=None)
            moved[source] += len(valid)
    _handover_records(forwarded)
    return moved


def _handover_records(forwarded: dict[int, list[Dossier]]) -> None:
    """Each office's demo clerk prints the hand-over records of what went to the agencies (one
    per agency); an office without an active clerk hands over without one."""
    if not forwarded:
        return
    clerks = db.session.scalars(
        select(User)
        .where(User.role == "clerk", User.active.is_(True), User.office_id.in_(forwarded))
        .order_by(User.id)
    )
    by_office: dict[int, User] = {}
    for clerk in clerks:
        by_office.setdefault(clerk.office_id, clerk)
    for office_id, dossiers in forwarded.items():
        if office_id in by_office:
            make_records("forward", dossiers, by_office[office_id], f"demo-{uuid.uuid4().hex}")


def enabled() -> bool:
    config = current_app.config
    return bool(config["DEMO_SIMULATION"]) and config["ENV_NAME"] != "production"


def _open_dossiers(limit: int) -> list[Dossier]:
    # Random picks among open dossiers (the demo database is small), each locked like any
    # writer would: a worker may be applying a feed batch to it.
    query = (
        select(Dossier.id)
        .where(Dossier.status.not_in(TERMINAL))
        .order_by(func.random())
        .limit(limit)
    )
    ids = sorted(db.session.scalars(query))
    return list(
        db.session.scalars(
            select(Dossier)
            .where(Dossier.id.in_(ids))
            .order_by(Dossier.id)
            .with_for_update(of=Dossier)
        ).unique()
    )


def _agency_event(rng: random.Random, dossier: Dossier) -> dict[str, Any]:
    status = _pick(rng, AGENCY_NEXT[dossier.status])
    event = _new_event(dossier_code=dossier.code, status=status)
    if status == "processing" and dossier.appointment_date is None:
        event["appointment_date"] = add_working_days(today_vn(), 5).isoformat()
    if status == "supplement_required":
        event["note"] = "Bổ sung bản sao giấy khai sinh"
    return event


def _postal_event(rng: random.Random, dossier: Dossier) -> dict[str, Any]:
    code = _pick(rng, POSTAL_NEXT[dossier.status])
    event = _new_event(item_number=dossier.postal_item_number, code=code)
    if code == "EMH":
        event["failure_reason"], event["note"] = rng.choice(FAILURES)
    elif code == "RTS":
        event["note"] = rng.choice(FAILURES)[1]
    elif code == "EMI":
        # This make-believe post says who signed for the result (the real one seldom does).
        receiver = demo_receiver(dossier)
        event["receiver_relation"], event["receiver_name"] = receiver["relation"], receiver["name"]
    return event


def _new_event(**fields: Any) -> dict[str, Any]:
    return {"event_id": f"sim-{uuid.uuid4()}", **fields, "occurred_at": utcnow().isoformat()}


def _pick(rng: random.Random, choices: list[tuple[str, int]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]
