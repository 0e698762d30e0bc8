"""The benchmark's data: a province's catalogue, N dossiers with their status events, documents
and daily code counters, bulk-inserted with SQLAlchemy Core, and the staff who query them.

Rows are built to be what the application itself would have written: each dossier by the
intake's own row builder (`tracker.dossiers.rows`) moved by its walk's clock, codes from the
per-agency daily sequence, lookup secrets hashed with `codes.hash_secret`, events that follow the
transition table (see `bench.history`). Ids are assigned here so that events can
reference their dossier without a round trip; PostgreSQL sequences are moved past them at the end.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text

from bench import history
from bench.catalogue import CHANNEL_WEIGHT, CatalogueRefs, OfficeRef, ProcedureRef, build_catalogue
from tracker.accounts.operations import create_user, issue_token
from tracker.calendar import VN_TZ, local_date
from tracker.database import on_postgresql
from tracker.dossiers import codes
from tracker.dossiers.models import CodeCounter, Dossier, DossierDocument, StatusEvent
from tracker.dossiers.rows import new_dossier_row
from tracker.extensions import db

CHUNK = 10_000
HISTORY_DAYS = 365
SERVICE_FORMS = (("return_only", 0.70), ("two_way", 0.20), ("send_only", 0.10))
STAFF_PASSWORD = "bench-password-not-secret"
CLERKS = 8
FAMILY = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
)
MIDDLE = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Thị Thu", "Văn Hoàng")
GIVEN = (
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hà",
    "Hải",
    "Hạnh",
    "Hòa",
    "Hùng",
    "Hương",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Nam",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Tuấn",
    "Vy",
    "Yến",
    "Đạt",
    "Khoa",
)
STREETS = (
    "Đường 30/4",
    "Phạm Văn Thuận",
    "Đồng Khởi",
    "Nguyễn Ái Quốc",
    "Võ Thị Sáu",
    "Hà Huy Giáp",
    "Cách Mạng Tháng Tám",
    "Quốc lộ 1A",
)
DOCUMENTS = (
    ("Tờ khai", "original"),
    ("Căn cước công dân", "certified_copy"),
    ("Giấy khai sinh", "copy"),
    ("Sổ hộ khẩu", "copy"),
    ("Đơn đề nghị", "original"),
)


@dataclass
class Staff:
    username: str
    office_code: str
    token: str


@dataclass
class Dataset:
    dossiers: int
    events: int
    documents: int
    seconds: float
    catalogue: CatalogueRefs
    # (code, secret) pairs a citizen could type, sampled across the whole table.
    lookups: list[tuple[str, str]] = field(default_factory=list)
    # (token, code) pairs: a clerk and a dossier of the clerk's own office.
    staff_views: list[tuple[str, str]] = field(default_factory=list)
    clerks: list[Staff] = field(default_factory=list)


class _Builder:
    """Builds row dicts for one chunk of dossiers, keeping the per-day sequence counters."""

    def __init__(self, rng: random.Random, refs: CatalogueRefs, now: datetime) -> None:
        self.rng = rng
        self.refs = refs
        self.now = now
        self.counters: Counter[tuple[str, object]] = Counter()
        self.event_id = 0
        self.items = history.ItemNumbers(rng.randrange(10_000_000, 20_000_000))
        # Popular procedures dominate (Zipf-like); big offices take more than commune points.
        self.procedure_weights = [1 / (rank + 1) for rank in range(len(refs.procedures))]
        self.office_weights = [CHANNEL_WEIGHT[o.channel_code] for o in refs.offices]

    def dossier(
        self, dossier_id: int, received_at: datetime, out: dict[str, list]
    ) -> tuple[str, str]:
        """Append the rows of one dossier to `out`; returns its code and lookup secret."""
        rng = self.rng
        procedure: ProcedureRef = rng.choices(self.refs.procedures, self.procedure_weights)[0]
        office: OfficeRef = rng.choices(self.refs.offices, self.office_weights)[0]
        form = _pick_form(rng, procedure)
        day = local_date(received_at)
        key = (procedure.agency_code, day)
        self.counters[key] += 1
        code = f"{procedure.agency_code}-{day:%y%m%d}-{self.counters[key]:04d}"
        secret = codes.new_lookup_secret()
        walk = history.simulate(rng, form, received_at, procedure.working_days, self.now)
        row = new_dossier_row(
            code=code,
            service_form=form,
            procedure=procedure,
            office=office,
            applicant_name=f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
            applicant_phone=f"09{rng.randrange(10**8):08d}",
            applicant_id_number=f"0{rng.randrange(10**11):011d}",
            delivery_address=None if form == "send_only" else _address(rng),
            postal_item_number=self.items.next_for(walk),
            fee_vnd=procedure.fee_vnd,
            received_at=received_at,
            lookup_secret_hash=codes.hash_secret(code, secret),
            now=received_at,
        )
        # Where its walk left it, written when the last event was.
        row.update(walk.columns(), id=dossier_id, updated_at=walk.status_changed_at)
        out["dossiers"].append(row)
        self._events(dossier_id, office.id, walk, out["events"])
        if form != "return_only":
            for name_, kind in rng.sample(DOCUMENTS, rng.randint(1, 3)):
                out["documents"].append(
                    {"dossier_id": dossier_id, "name": name_, "kind": kind, "count": 1}
                )
        return code, secret

    def _events(
        self, dossier_id: int, office_id: int, walk: history.History, rows: list[dict]
    ) -> None:
        for event in walk.events:
            self.event_id += 1
            feed = event.source == "postal_feed"
            rows.append(
                {
                    "id": self.event_id,
                    "dossier_id": dossier_id,
                    "from_status": event.from_status,
                    "to_status": event.to_status,
                    "applied": True,
                    "occurred_at": event.occurred_at,
                    "recorded_at": event.occurred_at + timedelta(seconds=self.rng.randint(1, 900)),
                    "source": event.source,
                    "source_event_id": f"VNP-{self.event_id}" if feed else None,
                    "raw_code": None,
                    "actor_id": None,
                    "office_id": None if event.source == "agency" else office_id,
                    "note": None,
                    "data": None,
                }
            )


def _pick_form(rng: random.Random, procedure: ProcedureRef) -> str:
    forms = [(f, w) for f, w in SERVICE_FORMS if f in procedure.service_forms]
    return rng.choices([f for f, _ in forms], [w for _, w in forms])[0]


def _address(rng: random.Random) -> str:
    return (
        f"{rng.randint(1, 300)} {rng.choice(STREETS)}, khu phố {rng.randint(1, 12)}, "
        "Biên Hòa, Đồng Nai"
    )


def _receipt_times(rng: random.Random, count: int, now: datetime) -> list[datetime]:
    """Office hours (07:00-17:30 Vietnam time) on the last HISTORY_DAYS days, Sundays closed."""
    first = local_date(now) - timedelta(days=HISTORY_DAYS)
    days = [first + timedelta(days=i) for i in range(HISTORY_DAYS)]
    days = [d for d in days if d.weekday() != 6]
    moments = []
    for _ in range(count):
        day = rng.choice(days)
        local = datetime(day.year, day.month, day.day, 7, tzinfo=VN_TZ)
        moments.append((local + timedelta(seconds=rng.randrange(10 * 3600 + 1800))).astimezone(UTC))
    moments.sort()
    return moments


def load_dataset(count: int, seed: int, lookup_samples: int = 5000) -> Dataset:
    """Insert the catalogue, `count` dossiers and the clerks; call inside an app context."""
    started = time.perf_counter()
    rng = random.Random(seed)
    refs = build_catalogue(rng)
    now = datetime.now(UTC)
    builder = _Builder(rng, refs, now)
    sampled = set(rng.sample(range(1, count + 1), min(lookup_samples, count)))
    lookups: list[tuple[str, str]] = []
    by_office: dict[int, list[str]] = {}
    totals = Counter()
    moments = _receipt_times(rng, count, now)
    for start in range(0, count, CHUNK):
        out: dict[str, list] = {"dossiers": [], "events": [], "documents": []}
        for offset, received_at in enumerate(moments[start : start + CHUNK]):
            dossier_id = start + offset + 1
            code, secret = builder.dossier(dossier_id, received_at, out)
            if dossier_id in sampled:
                lookups.append((code, secret))
            by_office.setdefault(out["dossiers"][-1]["office_id"], []).append(code)
        _insert(out)
        totals.update({k: len(v) for k, v in out.items()})
    _insert_counters(builder.counters)
    _move_sequences()
    clerks, staff_views = _clerks(rng, refs, by_office)
    db.session.commit()
    rng.shuffle(lookups)
    return Dataset(
        count,
        totals["events"],
        totals["documents"],
        time.perf_counter() - started,
        refs,
        lookups,
        staff_views,
        clerks,
    )


def _insert(out: dict[str, list]) -> None:
    db.session.execute(insert(Dossier.__table__), out["dossiers"])
    db.session.execute(insert(StatusEvent.__table__), out["events"])
    if out["documents"]:
        db.session.execute(insert(DossierDocument.__table__), out["documents"])
    db.session.commit()


def _insert_counters(counters: Counter) -> None:
    rows = [
        {"agency_code": agency, "day": day, "last_seq": seq}
        for (agency, day), seq in counters.items()
    ]
    db.session.execute(insert(CodeCounter.__table__), rows)
    db.session.commit()


def _move_sequences() -> None:
    """Explicit ids leave PostgreSQL's sequences behind: later inserts must not collide."""
    if on_postgresql():
        for table in ("dossiers", "status_events", "dossier_documents"):
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )
    # Planner statistics, as autovacuum would have gathered them on a live database.
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def _clerks(
    rng: random.Random, refs: CatalogueRefs, by_office: dict[int, list[str]]
) -> tuple[list[Staff], list[tuple[str, str]]]:
    """One clerk (with an API token) in each of the busiest offices, and dossiers they may see."""
    busiest = sorted(refs.offices, key=lambda o: len(by_office.get(o.id, [])), reverse=True)
    clerks, views = [], []
    for number, office in enumerate(busiest[:CLERKS], start=1):
        user = create_user(
            f"bench-clerk{number}",
            "clerk",
            STAFF_PASSWORD,
            full_name=f"Bench clerk {number}",
            office_code=office.code,
        )
        token = issue_token(user, name="bench")
        clerks.append(Staff(user.username, office.code, token))
        own = by_office.get(office.id, [])
        views.extend((token, code) for code in rng.sample(own, min(500, len(own))))
    rng.shuffle(views)
    return clerks, views
