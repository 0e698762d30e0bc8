"""The benchmark's data: a province's catalogue, N dossiers with their status events, documents
and daily code counters, bulk-inserted with SQLAlchemy Core, and the staff who query them.

Rows are built to be what the application itself would have written: each dossier by the
intake's own row builder (`tracker.dossiers.rows`) moved by its walk's clock, codes from the
per-agency daily sequence, lookup secrets hashed with `codes.hash_secret`, events that follow the
transition table (see `bench.history`). Ids are assigned here so that events can
reference their dossier without a round trip; PostgreSQL sequences are moved past them at the end.
"""

from __future__ import annotations

import contextlib
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
# Above this many dossiers (PostgreSQL only), the rest are copies of these made by the database
# itself (`_grow`): generating 10M in Python would take an hour.
GENERATED_AT_MOST = 200_000
# Each copy lies this much further in the past: 53 weeks (same weekdays), longer than the one
# year a generation spans, so that copies' (agency, day) code sequences never meet.
COPY_SHIFT_DAYS = 371
# The lookup secret of every copy (its hash is computed by the database, as `codes.hash_secret`).
COPY_SECRET = "BENCH-23456"
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
    """Insert the catalogue, `count` dossiers and the clerks; call inside an app context.

    Up to GENERATED_AT_MOST dossiers are generated; on PostgreSQL a larger `count` is reached by
    copies of them (`_grow`), each a year further back, with codes, item numbers and secrets of
    their own. `lookup_samples` (code, secret) pairs are sampled over the whole table."""
    started = time.perf_counter()
    rng = random.Random(seed)
    refs = build_catalogue(rng)
    now = datetime.now(UTC)
    builder = _Builder(rng, refs, now)
    generated = min(count, GENERATED_AT_MOST)
    if generated < count and not on_postgresql():
        raise SystemExit(f"more than {GENERATED_AT_MOST:,} dossiers need PostgreSQL")
    sampled = set(rng.sample(range(1, count + 1), min(lookup_samples, count)))
    lookups: list[tuple[str, str]] = []
    codes_by_id: dict[int, str] = {}
    by_office: dict[int, list[str]] = {}
    totals = Counter()
    moments = _receipt_times(rng, generated, now)
    for start in range(0, generated, CHUNK):
        out: dict[str, list] = {"dossiers": [], "events": [], "documents": []}
        for offset, received_at in enumerate(moments[start : start + CHUNK]):
            dossier_id = start + offset + 1
            code, secret = builder.dossier(dossier_id, received_at, out)
            if dossier_id in sampled:
                lookups.append((code, secret))
            if generated < count:
                codes_by_id[dossier_id] = code
            by_office.setdefault(out["dossiers"][-1]["office_id"], []).append(code)
        _insert(out)
        totals.update({k: len(v) for k, v in out.items()})
    _insert_counters(builder.counters)
    if generated < count:
        totals.update(_grow(generated, count))
        lookups += [
            (copy_code(codes_by_id[(i - 1) % generated + 1], (i - 1) // generated), COPY_SECRET)
            for i in sorted(sampled)
            if i > generated
        ]
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


def copy_code(code: str, copy: int) -> str:
    """The code of copy number `copy` of a generated dossier: its day `copy` shifts back."""
    day = datetime.strptime(code[-11:-5], "%y%m%d") - timedelta(days=COPY_SHIFT_DAYS * copy)
    return f"{code[:-11]}{day:%y%m%d}{code[-5:]}"


_DOSSIER_TIMES = (
    "received_at", "supplement_since", "status_changed_at", "result_at", "closed_at",
    "overdue_since", "stuck_since", "created_at", "updated_at",
)  # fmt: skip
_DOSSIER_DAYS = ("appointment_date", "due_date")


def _grow(generated: int, count: int) -> Counter:
    """Copies of the generated dossiers (with their events and documents) up to `count`, made by
    INSERT ... SELECT: copy k is shifted k * COPY_SHIFT_DAYS back, its code's day with it, its
    item numbers get a prefix of their own and its lookup secret is COPY_SECRET."""
    shift = "make_interval(days => {days} * {k})"
    code = (
        "substr(code, 1, length(code) - 11) || to_char(to_date(substr(code, length(code) - 10, "
        "6), 'YYMMDD') - {days} * {k}, 'YYMMDD') || right(code, 5)"
    )
    dossier = {
        "id": "id + {k} * {g}",
        "code": code,
        "postal_item_number": (
            "chr(65 + {k} / 26) || chr(65 + {k} % 26) || substr(postal_item_number, 3)"
        ),
        # `codes.hash_secret` of the copy's own code.
        "lookup_secret_hash": (
            f"encode(sha256(convert_to(({code}) || ':' || :secret, 'UTF8')), 'hex')"
        ),
        **{name: f"{name} - {shift}" for name in _DOSSIER_TIMES},
        **{name: f"{name} - {{days}} * {{k}}" for name in _DOSSIER_DAYS},
    }
    event = {
        "id": "id + {k} * {e}",
        "dossier_id": "dossier_id + {k} * {g}",
        "occurred_at": f"occurred_at - {shift}",
        "recorded_at": f"recorded_at - {shift}",
        "source_event_id": "source_event_id || '-' || {k}",
    }
    document = {"id": "id + {k} * {d}", "dossier_id": "dossier_id + {k} * {g}"}
    templates = {
        "dossiers": _copy_template(Dossier, dossier, "id <= {n}"),
        "events": _copy_template(StatusEvent, event, "dossier_id <= {n}"),
        "documents": _copy_template(DossierDocument, document, "dossier_id <= {n}"),
    }
    known = {
        name: db.session.scalar(text(f"SELECT max(id) FROM {name}"))
        for name in ("status_events", "dossier_documents")
    }
    added = Counter()
    with _indexes_built_after(("dossiers", "status_events", "dossier_documents")):
        for k in range(1, -(-count // generated)):
            added.update(_copy(k, generated, count, known, templates))
    return added


def _copy(k: int, generated: int, count: int, known: dict, templates: dict) -> Counter:
    """Copy number `k`, in one transaction of its own."""
    values = {
        "k": k,
        "g": generated,
        "n": min(generated, count - k * generated),
        "e": known["status_events"],
        "d": known["dossier_documents"],
        "days": COPY_SHIFT_DAYS,
    }
    secret = {"secret": codes.normalise_secret(COPY_SECRET)}
    # The rows are consistent by construction: no foreign-key triggers, no waiting on the WAL.
    db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(text("SET LOCAL synchronous_commit = off"))
    added = Counter()
    for name, template in templates.items():
        added[name] += db.session.execute(text(template.format(**values)), secret).rowcount
    db.session.commit()
    return added


@contextlib.contextmanager
def _indexes_built_after(tables: tuple[str, ...]):
    """Drop the tables' indexes that back no constraint, and build them again at the end: one
    build of each is far cheaper than millions of inserts into it."""
    indexes = db.session.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ANY(:tables) AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        ),
        {"tables": list(tables)},
    ).all()
    for name, _ in indexes:
        db.session.execute(text(f'DROP INDEX "{name}"'))
    db.session.commit()
    yield
    db.session.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
    for _, definition in indexes:
        db.session.execute(text(definition))
    db.session.commit()


def _copy_template(model, replaced: dict[str, str], where: str) -> str:
    table = model.__table__
    columns = [column.name for column in table.columns]
    expressions = ", ".join(replaced.get(name, name) for name in columns)
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {expressions} "
        f"FROM {table.name} WHERE {where}"
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
