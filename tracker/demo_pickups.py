"""Demo only: hotline 1022 calls for `make run`, and the make-believe postmen who answer them.

`seed_pickups` records a few calls through the hotline's own operation (`request_pickup`) in the
slots still ahead (today's where one is left, else the next working day's), and the clerks of the
offices assign half of them to their postman. `move_pickups` (from the simulation's beat task)
then takes a due request one step at a time through the same operations as the pages: assigned
by the office's clerk, visited by the postman, who collects the dossier at the door (the intake
filled from the call) or finds nobody home and moves it to the next working day.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime

from sqlalchemy import select

from tracker.accounts.models import User
from tracker.calendar import VN_TZ, add_working_days, is_working_day, today_vn, utcnow
from tracker.catalogue.models import Procedure
from tracker.extensions import db
from tracker.pickups import lifecycle
from tracker.pickups.models import Pickup
from tracker.pickups.operations import assign_pickup, record_visit, request_pickup
from tracker.pickups.queries import office_postmen

# Caller, mobile, street, commune (served by 810000 or 813000 in the sample catalogue), note.
CALLS = (
    ("Trần Thị Lan", "0912 000 101", "15 Phan Trung, khu phố 2", "26041", "Gọi trước 15 phút"),
    ("Lê Văn Hùng", "0983 000 202", "8 Đồng Khởi, khu phố 5", "26043", None),
    ("Phạm Thị Ngọc", "0908 000 303", "120 Bùi Văn Hòa", "26044", "Nhà có chó, bấm chuông"),
    ("Nguyễn Hữu Phước", "0938 000 404", "3 Hùng Vương", "26046", None),
    ("Đặng Thị Hoa", "0977 000 505", "27 Nguyễn Văn Cừ", "26047", "Chỉ ở nhà buổi sáng"),
    ("Võ Minh Tâm", "0916 000 606", "44 Võ Thị Sáu", "26041", None),
)
# A visit that finds nobody home, one in so many.
ABSENT_ONE_IN = 6


def seed_pickups(hotline: User, rng: random.Random) -> int:
    """The demo calls in the slots ahead; every other one assigned by its office's clerk to
    the office's postman. Returns how many calls were recorded."""
    slots = slots_ahead(utcnow())
    procedures = _procedures()
    for index, (caller, phone, street, commune, note) in enumerate(CALLS):
        day, slot = slots[index % len(slots)]
        procedure = rng.choice(procedures)
        pickup = request_pickup(
            {
                "caller_name": caller,
                "phone": phone.replace(" ", ""),
                "address": {"street": street, "commune_code": commune},
                "service_form": "two_way" if procedure.allows("two_way") else "send_only",
                "procedure_code": procedure.code,
                "day": day,
                "slot": slot,
                "note": note,
            },
            hotline,
        )
        postman = _postman_of(pickup)
        if index % 2 == 0 and postman is not None:
            assign_pickup(pickup, postman, pickup.version, _clerk_of(pickup) or hotline)
    return len(CALLS)


def has_calls_ahead() -> bool:
    """Whether a request is still open for today or later (a demo database from another day
    has none, and gets new calls)."""
    query = select(Pickup.id).where(
        Pickup.day >= today_vn(), Pickup.state.in_(lifecycle.OPEN_STATES)
    )
    return db.session.scalar(query.limit(1)) is not None


def move_pickups(rng: random.Random, per_run: int = 2) -> int:
    """Move up to `per_run` requests due today or earlier one step: assigned to the office's
    postman, or visited by that postman. Returns how many moved."""
    query = (
        select(Pickup)
        .where(Pickup.state.in_(lifecycle.OPEN_STATES), Pickup.day <= today_vn())
        .order_by(Pickup.day, Pickup.id)
        .limit(per_run)
        .with_for_update(of=Pickup)
    )
    moved = 0
    for pickup in db.session.scalars(query).unique():
        postman = _postman_of(pickup)
        if postman is None:
            continue
        if pickup.state == "requested":
            clerk = _clerk_of(pickup)
            if clerk is not None:
                assign_pickup(pickup, postman, pickup.version, clerk)
                moved += 1
            continue
        record_visit(pickup, _visit(rng), pickup.postman or postman)
        moved += 1
    return moved


def slots_ahead(now: datetime) -> list[tuple[date, str]]:
    """The slots whose end is still ahead today (on a working day), then the next working
    day's two: where the demo's calls go."""
    today = now.astimezone(VN_TZ).date()
    ahead = []
    if is_working_day(today):
        ahead = [
            (today, code)
            for code, slot in lifecycle.SLOTS.items()
            if now.astimezone(VN_TZ).time() < slot.end
        ]
    following = add_working_days(today, 1)
    return ahead + [(following, code) for code in lifecycle.SLOTS]


def _visit(rng: random.Random) -> dict:
    key = f"sim-{uuid.uuid4()}"
    if rng.randrange(ABSENT_ONE_IN) == 0:
        day, slot = slots_ahead(utcnow())[-2]  # the next working day's morning
        return {
            "outcome": "not_collected",
            "reason": "absent",
            "day": day,
            "slot": slot,
            "visit_key": key,
        }
    return {"outcome": "collected", "intake": {}, "visit_key": key}


def _postman_of(pickup: Pickup) -> User | None:
    postmen = office_postmen({pickup.office_id})[pickup.office_id]
    return postmen[0] if postmen else None


def _clerk_of(pickup: Pickup) -> User | None:
    query = select(User).where(
        User.role == "clerk", User.active.is_(True), User.office_id == pickup.office_id
    )
    return db.session.scalars(query.order_by(User.id)).first()


def _procedures() -> list[Procedure]:
    """The sample procedures a postman can collect (sent in, maybe returned by post)."""
    today = today_vn()
    procedures = db.session.scalars(select(Procedure).order_by(Procedure.code))
    return [
        p
        for p in procedures
        if p.is_active_on(today)
        and p.agency.is_active_on(today)
        and (p.allows("two_way") or p.allows("send_only"))
    ]
