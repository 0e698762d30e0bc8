"""flask demo seed: SAMPLE data for a first look, never for a real service.

Loads the sample Đồng Nai catalogue, creates demo users and a few hundred dossiers spread over the
last ~14 months, the 2017 baseline of the seed document (where the growth reports start), and the
go-live date with baselines for the days before it (`tracker.demo_reports`).
Dossiers go through the same operations as real ones (`create_dossier`, `record_event`), so
every status they reach is one the transition table allows, with the same clock, codes and
audit entries. A fixed random seed gives the same data on every run, dated
relative to the day it runs.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from tracker.accounts.models import User
from tracker.accounts.operations import create_user
from tracker.calendar import VN_TZ, local_date, utcnow
from tracker.catalogue.models import Office, Procedure
from tracker.catalogue.operations import load_demo_catalogue
from tracker.demo_pickups import has_calls_ahead, seed_pickups
from tracker.demo_reports import BASELINE, BASELINE_YEAR, figures_of, seed_baseline, seed_go_live
from tracker.dossiers.lifecycle import INITIAL_STATUSES, REGISTERED, STATUSES, TRANSITIONS
from tracker.dossiers.models import Dossier
from tracker.dossiers.operations import AGENCY_STATUSES, create_dossier, record_event
from tracker.dossiers.s10 import check_digit
from tracker.errors import DomainError
from tracker.extensions import db
from tracker.unit_of_work import unit_of_work

demo_cli = click.Group("demo", help="Sample data for a first look.")

SEED = 20171220  # the date of the seed document
WINDOW = timedelta(days=425)  # about 14 months
# Volume grows about 30% a year, as the province's plan asks: later days are a little busier.
GROWTH_OVER_WINDOW = 0.36

# username, role, full name, office code, agency code
DEMO_USERS = (
    ("admin", "admin", "Quản trị hệ thống (demo)", None, None),
    ("manager", "manager", "Lãnh đạo Sở Thông tin và Truyền thông (demo)", None, None),
    ("clerk_bienhoa", "clerk", "Nguyễn Thị Thu (demo)", "810000", None),
    ("clerk_longkhanh", "clerk", "Trần Văn Bình (demo)", "813000", None),
    ("clerk_pac", "clerk", "Lê Thị Hồng (demo)", "TTHCC", None),
    ("clerk_hotline", "clerk", "Phạm Minh Tuấn (demo)", "HL1022", None),
    ("officer_tuphap", "agency", "Võ Thanh Hà (demo)", None, "000.00.01.H19"),
    ("hotline", "hotline", "Đỗ Thị Mai (demo)", None, None),
    ("postman_bienhoa", "postman", "Huỳnh Văn Phúc (demo)", "810000", None),
    ("postman_longkhanh", "postman", "Lý Thành Long (demo)", "813000", None),
)

DESK_CHANNELS = frozenset({"provincial_pac", "district_one_stop", "commune_pasc"})

# Hours between the previous event and the arrival in a status: (shortest, longest).
DELAY_HOURS = {
    "forwarded": (2, 30),
    "processing": (4, 48),
    "supplement_required": (24, 120),
    "withdrawn": (24, 120),
    "result_collected": (12, 72),
    "out_for_delivery": (2, 24),
    "delivered": (1, 8),
    "delivery_failed": (1, 8),
    "returned_to_agency": (72, 168),
    "collected_in_person": (24, 168),
}
# Where the previous status changes the wait: the citizen's supplement, a second delivery round.
DELAY_AFTER = {
    ("supplement_required", "processing"): (48, 240),
    ("delivery_failed", "out_for_delivery"): (20, 48),
}
POSTAL_FEED = frozenset({"out_for_delivery", "delivered", "delivery_failed", "returned_to_agency"})
AGENCY_SIDE = AGENCY_STATUSES | {"collected_in_person"}

# Made-up applicants and addresses; one string per list, a literal would take a line per word.
FAMILY = "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý".split()  # noqa: SIM905
MIDDLE = "Văn Thị Hữu Đức Minh Ngọc Thanh Quốc Thu Hoàng Kim Gia".split()  # noqa: SIM905
GIVEN = (  # noqa: SIM905
    "An Bình Cường Dũng Hà Hải Hạnh Hòa Hùng Hương Khánh Lan Linh Long Mai Nam Nga Phong "
    "Phúc Quân Sơn Tâm Thảo Trang Tuấn Vy Yến"
).split()
STREETS = (  # noqa: SIM905
    "Đường 30 Tháng 4|Phạm Văn Thuận|Đồng Khởi|Nguyễn Ái Quốc|Hà Huy Giáp|Võ Thị Sáu|"
    "Cách Mạng Tháng Tám|Quốc lộ 1A|Quốc lộ 51|Hùng Vương"
).split("|")
WARDS = (  # noqa: SIM905
    "phường Trấn Biên|phường Tam Hiệp|phường Long Bình|phường Hố Nai|phường Long Khánh|"
    "phường Bình Lộc|xã Trảng Bom|xã Nhơn Trạch|xã Xuân Lộc|xã Định Quán"
).split("|")
PHONE_PREFIXES = ("090", "091", "093", "094", "097", "098", "032", "035", "038", "077", "086")
# A failed delivery's coded reason and the postman's note (needed only for "other").
FAILURES = (
    ("absent", "Không có người nhận"),
    ("wrong_address", "Sai địa chỉ"),
    ("other", "Người nhận hẹn phát lại"),
)
# Who took a delivered result, and how often: mostly the applicant.
RECEIVERS = {"applicant": 6, "family": 2, "authorised": 1, "organisation": 1}


@dataclass
class Plan:
    """One demo dossier decided in advance: what, where, and when each status is reached."""

    received_at: datetime
    service_form: str
    office: Office
    procedure: Procedure
    story: list[str]  # statuses from the initial one on
    offsets: list[timedelta]  # time from receipt to each status of the story


@dataclass
class Cast:
    admin: User
    manager: User
    officer: User
    hotline: User
    clerks: dict[int, User]  # by office id

    def counter_actor(self, office: Office) -> User:
        return self.clerks.get(office.id, self.admin)


@demo_cli.command("seed")
@click.option(
    "--dossiers",
    "count",
    default=300,
    show_default=True,
    type=click.IntRange(len(STATUSES), 5000),
    help="How many demo dossiers.",
)
@click.option("--password", help="Password for the demo users (default: a random one, printed).")
@with_appcontext
def seed(count: int, password: str | None) -> None:
    """Load SAMPLE data: the Đồng Nai demo catalogue, demo users, dossiers and the 2017
    baseline. Idempotent."""
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("demo data is never loaded into a production database")
    existing = db.session.scalar(select(func.count()).select_from(Dossier))
    if existing:
        click.echo(f"the database already holds {existing} dossiers: demo data not loaded")
        # A demo database seeded before baselines (or go-live dates, pickup roles) existed gets
        # them now, and new calls when none is left ahead (a database from another day).
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        try:
            with unit_of_work():
                added = seed_baseline(None)
                went_live = seed_go_live(*_demo_pace(existing), None)
                cast, created = seed_users(password)
                calls = 0 if has_calls_ahead() else seed_pickups(cast.hotline, random.Random())
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        if added:
            click.echo(f"the {BASELINE_YEAR} baseline added")
        if went_live:
            click.echo(f"{went_live} added")
        if calls:
            click.echo(f"{calls} demo calls to hotline 1022 recorded for the slots ahead")
        if created:
            _echo_users(created, password if generated else None)
        return
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        with unit_of_work():  # all of it or nothing
            _, report = load_demo_catalogue()
            if not report.ok:
                raise click.ClickException(f"sample procedures did not load: {report.errors[0]}")
            cast, created = seed_users(password)
            baseline_added = seed_baseline(cast.manager)
            with _quiet("tracker.dossiers.operations"):  # a line per dossier would bury the rest
                statuses = seed_dossiers(count, cast, random.Random(SEED))
            went_live = seed_go_live(*_demo_pace(count), cast.manager)
            calls = seed_pickups(cast.hotline, random.Random(SEED))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"SAMPLE data loaded: {report.loaded} demo procedures, {count} demo dossiers")
    click.echo("  " + ", ".join(f"{status} {statuses[status]}" for status in STATUSES))
    if baseline_added:
        click.echo(f"  baseline {BASELINE_YEAR}: {figures_of(BASELINE)}")
    else:
        click.echo(f"  baseline {BASELINE_YEAR} already entered: kept as it is")
    if went_live:
        click.echo(f"  {went_live}")
    click.echo(f"  {calls} calls to hotline 1022 for the slots ahead, half assigned to postmen")
    _echo_users(created, password if generated else None)


def seed_users(password: str) -> tuple[Cast, list[User]]:
    """The demo users (existing usernames are kept as they are); returns the cast and new users."""
    created = []
    for username, role, full_name, office_code, agency_code in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.username == username)) is None:
            created.append(
                create_user(
                    username,
                    role,
                    password,
                    full_name=full_name,
                    office_code=office_code,
                    agency_code=agency_code,
                )
            )
    users = {u.username: u for u in db.session.scalars(select(User))}
    clerks = {u.office_id: u for u in users.values() if u.role == "clerk" and u.office_id}
    cast = Cast(users["admin"], users["manager"], users["officer_tuphap"], users["hotline"], clerks)
    return cast, created


def _demo_pace(count: int) -> tuple[date, float]:
    """The demo's first day (Vietnam time) and its pace of dossiers a day then: the random
    dossiers over the window, thinner at its start (`_received_at`)."""
    first = db.session.scalar(select(func.min(Dossier.received_at)))
    random_dossiers = max(count - len(STATUSES), 1)
    return local_date(first), random_dossiers / (WINDOW.days * (1 + GROWTH_OVER_WINDOW / 2))


def seed_dossiers(count: int, cast: Cast, rng: random.Random) -> Counter[str]:
    """`count` demo dossiers; every status is the current status of at least one of them."""
    now = utcnow()
    # `create_dossier` wants an office active today, so closed ones (the district desks) get none.
    offices = [
        o
        for o in db.session.scalars(select(Office).order_by(Office.code))
        if o.is_active_on(local_date(now))
    ]
    procedures = list(db.session.scalars(select(Procedure).order_by(Procedure.code)))
    plans = [
        _forced_plan(rng, status, offices[i % len(offices)], procedures, now)
        for i, status in enumerate(STATUSES)
    ]
    plans += [_random_plan(rng, offices, procedures, now) for _ in range(count - len(plans))]
    plans.sort(key=lambda plan: plan.received_at)  # codes then number each day in time order
    serial = rng.randrange(10_000_000, 80_000_000)
    statuses: Counter[str] = Counter()
    for index, plan in enumerate(plans):
        statuses[_run_plan(rng, plan, cast, serial + index, now)] += 1
    return statuses


def _forced_plan(
    rng: random.Random, status: str, office: Office, procedures: list[Procedure], now: datetime
) -> Plan:
    """A dossier whose current status is `status`, its last event a few days ago."""
    channel = office.channel.code
    forms = [f for f in TRANSITIONS if _reaches(f, status) and _office_weight(f, channel)]
    form = rng.choice(forms)
    story = _story(rng, form)
    while status not in story:
        story = _story(rng, form)
    story = story[: story.index(status) + 1]
    procedure, offsets = _timed(rng, form, procedures, story)
    received_at = now - offsets[-1] - timedelta(hours=rng.uniform(1, 240))
    return Plan(received_at, form, office, procedure, story, offsets)


def _random_plan(
    rng: random.Random, offices: list[Office], procedures: list[Procedure], now: datetime
) -> Plan:
    """A dossier received some time in the window; it will be followed as far as today allows."""
    form = rng.choices(("return_only", "two_way", "send_only"), weights=(7, 2, 1))[0]
    weights = [_office_weight(form, office.channel.code) for office in offices]
    office = rng.choices(offices, weights=weights)[0]
    story = _story(rng, form)
    procedure, offsets = _timed(rng, form, procedures, story)
    return Plan(_received_at(rng, now), form, office, procedure, story, offsets)


def _timed(
    rng: random.Random, form: str, procedures: list[Procedure], story: list[str]
) -> tuple[Procedure, list[timedelta]]:
    """A procedure allowing `form`, and the time from receipt to each status of `story`."""
    procedure = rng.choice([p for p in procedures if p.allows(form)])
    return procedure, _offsets(rng, story, procedure.working_days)


def _office_weight(form: str, channel: str) -> int:
    """One-way dossiers mostly start at the one-stop desks (the citizen hands the dossier in there
    and asks for the result by post); the hotline only picks dossiers up at home."""
    if form == "return_only":
        return 0 if channel == "hotline_1022" else 6 if channel in DESK_CHANNELS else 1
    return 1 if channel in DESK_CHANNELS else 3


def _reaches(form: str, status: str) -> bool:
    table = TRANSITIONS[form]
    return status in INITIAL_STATUSES[form] or any(status in after for after in table.values())


def _story(rng: random.Random, form: str) -> list[str]:
    """A plausible whole life of a dossier, from the post taking charge to a terminal status."""
    if form == "return_only":
        if rng.random() < 0.25:
            # A return registration at a one-stop desk: the post fetches the result later.
            if rng.random() < 0.05:
                return [REGISTERED, "withdrawn"]
            return [REGISTERED, "result_ready", "result_collected", *_delivery(rng)]
        return ["result_collected", *_delivery(rng)]
    path = ["received"]
    if rng.random() < 0.04:
        return [*path, "withdrawn"]
    path.append("forwarded")
    if rng.random() < 0.15:
        path.append("supplement_required")
        if rng.random() < 0.2:
            return [*path, "withdrawn"]
    path += ["processing", "rejected" if rng.random() < 0.07 else "result_ready"]
    if form == "send_only":
        return [*path, "collected_in_person"]
    return [*path, "result_collected", *_delivery(rng)]


def _delivery(rng: random.Random) -> list[str]:
    if rng.random() < 0.05:
        return ["delivered"]  # the citizen fetched it at the post office
    path = ["out_for_delivery"]
    for _attempt in range(2):
        if rng.random() < 0.85:
            return [*path, "delivered"]
        path.append("delivery_failed")
        if rng.random() < 0.4:
            return [*path, "returned_to_agency"]
        path.append("out_for_delivery")
    return [*path, "delivered"]


def _offsets(rng: random.Random, story: list[str], working_days: int) -> list[timedelta]:
    """Time from the first event to each status of `story`, strictly increasing."""
    offsets = [timedelta(0)]
    for previous, status in pairwise(story):
        if status in ("result_ready", "rejected"):
            # Some agencies finish early, some late: 40% to 125% of the statutory time.
            hours = working_days * rng.uniform(0.4, 1.25) * 24 * 7 / 5
        else:
            low, high = DELAY_AFTER.get((previous, status)) or DELAY_HOURS[status]
            hours = rng.uniform(low, high)
        offsets.append(offsets[-1] + timedelta(hours=hours))
    return offsets


def _received_at(rng: random.Random, now: datetime) -> datetime:
    position = rng.random()
    while rng.random() * (1 + GROWTH_OVER_WINDOW) > 1 + GROWTH_OVER_WINDOW * position:
        position = rng.random()
    day = (now - WINDOW * (1 - position)).astimezone(VN_TZ)
    opening = day.replace(hour=7, minute=30, second=0, microsecond=0)
    moment = opening + timedelta(minutes=rng.randrange(9 * 60))
    if moment > now:
        moment -= timedelta(days=1)
    return moment.astimezone(UTC)


def _run_plan(rng: random.Random, plan: Plan, cast: Cast, serial: int, now: datetime) -> str:
    registration = plan.story[0] == REGISTERED
    dossier, _secret = create_dossier(
        _dossier_data(rng, plan, serial),
        cast.counter_actor(plan.office),
        initial_status=REGISTERED if registration else None,
    )
    for status, offset in zip(plan.story[1:], plan.offsets[1:], strict=True):
        if plan.received_at + offset > now - timedelta(minutes=5):
            break  # the rest of the story has not happened yet
        _record(dossier, status, plan.received_at + offset, cast, rng)
    return dossier.status


def _record(dossier: Dossier, status: str, when: datetime, cast: Cast, rng: random.Random) -> None:
    if status in AGENCY_SIDE:
        # The demo officer records for their own agency; other agencies' systems push updates.
        own = cast.officer.agency_id == dossier.agency_id and status in AGENCY_STATUSES
        code = STATUSES[status].national_code
        raw_code = None if own or code is None else str(code)
        how = {"source": "agency", "actor": cast.officer if own else None, "raw_code": raw_code}
    elif status in POSTAL_FEED:
        how = {"source": "postal_feed", "office_id": dossier.office_id}
        if status == "delivery_failed":
            how["failure_reason"], how["note"] = rng.choice(FAILURES)
        elif status == "delivered":
            how["receiver"] = demo_receiver(dossier)
    else:
        actor = cast.counter_actor(dossier.office)
        how = {"source": "counter", "actor": actor, "office_id": dossier.office_id}
    record_event(dossier, status, occurred_at=when, **how)


def demo_receiver(dossier: Dossier) -> dict[str, str]:
    """Who took the result of a demo dossier: the applicant, or someone named for them. Drawn
    from the dossier's code, not the seed's generator, so the rest of the demo stays as it was."""
    rng = random.Random(dossier.code)
    relation = rng.choices(list(RECEIVERS), weights=list(RECEIVERS.values()))[0]
    if relation == "applicant":
        return {"relation": relation, "name": dossier.applicant_name}
    name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    return {"relation": relation, "name": name}


def _dossier_data(rng: random.Random, plan: Plan, serial: int) -> dict:
    digits = f"{serial:08d}"
    data = {
        "procedure_code": plan.procedure.code,
        "service_form": plan.service_form,
        "office_code": plan.office.code,
        "received_at": plan.received_at,
        "applicant": {
            "name": f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
            "phone": rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**7):07d}",
            "id_number": f"075{rng.randrange(4)}{rng.randrange(100):02d}{rng.randrange(10**6):06d}",
        },
        "postal_item_number": f"EB{digits}{check_digit(digits)}VN",
        "fee_vnd": plan.procedure.fee_vnd or 0,
    }
    if plan.story[0] == REGISTERED:
        data["agency_reference"] = f"DEMO-{digits}"  # the agency's own code, made up
    if plan.service_form != "send_only":
        data["delivery_address"] = (
            f"{rng.randrange(1, 300)} {rng.choice(STREETS)}, {rng.choice(WARDS)}, tỉnh Đồng Nai"
        )
    if plan.service_form != "return_only":
        # The procedure's own checklist where the catalogue has one, as a clerk's form starts.
        data["documents"] = [dict(document) for document in plan.procedure.documents] or [
            {"name": "Tờ khai / đơn đề nghị theo mẫu", "kind": "original", "count": 1},
            {"name": "Bản sao Căn cước công dân", "kind": "certified_copy", "count": 1},
        ]
    return data


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _echo_users(created: list[User], password: str | None) -> None:
    if not created:
        click.echo("demo users already exist: passwords unchanged")
        return
    click.echo(
        "DEMO ONLY - demo users (never use these accounts or this password on a real service):"
    )
    for user in created:
        where = user.office.name if user.office else user.agency.name if user.agency else ""
        click.echo(f"  {user.username:<16} {user.role:<8} {where}".rstrip())
    if password is not None:
        click.echo(f"  password of every demo user above (shown once, DEMO ONLY): {password}")
