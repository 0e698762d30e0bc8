"""Read side: the pickups a staff user may see, one by reference or a page of them, and a
request's visits."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, case, select

from tracker.accounts.models import User
from tracker.accounts.visibility import visible_to
from tracker.catalogue.models import Office
from tracker.dossiers.queries import id_of, keyset_page
from tracker.errors import NotFound, Phrase
from tracker.extensions import db
from tracker.pickups.lifecycle import SLOTS
from tracker.pickups.models import Pickup, PickupVisit
from tracker.pickups.references import normalise_reference


def scope(query: Select, user: User) -> Select:
    """Restrict a pickup query to what `user` may see: clerks and postmen their office's."""
    return visible_to(user, query, office=Pickup.office_id)


def get_pickup(ref: str, user: User, *, for_update: bool = False) -> Pickup:
    """The pickup `ref` names if `user` may see it; otherwise 404, exactly as a missing one."""
    reference = normalise_reference(ref)
    if reference is None:
        raise NotFound(Phrase("no pickup with reference %(ref)s", ref=ref[:40]))
    query = scope(select(Pickup).where(Pickup.reference == reference), user)
    if for_update:
        query = query.with_for_update(of=Pickup)
    pickup = db.session.scalar(query)
    if pickup is None:
        raise NotFound(Phrase("no pickup with reference %(ref)s", ref=reference))
    return pickup


def list_pickups(user: User, args: dict[str, Any]) -> tuple[list[Pickup], str | None]:
    """One page of the pickups in `user`'s scope, newest first (keyset pagination)."""
    query = scope(select(Pickup), user)
    if "office" in args:
        query = query.where(Pickup.office_id == id_of(Office, args["office"], "office"))
    if "day" in args:
        query = query.where(Pickup.day == args["day"])
    if "state" in args:
        query = query.where(Pickup.state == args["state"])
    if "postman" in args:
        query = query.where(postman_filter(args["postman"], user))
    return keyset_page(query, Pickup.id, args)


def postman_filter(name: str, user: User):
    """The condition of `?postman=`: `me` (the caller's), `none` (unassigned) or a username
    (an unknown one matches nothing: the filter says nothing of who exists)."""
    if name == "me":
        return Pickup.postman_id == user.id
    if name == "none":
        return Pickup.postman_id.is_(None)
    named = select(User.id).where(User.username == name).scalar_subquery()
    return Pickup.postman_id == named


def list_visits(pickup: Pickup) -> list[PickupVisit]:
    """A request's visits, in the order they were recorded."""
    query = select(PickupVisit).where(PickupVisit.pickup_id == pickup.id)
    return list(db.session.scalars(query.order_by(PickupVisit.id)))


def pickups_of_day(user: User, day: date) -> list[Pickup]:
    """The pickups of `day` in `user`'s scope in the order of a round: by slot, then reference."""
    slot_order = case({code: rank for rank, code in enumerate(SLOTS)}, value=Pickup.slot)
    query = scope(select(Pickup).where(Pickup.day == day), user)
    return list(db.session.scalars(query.order_by(slot_order, Pickup.reference)))


def office_postmen(office_ids: set[int]) -> dict[int, list[User]]:
    """The active postmen of each office, by name: who may be assigned its pickups."""
    if not office_ids:
        return {}
    query = (
        select(User)
        .where(User.role == "postman", User.active.is_(True), User.office_id.in_(office_ids))
        .order_by(User.full_name, User.username)
    )
    found: dict[int, list[User]] = {office_id: [] for office_id in office_ids}
    for postman in db.session.scalars(query):
        found[postman.office_id].append(postman)
    return found
