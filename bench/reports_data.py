"""The growth-report benchmark's data: N dossiers with their status events, from 1 January of last
year to a fixed "now" this year, as PostgreSQL COPY text.

Rows are what the application would have written (`create_dossier`, then `record_event` for
each step): each dossier built by the intake's own row builder (`tracker.dossiers.rows`, which
folds the name and starts the clock), codes from the per-agency daily sequence in time order
(Vietnam days) and the `code_counters` left at the last number; `lookup_secret_hash` of a fresh
secret; events walked through the real transition table (`bench.history`) with the clock fields
`record_event` keeps; a reason on every failed delivery; the version the ORM would have
counted. A few feed events arrive late and are kept unapplied, as `record_event` keeps them.
Not written: audit entries, notifications and the rollups (the benchmark fills those with the
full recompute, which is what it measures).

The mix: service forms 90% one-way (`return_only`), 8% send-only, 2% two-way (the seed's 2017:
307,871 one-way against 579 two-way); the offices and procedures of the demo catalogue
(`load_demo_catalogue`, as `flask demo seed` loads it), one-way results mostly handed over at the
one-stop desks; intake on working days, little on weekends and holidays, almost none over Tết and
half for the week after it, growing ~35% a year.

`bench.reports_copy` runs the builder in a forked process and streams its rows to PostgreSQL.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from operator import itemgetter
from typing import Any

import holidays
from sqlalchemy import select

from bench import history
from bench.dataset import DOCUMENTS, FAMILY, GIVEN, MIDDLE, _address
from tracker.calendar import VN_TZ, is_working_day, local_date
from tracker.catalogue.models import Office, Procedure
from tracker.catalogue.operations import load_demo_catalogue
from tracker.dossiers import clock, codes
from tracker.dossiers.models import Dossier
from tracker.dossiers.rows import new_dossier_row
from tracker.extensions import db
from tracker.feeds.codes import DEFAULT_FAILURE_REASON, DEFAULT_RECEIVER_RELATION

# A Friday afternoon: fixed, so that every run builds the same year-to-date.
NOW = datetime(2026, 11, 20, 17, 30, tzinfo=VN_TZ).astimezone(UTC)
SERVICE_FORMS = (("return_only", 0.90), ("send_only", 0.08), ("two_way", 0.02))
GROWTH_PER_YEAR = 0.35
CHUNK = 20_000
# Relative intake of a day; the week after Tết is slow to restart.
WORKING, SATURDAY, SUNDAY, HOLIDAY, TET, AFTER_TET = 1.0, 0.15, 0.03, 0.03, 0.003, 0.5
OPENING_MINUTE, CLOSING_MINUTE = 7 * 60 + 30, 17 * 60
# Intake per office, by channel: one-way results are mostly handed to the post at the desks
# where the citizen filed the dossier (and never through the hotline); dossiers the post carries
# in come through the post offices and the hotline's home pick-up. Other channels weigh 1.
DESKS = frozenset({"provincial_pac", "district_one_stop", "commune_pasc"})
RETURN_WEIGHT = {
    "hotline_1022": 0.0,
    "post_l1": 1.5,
    "post_l2": 1.0,
    "post_l3": 0.7,
    "commune_post_point": 0.5,
}
INTAKE_WEIGHT = {"hotline_1022": 3.0, "post_l1": 4.0, "post_l2": 3.0, "post_l3": 2.0}
FAILURE_REASONS = ("Không có người nhận", "Sai địa chỉ", "Người nhận hẹn phát lại")
LATE_FEED_SHARE = 0.005
# Every column of the table, as `new_dossier_row` builds it (with its id).
DOSSIER_COLUMNS = tuple(Dossier.__table__.columns.keys())
EVENT_COLUMNS = (
    "id", "dossier_id", "from_status", "to_status", "applied", "occurred_at", "recorded_at",
    "source", "source_event_id", "office_id", "note", "receiver_relation", "failure_reason",
)  # fmt: skip
DOCUMENT_COLUMNS = ("dossier_id", "name", "kind", "count")


@dataclass(frozen=True)
class OfficeRef:
    id: int
    channel_id: int
    channel: str
    active_from: date | None
    active_to: date | None

    def open_on(self, day: date) -> bool:
        return (self.active_from is None or self.active_from <= day) and (
            self.active_to is None or day <= self.active_to
        )


@dataclass(frozen=True)
class ProcedureRef:
    id: int
    agency_id: int
    agency_code: str
    working_days: int
    fee_vnd: int
    forms: tuple[str, ...]


def load_catalogue() -> tuple[list[OfficeRef], list[ProcedureRef]]:
    """The demo catalogue, loaded as `flask demo seed` does; call inside an app context."""
    _, report = load_demo_catalogue()
    if not report.ok:
        raise RuntimeError(f"demo procedures did not load: {report.errors[0]}")
    db.session.commit()
    offices = [
        OfficeRef(o.id, o.channel_id, o.channel.code, o.active_from, o.active_to)
        for o in db.session.scalars(select(Office).order_by(Office.id))
    ]
    procedures = [
        ProcedureRef(
            p.id, p.agency_id, p.agency.code, p.working_days, p.fee_vnd or 0, tuple(p.service_forms)
        )
        for p in db.session.scalars(select(Procedure).order_by(Procedure.id))
    ]
    # An open transaction would hold locks on the catalogue that the load's ALTER TABLEs wait for.
    db.session.remove()
    return offices, procedures


def day_weight(day: date, tet: set[date], after_tet: set[date]) -> float:
    if day in tet:
        return TET
    if is_working_day(day):
        return AFTER_TET if day in after_tet else WORKING
    if day.weekday() == 5:
        return SATURDAY
    return SUNDAY if day.weekday() == 6 else HOLIDAY


def tet_days(first: date, last: date) -> tuple[set[date], set[date]]:
    """The Tết break (its holidays and the days off around them) and the 5 working days after."""
    tet, after = set(), set()
    for year in range(first.year, last.year + 1):
        named = holidays.country_holidays("VN", years=year)
        days = sorted(d for d, name in named.items() if "Lunar New Year" in name)
        start, end = days[0], days[-1]
        while not is_working_day(start - timedelta(days=1)):
            start -= timedelta(days=1)
        while not is_working_day(end + timedelta(days=1)):
            end += timedelta(days=1)
        tet.update(start + timedelta(days=i) for i in range((end - start).days + 1))
        day = end
        while len([d for d in after if d.year == year]) < 5:
            day += timedelta(days=1)
            if is_working_day(day):
                after.add(day)
    return tet, after


def daily_intake(total: int, now: datetime) -> dict[date, int]:
    """`total` dossiers spread over 1 January of last year .. today (largest remainders)."""
    last = local_date(now)
    first = date(last.year - 1, 1, 1)
    tet, after = tet_days(first, last)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    weights = [
        day_weight(d, tet, after) * (1 + GROWTH_PER_YEAR * (d - first).days / 365) for d in days
    ]
    # Today only counts up to now.
    minute = now.astimezone(VN_TZ).hour * 60 + now.astimezone(VN_TZ).minute
    weights[-1] *= max(0.0, min(1.0, (minute - OPENING_MINUTE) / (CLOSING_MINUTE - OPENING_MINUTE)))
    scale = total / sum(weights)
    shares = [w * scale for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(days)), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return dict(zip(days, counts, strict=True))


def _office_weight(form: str, channel: str) -> float:
    if form == "return_only":
        return 6.0 if channel in DESKS else RETURN_WEIGHT.get(channel, 1.0)
    return 1.0 if channel in DESKS else INTAKE_WEIGHT.get(channel, 1.0)


def _n(value: object) -> str:
    """A nullable value as COPY text; generated text never holds a tab, newline or backslash,
    so nothing needs escaping (str() of a date or an aware datetime is what PostgreSQL reads)."""
    return "\\N" if value is None else str(value)


class _Moments(dict[datetime, str]):
    """The COPY text of one dossier's moments, each formatted once: its events' times recur in
    its own row (received, changed, answered, closed, updated), and str() of an aware datetime
    costs 1-2 us: a dozen of them were a tenth of a dossier's generation."""

    def __missing__(self, moment: datetime) -> str:
        # str() of a datetime, without the detour through it (a quarter faster).
        text = self[moment] = moment.isoformat(" ")
        return text


_dossier_values = itemgetter(*DOSSIER_COLUMNS)
_EMPTY_CLOCK = clock.Clock()


def _dossier_line(row: dict[str, Any], moments: _Moments) -> str:
    """A dossier row as a line of COPY text, in DOSSIER_COLUMNS order (as `_n` writes values)."""
    values = [
        "\\N" if v is None else moments[v] if v.__class__ is datetime else str(v)
        for v in _dossier_values(row)
    ]
    return "\t".join(values) + "\n"


class _Builder:
    """Rows of the dossiers of each day, in time order, as COPY text (runs in the child)."""

    def __init__(
        self, seed: int, offices: list[OfficeRef], procedures: list[ProcedureRef], now: datetime
    ) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.offices = offices
        self.counters: Counter[tuple[str, date]] = Counter()
        self.forms: Counter[str] = Counter()
        self.dossier_id = self.event_id = 0
        self.items = history.ItemNumbers(self.rng.randrange(10_000_000, 20_000_000))
        self.prefixes: dict[tuple[str, date], str] = {}
        self.moments = _Moments()
        # A few procedures dominate intake (Zipf-like over the catalogue's order).
        self.procedures = {
            form: [p for p in procedures if form in p.forms] for form, _ in SERVICE_FORMS
        }
        # Cumulative weights, summed once: `choices` would sum them at every call (same draws).
        self.procedure_cum_weights = {
            form: list(accumulate(1 / (rank + 1) for rank in range(len(listed))))
            for form, listed in self.procedures.items()
        }

    def chunks(self, intake: dict[date, int]) -> Iterator[tuple]:
        out: dict[str, list[str]] = {"dossiers": [], "events": [], "documents": []}
        for day, count in intake.items():
            self.day(day, count, out)
            if len(out["dossiers"]) >= CHUNK:
                yield self._chunk(out)
        if out["dossiers"]:
            yield self._chunk(out)

    def _chunk(self, out: dict[str, list[str]]) -> tuple:
        chunk = ("chunk", *("".join(out[k]).encode() for k in out), *(len(out[k]) for k in out))
        for rows in out.values():
            rows.clear()
        return chunk

    def day(self, day: date, count: int, out: dict[str, list[str]]) -> None:
        rng = self.rng
        midnight = datetime(day.year, day.month, day.day, tzinfo=VN_TZ)
        closing = CLOSING_MINUTE
        if day == local_date(self.now):
            closing = min(closing, int((self.now - midnight).total_seconds() // 60))
        seconds = sorted(rng.randrange(OPENING_MINUTE * 60, closing * 60) for _ in range(count))
        forms = rng.choices([f for f, _ in SERVICE_FORMS], [w for _, w in SERVICE_FORMS], k=count)
        open_offices = [o for o in self.offices if o.open_on(day)]
        office_cum_weights = {
            form: list(accumulate(_office_weight(form, o.channel) for o in open_offices))
            for form, _ in SERVICE_FORMS
        }
        new_secrets = codes.new_lookup_secrets(count)
        for second, form, secret in zip(seconds, forms, new_secrets, strict=True):
            office = rng.choices(open_offices, cum_weights=office_cum_weights[form])[0]
            received_at = (midnight + timedelta(seconds=second)).astimezone(UTC)
            self.dossier(day, received_at, form, office, secret, out)

    def dossier(
        self,
        day: date,
        received_at: datetime,
        form: str,
        office: OfficeRef,
        secret: str,
        out: dict[str, list[str]],
    ) -> None:
        rng = self.rng
        procedure = rng.choices(
            self.procedures[form], cum_weights=self.procedure_cum_weights[form]
        )[0]
        key = (procedure.agency_code, day)
        self.counters[key] += 1
        prefix = self.prefixes.get(key) or self.prefixes.setdefault(key, codes.code_prefix(*key))
        code = f"{prefix}{self.counters[key]:04d}"
        walk = history.simulate(rng, form, received_at, procedure.working_days, self.now)
        appointment = None
        if form == "return_only" and rng.random() < 0.4:
            # The agency's appointment, handed to the post with the result: what delivery is
            # judged against.
            appointment = day + timedelta(days=rng.randrange(4))
        self.dossier_id += 1
        self.forms[form] += 1
        self.moments.clear()
        updated_at = self._events(walk, office, out["events"])
        # Drawn in this order (name, address, phone, id number): a seed gives the same data.
        name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        address = None if form == "send_only" else _address(rng)
        row = new_dossier_row(
            code=code,
            service_form=form,
            procedure=procedure,
            office=office,
            applicant_name=name,
            delivery_address=address,
            applicant_phone=f"09{rng.randrange(10**8):08d}",
            applicant_id_number=f"0{rng.randrange(10**11):011d}",
            postal_item_number=self.items.next_for(walk),
            fee_vnd=procedure.fee_vnd,
            appointment_date=appointment,
            received_at=received_at,
            lookup_secret_hash=codes.hash_secrets([code], [secret])[0],
            now=received_at,
        )
        # The walk started from an empty clock: what it moved goes over the clock the row
        # started with (a one-way walk never moves the appointment given with the result). The
        # version is the ORM's: one per event applied.
        row.update(
            clock.changes(_EMPTY_CLOCK, walk.clock),
            id=self.dossier_id,
            status=walk.status,
            status_changed_at=walk.status_changed_at,
            updated_at=updated_at,
            version=len(walk.events),
        )
        out["dossiers"].append(_dossier_line(row, self.moments))
        if form != "return_only":
            for name_, kind in rng.sample(DOCUMENTS, rng.randint(1, 3)):
                out["documents"].append(f"{self.dossier_id}\t{name_}\t{kind}\t1\n")

    def _events(self, walk: history.History, office: OfficeRef, rows: list[str]) -> datetime:
        """The walk's events, applied; returns when the last one was recorded (`updated_at`)."""
        rng = self.rng
        recorded = walk.events[0].occurred_at  # the intake is logged as it happens
        for index, event in enumerate(walk.events):
            if index:
                recorded = min(event.occurred_at + timedelta(seconds=rng.randint(1, 900)), self.now)
            note = rng.choice(FAILURE_REASONS) if event.to_status == "delivery_failed" else None
            self._event(event, True, recorded, office, note, rows)
        last = walk.events[-1]
        feed_delivered = last.source == "postal_feed" and last.to_status == "delivered"
        if feed_delivered and recorded < self.now and rng.random() < LATE_FEED_SHARE:
            # The same delivery scanned earlier, sent late by the feed: kept, not applied.
            late = history.Event(
                None, "delivered", last.occurred_at - timedelta(minutes=5), "postal_feed"
            )
            self._event(
                late, False, min(recorded + timedelta(hours=1), self.now), office, None, rows
            )
        return recorded

    def _event(
        self,
        event: history.Event,
        applied: bool,
        recorded: datetime,
        office: OfficeRef,
        note: str | None,
        rows: list[str],
    ) -> None:
        self.event_id += 1
        feed_id = f"VNP-{self.event_id}" if event.source == "postal_feed" else None
        office_id = None if event.source == "agency" else office.id
        moments = self.moments
        # Deliveries and failures come from the postal feed, with its defaults (feeds/codes.py).
        relation = DEFAULT_RECEIVER_RELATION if event.to_status == "delivered" else None
        reason = DEFAULT_FAILURE_REASON if event.to_status == "delivery_failed" else None
        # In EVENT_COLUMNS order.
        rows.append(
            f"{self.event_id}\t{self.dossier_id}\t{_n(event.from_status)}\t{event.to_status}\t"
            f"{'t' if applied else 'f'}\t{moments[event.occurred_at]}\t{moments[recorded]}\t"
            f"{event.source}\t"
            f"{_n(feed_id)}\t{_n(office_id)}\t{_n(note)}\t{_n(relation)}\t{_n(reason)}\n"
        )


def produce(queue, seed: int, offices, procedures, intake: dict[date, int], now) -> None:
    """The child process of `bench.reports_copy.generate`: every chunk, then the counters."""
    try:
        builder = _Builder(seed, offices, procedures, now)
        for chunk in builder.chunks(intake):
            queue.put(chunk)
        queue.put(("done", dict(builder.counters), builder.forms))
    except BaseException as exc:
        queue.put(("error", repr(exc)))
        raise
