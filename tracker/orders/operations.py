"""Collection orders: an agency's system tells the post that results are ready at its desk, for
the post to collect and deliver (one-way, `return_only`). Operations flush, never commit.

An order is keyed by (agency, agency_reference), the agency's own dossier code:
- no dossier of the agency has that reference: a new one-way dossier is logged through the
  intake's own operations, as a return registration (`create_dossier(...,
  initial_status="registered")`) whose result is ready at `ready_at` (`record_event` to
  `result_ready`): it waits for the clerks' collection run like any registration's result, and
  counts when the post collects it (`tracker.reports.rollups`), never at order time;
- the agency's return registration still `registered`: it is moved to `result_ready`;
- any other dossier (ordered before, already collected or delivered): answered as it is,
  `existing`, with the fields where the order differs (`changed`); nothing is modified.
Each order is placed in a savepoint of its own: a refused order leaves nothing behind and the
others are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tracker.accounts.models import User
from tracker.audit.operations import record_audit
from tracker.catalogue.models import Agency
from tracker.catalogue.queries import find_procedure
from tracker.dossiers import lifecycle
from tracker.dossiers import operations as dossiers
from tracker.dossiers.models import Dossier
from tracker.errors import DomainError, Phrase, ValidationFailed
from tracker.extensions import db
from tracker.orders import signals
from tracker.orders.schemas import OrderError, check_orders

log = logging.getLogger(__name__)

SERVICE_FORM = "return_only"
SOURCE = "agency_order"
RESULT_READY = "result_ready"
# What the intake names and what the order calls it.
_FIELDS = {
    "received_at": "ready_at",
    "occurred_at": "ready_at",
    "service_form": "procedure_code",
    "applicant.name": "recipient.name",
    "applicant.phone": "recipient.phone",
}


@dataclass
class Placed:
    """An accepted order: its dossier, what the order did, and where it differs from the
    dossier already known."""

    index: int
    dossier: Dossier
    outcome: str  # created | moved | existing
    changed: list[str] = field(default_factory=list)


@dataclass
class Received:
    """What became of a batch: its counts, the accepted orders, the errors of the refused."""

    counts: dict[str, int]
    placed: list[Placed]
    errors: list[OrderError]


def receive_orders(orders: list[Any], agency: Agency, actor: User) -> Received:
    """Check and place each order of `agency`'s batch (raw, as sent) on its own; audit the
    batch once."""
    valid, errors = check_orders(enumerate(orders))
    placed, refusals = place_orders(valid, agency, actor)
    errors = sorted([*errors, *refusals], key=lambda error: error.index)
    counts = record_batch(agency, actor, placed, refused=len({error.index for error in errors}))
    return Received(counts, placed, errors)


def place_orders(
    orders: list[tuple[int, dict[str, Any]]], agency: Agency, actor: User
) -> tuple[list[Placed], list[OrderError]]:
    """Place each (index, loaded order) of `agency`'s batch in a savepoint of its own: the
    accepted orders, and the errors of those refused (by index and field)."""
    placed: list[Placed] = []
    errors: list[OrderError] = []
    for index, order in orders:
        try:
            placed.append(_place_in_savepoint(index, order, agency, actor))
        except DomainError as exc:
            errors.extend(_errors_of(index, order["agency_reference"], exc))
    return placed, errors


def _place_in_savepoint(index: int, order: dict[str, Any], agency: Agency, actor: User) -> Placed:
    try:
        with db.session.begin_nested():
            return place_order(index, order, agency, actor)
    except IntegrityError:
        # Another batch logged the same reference between our look-up and our insert: its
        # dossier is the answer.
        log.info("order %s of agency %s: logged meanwhile by another batch", index, agency.code)
        with db.session.begin_nested():
            return place_order(index, order, agency, actor)


def place_order(index: int, order: dict[str, Any], agency: Agency, actor: User) -> Placed:
    """Place one order of `agency` (`OrderIn`'s data); raises a DomainError naming the field
    when it is refused."""
    _check_procedure(order["procedure_code"], agency)
    dossier = _find(agency, order["agency_reference"])
    if dossier is None:
        return Placed(index, _create(order, actor), "created")
    changed = differences(dossier, order)
    if dossier.service_form == SERVICE_FORM and dossier.status == lifecycle.REGISTERED:
        _move(dossier, order, actor)
        return Placed(index, dossier, "moved", changed)
    if dossier.status == "withdrawn":
        raise ValidationFailed.field(
            "agency_reference",
            Phrase(
                "dossier %(code)s was withdrawn by the citizen: nothing to collect",
                code=dossier.code,
            ),
        )
    return Placed(index, dossier, "existing", changed)


def _check_procedure(code: str, agency: Agency) -> None:
    """An agency orders the results of its own procedures that allow return by post (the
    procedure's active period is the intake's to check, on the day the result was ready)."""
    procedure = find_procedure(code)
    if procedure is None or procedure.agency_id != agency.id:
        raise ValidationFailed.field(
            "procedure_code",
            Phrase("no procedure %(code)s of agency %(agency)s", code=code, agency=agency.code),
        )
    if not procedure.allows(SERVICE_FORM):
        raise ValidationFailed.field(
            "procedure_code",
            Phrase("procedure %(code)s does not allow return by post", code=procedure.code),
        )


def _find(agency: Agency, reference: str) -> Dossier | None:
    """The agency's dossier with this reference, locked (no other agency's is ever found)."""
    query = (
        select(Dossier)
        .where(Dossier.agency_id == agency.id, Dossier.agency_reference == reference)
        .with_for_update(of=Dossier)
    )
    return db.session.scalars(query).unique().one_or_none()


def _create(order: dict[str, Any], actor: User) -> Dossier:
    """A new one-way dossier, registered and ready at `ready_at`, through the intake's own
    operations; the citizen's SMS carries its code and lookup link (`signals.order_created`)."""
    recipient = order["recipient"]
    intake = {
        "service_form": SERVICE_FORM,
        "procedure_code": order["procedure_code"],
        "office_code": order["office_code"],
        "applicant": {"name": recipient["name"], "phone": recipient["phone"]},
        "delivery_address": order["delivery_address"],
        "fee_vnd": order["fee_vnd"],
        "received_at": order["ready_at"],
        "agency_reference": order["agency_reference"],
        "note": order.get("note"),
        "documents": [],
    }
    dossier, secret = dossiers.create_dossier(
        intake, actor, source=SOURCE, initial_status=lifecycle.REGISTERED
    )
    ready = dossiers.record_event(
        dossier, RESULT_READY, source=SOURCE, actor=actor, occurred_at=dossier.received_at
    )
    signals.order_created.send(dossier, event=ready.event, secret=secret)
    return dossier


def _move(dossier: Dossier, order: dict[str, Any], actor: User) -> None:
    """The agency's return registration: its result is ready (the registration keeps its office,
    recipient and address: the post took those from the citizen)."""
    ready_at: datetime = order["ready_at"]
    if ready_at < dossier.status_changed_at:
        raise ValidationFailed.field(
            "ready_at",
            Phrase(
                "must not be before dossier %(code)s was registered (%(moment)s)",
                code=dossier.code,
                moment=dossier.status_changed_at.isoformat(),
            ),
        )
    dossiers.record_event(dossier, RESULT_READY, source=SOURCE, actor=actor, occurred_at=ready_at)


def differences(dossier: Dossier, order: dict[str, Any]) -> list[str]:
    """The order's fields whose value is not the dossier's (a repeat that says something else)."""
    recipient = order["recipient"]
    pairs = {
        "procedure_code": (dossier.procedure.code, order["procedure_code"]),
        "office_code": (dossier.office.code, order["office_code"]),
        "recipient.name": (dossier.applicant_name, recipient["name"]),
        "recipient.phone": (dossier.applicant_phone, recipient["phone"]),
        "delivery_address": (dossier.delivery_address, order["delivery_address"]),
        "fee_vnd": (dossier.fee_vnd, order["fee_vnd"]),
    }
    if dossier.result_at is not None:
        pairs["ready_at"] = (dossier.result_at, order["ready_at"])
    return [name for name, (known, sent) in pairs.items() if known != sent]


def _errors_of(index: int, reference: str, exc: DomainError) -> list[OrderError]:
    if not exc.fields:
        return [OrderError(index, "order", str(exc.message), reference)]
    return [
        OrderError(index, _FIELDS.get(name, name), str(m), reference)
        for name, messages in exc.fields.items()
        for m in messages
    ]


def record_batch(agency: Agency, actor: User, placed: list[Placed], refused: int) -> dict[str, int]:
    """The batch's counts, audited once (each dossier's creation and event are audited too)."""
    counts = {outcome: 0 for outcome in ("created", "moved", "existing")}
    for order in placed:
        counts[order.outcome] += 1
    counts["refused"] = refused
    record_audit(actor.id, "orders.receive", "agency", agency.code, after=counts)
    log.info("orders of agency %s: %s", agency.code, counts)
    return counts
