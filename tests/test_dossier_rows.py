"""One dossier row, whichever path wrote it.

Two paths write dossiers around the ORM's unit of work: the feeds' bulk writer
(`tracker.dossiers.persist`: one UPDATE per chunk of feed events) and the bulk import (binary
COPY, or one executemany). Both take their values from the functions the ORM path uses
(`tracker.dossiers.clock`, `tracker.dossiers.rows`); these tests hold them to it row for row: the
same events applied to twin dossiers through `record_event` one by one and through feed chunks,
the same result logged at the counter and imported, and then every column compared.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Text, cast, func, inspect, select

from tests.conftest import intake_data
from tracker.audit.models import AuditEntry
from tracker.calendar import VN_TZ
from tracker.dossiers import operations, s10
from tracker.dossiers.models import Dossier, DossierDocument, StatusEvent
from tracker.dossiers.rows import folded_name, new_dossier_row
from tracker.extensions import db
from tracker.feeds.apply import apply_batch_chunk
from tracker.feeds.models import FeedBatch, FeedEvent
from tracker.imports import operations as imports
from tracker.imports import runner
from tracker.notifications.models import Notification
from tracker.reports.models import DailyCount
from tracker.status_out.models import StatusChange
from tracker.unit_of_work import unit_of_work

MONDAY = datetime(2025, 6, 2, 8, 0, tzinfo=VN_TZ)
# The postal feed's raw code for each status it reports (postal_event_codes).
POSTAL_CODES = {
    "result_collected": "EMA",
    "out_for_delivery": "EDG",
    "delivery_failed": "EMH",
    "delivered": "EMI",
}
SOURCES = {"counter": "counter", "agency": "agency_feed", "postal": "postal_feed"}
# Columns in which twins differ by design; every other column must be equal.
APART = {
    "id": "each row its own",
    "code": "each dossier its own number in the day's sequence",
    "lookup_secret_hash": "each receipt its own secret",
    "created_at": "the moment each path wrote it",
    "updated_at": "the moment each path wrote it",
}
# ...and twins moved by the feeds, beside the ORM path.
FEED_TWINS_APART = APART | {
    "postal_item_number": "the postal feed finds a dossier by it, and an item serves one",
    "version": "one bump per transaction that wrote the row: compared on its own",
}


def at(days: int, hours: float = 0) -> datetime:
    """`days` after Monday 2 June 2025, 08:00 Vietnam time, plus `hours`."""
    return MONDAY + timedelta(days=days, hours=hours)


def item(serial: int) -> str:
    digits = f"{serial:08d}"
    return f"EE{digits}{s10.check_digit(digits)}VN"


@dataclass(frozen=True)
class Step:
    when: datetime
    status: str | None = None
    appointment_date: date | None = None
    note: str | None = None
    failure_reason: str | None = None
    receiver_relation: str | None = None


# Per service form: the intake's own fields, then the steps in time order, in runs: "counter"
# records each step on its own (as a request does), "sweep" marks the dossier stuck, "agency"
# and "postal" are the events of one feed chunk.
SCENARIOS: dict[str, tuple[dict[str, Any], list[tuple[str, list[Step]]]]] = {
    "two_way": (
        {},
        [
            # Handed over on Monday: the statutory 10 working days count from it.
            ("counter", [Step(at(0, 2), "forwarded")]),
            ("sweep", [Step(at(0, 3))]),
            # The agency's own date (the statutory one goes, and the stuck mark), a supplement
            # asked on Wednesday and brought the next Tuesday, the result.
            (
                "agency",
                [
                    Step(at(1, 1), "processing", appointment_date=date(2025, 6, 20)),
                    Step(at(2, 1), "supplement_required"),
                    Step(at(8, 1), "processing"),
                    Step(at(14, 1), "result_ready"),
                ],
            ),
            (
                "postal",
                [
                    Step(at(15, 1), "result_collected"),
                    Step(at(16, 1), "out_for_delivery"),
                    Step(
                        at(16, 5),
                        "delivery_failed",
                        note="Không có người nhận",
                        failure_reason="absent",
                    ),
                    Step(at(17, 1), "out_for_delivery"),
                    Step(at(17, 4), "delivered", receiver_relation="applicant"),
                ],
            ),
            # An earlier scan sent late: kept in the history, the dossier does not move.
            ("postal", [Step(at(16, 3), "out_for_delivery")]),
        ],
    ),
    "send_only": (
        {},
        [
            ("counter", [Step(at(0, 2), "forwarded")]),
            ("agency", [Step(at(3, 1), "processing"), Step(at(4, 1), "supplement_required")]),
            # Refused while paused: the pause counts up to the refusal.
            ("agency", [Step(at(9, 1), "rejected")]),
            ("counter", [Step(at(10, 2), "collected_in_person")]),
        ],
    ),
    "return_only": (
        {"procedure_code": "1.004567", "appointment_date": date(2025, 6, 5)},
        [
            (
                "postal",
                [
                    Step(at(1, 1), "out_for_delivery"),
                    Step(at(1, 3), "delivered", receiver_relation="family"),
                ],
            )
        ],
    ),
}


FINAL_STATUS = {
    "two_way": "delivered",
    "send_only": "collected_in_person",
    "return_only": "delivered",
}


def record(dossier_id: int, by: str, step: Step) -> bool:
    """One step through the ORM path, in a unit of work of its own; whether it wrote the row."""
    with unit_of_work():
        dossier = db.session.get(Dossier, dossier_id)
        if by == "sweep":
            dossier.stuck_since = step.when
            return True
        outcome = operations.record_event(
            dossier,
            step.status,
            source=SOURCES[by],
            occurred_at=step.when,
            appointment_date=step.appointment_date,
            note=step.note,
            failure_reason=step.failure_reason,
            receiver={"relation": step.receiver_relation} if step.receiver_relation else None,
        )
        return outcome.applied


def feed_chunk(dossier_id: int, by: str, steps: list[Step]) -> dict[str, int]:
    """Steps as one batch of stored feed events, settled in one chunk as the worker does."""
    with unit_of_work():
        dossier = db.session.get(Dossier, dossier_id)
        batch = FeedBatch(source=by, event_count=len(steps))
        db.session.add(batch)
        db.session.flush()
        db.session.add_all(
            FeedEvent(
                batch_id=batch.id,
                source=by,
                event_id=f"{by}-{step.when.isoformat()}",
                item_number=dossier.postal_item_number if by == "postal" else None,
                dossier_code=dossier.code if by == "agency" else None,
                raw_code=POSTAL_CODES[step.status] if by == "postal" else None,
                status=step.status if by == "agency" else None,
                occurred_at=step.when,
                note=step.note,
                appointment_date=step.appointment_date,
                failure_reason=step.failure_reason,
                receiver_relation=step.receiver_relation,
                payload={},
            )
            for step in steps
        )
    with unit_of_work():
        return dict(apply_batch_chunk(batch.id))


def run_orm(dossier_id: int, runs: list[tuple[str, list[Step]]]) -> int:
    """Every step through `record_event` one by one; how many transactions wrote the row."""
    return sum(record(dossier_id, by, step) for by, steps in runs for step in steps)


def run_bulk(dossier_id: int, runs: list[tuple[str, list[Step]]]) -> int:
    """The feeds' steps chunk by chunk, the others as `run_orm`; how many transactions wrote
    the row."""
    writes = 0
    for by, steps in runs:
        if by in ("counter", "sweep"):
            writes += run_orm(dossier_id, [(by, steps)])
            continue
        outcomes = feed_chunk(dossier_id, by, steps)
        assert set(outcomes) <= {"applied", "late"}, outcomes
        writes += "applied" in outcomes  # one UPDATE for all the chunk's events
    return writes


def columns_of(dossier_id: int) -> dict[str, Any]:
    db.session.expire_all()
    row = db.session.execute(select(Dossier.__table__).where(Dossier.id == dossier_id)).one()
    return dict(row._mapping)


def assert_same_rows(expected: dict[str, Any], actual: dict[str, Any], apart: dict) -> None:
    assert set(apart) <= set(expected), "a column said to differ is gone"
    compared = sorted(set(expected) - set(apart))
    assert {c: actual[c] for c in compared} == {c: expected[c] for c in compared}


@pytest.mark.parametrize("form", SCENARIOS)
def test_feed_chunks_write_the_row_record_event_writes(app, catalogue, make_dossier, form):
    intake, runs = SCENARIOS[form]
    orm_id, bulk_id = (
        make_dossier(form, received_at=MONDAY, postal_item_number=item(n), **intake).id
        for n in (1, 2)
    )

    orm_writes = run_orm(orm_id, runs)
    bulk_writes = run_bulk(bulk_id, runs)

    orm, bulk = columns_of(orm_id), columns_of(bulk_id)
    assert_same_rows(orm, bulk, FEED_TWINS_APART)
    assert bulk["status"] == FINAL_STATUS[form]
    # Version 1 at intake, then one more per transaction that wrote the row: a chunk moving
    # it through several events writes it once.
    assert (orm["version"], bulk["version"]) == (1 + orm_writes, 1 + bulk_writes)
    assert bulk_writes < orm_writes


def test_the_clock_the_chunks_wrote(app, catalogue, make_dossier):
    """The columns compared above are the clock at work, not columns left alone."""
    _intake, runs = SCENARIOS["two_way"]
    dossier_id = make_dossier("two_way", received_at=MONDAY, postal_item_number=item(3)).id
    run_bulk(dossier_id, runs)
    row = columns_of(dossier_id)
    # The agency's date, pushed back by the supplement from Thursday 5 to Tuesday 10 June.
    assert (row["appointment_date"], row["supplement_days"]) == (date(2025, 6, 20), 4)
    assert row["due_date"] == date(2025, 6, 26)
    assert (row["result_at"], row["closed_at"]) == (at(14, 1), at(17, 4))
    assert (row["status"], row["status_changed_at"]) == ("delivered", at(17, 4))
    assert row["stuck_since"] is None and row["supplement_since"] is None

    intake, runs = SCENARIOS["send_only"]
    dossier_id = make_dossier("send_only", received_at=MONDAY, **intake).id
    run_bulk(dossier_id, runs)
    row = columns_of(dossier_id)
    # Statutory: 10 working days from the hand-over, then Monday 9 to Wednesday 11 June paused.
    assert (row["appointment_date"], row["supplement_days"]) == (date(2025, 6, 16), 3)
    assert row["due_date"] == date(2025, 6, 19)
    assert (row["result_at"], row["closed_at"]) == (at(9, 1), at(10, 2))


def test_an_imported_result_is_the_row_the_counter_writes(app, catalogue, clerk):
    # Folding decomposes Hangul syllables: this name's folded form is cut to its column.
    name = "Kim " + "한" * 150
    assert len(folded_name(name)) == Dossier.applicant_name_folded.type.length
    fields = {
        "agency_reference": "HS-000001",
        "procedure_code": "1.004567",
        "applicant_name": name,
        "applicant_phone": "0912345678",
        "applicant_id_number": "012345678901",
        "applicant_email": "kim@example.vn",
        "delivery_address": "12 Đường 30/4, Biên Hòa, Đồng Nai",
        "received_at": "02/06/2025 09:30",
        "office_code": "810000",
        "appointment_date": "2025-06-13",
        "fee_vnd": "15.000",
        "note": "Kết quả gửi kèm",
    }
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields))
    writer.writeheader()
    writer.writerow(fields)
    with unit_of_work():
        job = imports.create_job(io.BytesIO(buffer.getvalue().encode()), "ket-qua.csv", clerk.user)
    runner.run_job(job.id)
    with unit_of_work():
        counter, _secret = operations.create_dossier(
            {
                "service_form": "return_only",
                "procedure_code": "1.004567",
                "office_code": "810000",
                # An agency's reference names one dossier of it: the twin has its own.
                "agency_reference": "HS-000002",
                "applicant": {
                    "name": name,
                    "phone": "0912345678",
                    "id_number": "012345678901",
                    "email": "kim@example.vn",
                },
                "delivery_address": "12 Đường 30/4, Biên Hòa, Đồng Nai",
                "received_at": datetime(2025, 6, 2, 9, 30, tzinfo=VN_TZ),
                "appointment_date": date(2025, 6, 13),
                "fee_vnd": 15000,
                "note": "Kết quả gửi kèm",
            },
            clerk.user,
        )
    imported_id = db.session.scalar(
        select(Dossier.id).where(Dossier.agency_reference == "HS-000001")
    )
    assert imported_id is not None
    imported, logged = columns_of(imported_id), columns_of(counter.id)
    assert (imported["agency_reference"], logged["agency_reference"]) == ("HS-000001", "HS-000002")
    assert_same_rows(logged, imported, APART | {"agency_reference": "unique per agency"})
    assert imported["version"] == 1
    assert imported["applicant_name_folded"] == folded_name(name)
    assert imported["created_by_id"] == clerk.user.id


def test_a_new_row_holds_every_column_but_its_id(catalogue):
    row = new_dossier_row(
        code="X",
        service_form="two_way",
        procedure=catalogue.procedure,
        office=catalogue.office,
        applicant_name="Trần Thị Bình",
        applicant_phone="0987654321",
        received_at=MONDAY,
        lookup_secret_hash="h",
        now=MONDAY,
    )
    assert set(row) == set(Dossier.__table__.columns.keys()) - {"id"}


# Columns in which the twins' status events differ by design.
EVENTS_APART = {
    "id": "each row its own",
    "dossier_id": "each twin its own",
    "recorded_at": "the moment each path wrote it",
    "source_event_id": "a feed event has the feed's id, one recorded alone none",
    "raw_code": "the post's code comes with the postal feed only",
}


def events_of(dossier_id: int) -> list[dict[str, Any]]:
    table = StatusEvent.__table__
    rows = db.session.execute(
        select(table).where(table.c.dossier_id == dossier_id).order_by(table.c.id)
    )
    return [dict(row._mapping) for row in rows]


@pytest.mark.parametrize("form", SCENARIOS)
def test_feed_chunks_write_the_events_record_event_writes(app, catalogue, make_dossier, form):
    # A chunk's events are plain rows (`persist.write_events`), not ORM objects: the same rows.
    intake, runs = SCENARIOS[form]
    orm_id, bulk_id = (
        make_dossier(form, received_at=MONDAY, postal_item_number=item(n), **intake).id
        for n in (1, 2)
    )

    run_orm(orm_id, runs)
    run_bulk(bulk_id, runs)

    orm, bulk = events_of(orm_id), events_of(bulk_id)
    assert len(orm) == len(bulk) > 1
    for expected, actual in zip(orm, bulk, strict=True):
        assert_same_rows(expected, actual, EVENTS_APART)


# The intake: Core INSERTs beside the ORM's ----------------------------------------------------

INTAKE_DOCUMENTS = [
    {"name": "Tờ khai", "kind": "original", "count": 1},
    {"name": "Căn cước công dân", "kind": "certified_copy", "count": 2},
    {"name": "Giấy ủy quyền", "kind": "copy"},
]


def orm_twin(counter: Dossier, clerk_id: int) -> int:
    """`counter` written again through the ORM's unit of work (as the intake did before it
    wrote Core INSERTs): the dossier from the same row builder, its documents, its first event."""
    row = new_dossier_row(
        code=counter.code + "-orm",
        service_form=counter.service_form,
        procedure=counter.procedure,
        office=counter.office,
        agency_reference=None,
        applicant_name=counter.applicant_name,
        applicant_phone=counter.applicant_phone,
        applicant_id_number=counter.applicant_id_number,
        applicant_email=counter.applicant_email,
        delivery_address=counter.delivery_address,
        postal_item_number=counter.postal_item_number,
        fee_vnd=counter.fee_vnd,
        note=counter.note,
        received_at=counter.received_at,
        appointment_date=counter.appointment_date,
        lookup_secret_hash=counter.lookup_secret_hash,
        created_by_id=clerk_id,
        now=counter.created_at,
    )
    twin = Dossier(**row, documents=[DossierDocument(**doc) for doc in INTAKE_DOCUMENTS])
    db.session.add(twin)
    db.session.add(
        StatusEvent(
            dossier=twin,
            from_status=None,
            to_status=twin.status,
            occurred_at=twin.received_at,
            source="counter",
            actor_id=clerk_id,
            office_id=twin.office_id,
        )
    )
    db.session.flush()
    return twin.id


def documents_of(dossier_id: int) -> list[tuple]:
    table = DossierDocument.__table__
    query = select(table.c.name, table.c.kind, table.c.count).where(
        table.c.dossier_id == dossier_id
    )
    return [tuple(row) for row in db.session.execute(query.order_by(table.c.id))]


def intake_events_of(dossier_id: int) -> list[dict[str, Any]]:
    table = StatusEvent.__table__
    rows = db.session.execute(select(table).where(table.c.dossier_id == dossier_id))
    return [
        {k: v for k, v in row._mapping.items() if k not in ("id", "dossier_id", "recorded_at")}
        for row in rows
    ]


def test_the_intake_writes_the_rows_the_orm_writes(app, catalogue, clerk):
    with unit_of_work():
        counter, _secret = operations.create_dossier(
            {
                "service_form": "two_way",
                "procedure_code": "1.001234",
                "applicant": {
                    "name": "Lê Văn Cường",
                    "phone": "0912345678",
                    "id_number": "012345678901",
                    "email": "cuong@example.vn",
                },
                "delivery_address": "12 Đường 30/4, Biên Hòa, Đồng Nai",
                "received_at": datetime(2025, 6, 2, 9, 30, tzinfo=VN_TZ),
                "appointment_date": date(2025, 6, 13),
                "fee_vnd": 15000,
                "note": "Nộp thay",
                "postal_item_number": item(40),
                "documents": INTAKE_DOCUMENTS,
            },
            clerk.user,
        )
        # Held as a flush holds what it inserted: nothing left to write, the ids set.
        assert inspect(counter).persistent and not db.session.new and not db.session.dirty
        assert [d.id for d in counter.documents] == sorted(d.id for d in counter.documents)
        assert all(inspect(d).persistent for d in counter.documents)
        # Audited as the ORM's object reads once written.
        audited = db.session.scalar(
            select(AuditEntry.after).where(AuditEntry.entity_key == counter.code)
        )
        assert audited == operations.snapshot(counter)
        assert audited["documents"][2] == {"name": "Giấy ủy quyền", "kind": "copy", "count": 1}
        # ...to the letter, as the JSON type writes it.
        stored = db.session.scalar(
            select(cast(AuditEntry.__table__.c.after, Text)).where(
                AuditEntry.entity_key == counter.code
            )
        )
        assert stored == json.dumps(audited)
        twin_id = orm_twin(counter, clerk.user.id)
    logged, twin = columns_of(counter.id), columns_of(twin_id)
    assert_same_rows(twin, logged, APART)
    assert (
        documents_of(counter.id)
        == documents_of(twin_id)
        == [
            ("Tờ khai", "original", 1),
            ("Căn cước công dân", "certified_copy", 2),
            ("Giấy ủy quyền", "copy", 1),
        ]
    )
    assert intake_events_of(counter.id) == intake_events_of(twin_id)
    assert len(intake_events_of(counter.id)) == 1


def test_the_new_dossier_moves_on_in_the_same_transaction(app, catalogue, clerk):
    """The ORM takes the inserted dossier as its own: an event recorded right after the intake
    updates it from version 1, and a correction replaces its documents."""
    with unit_of_work():
        dossier, _secret = operations.create_dossier(
            intake_data("two_way", received_at=MONDAY, documents=INTAKE_DOCUMENTS[:2]), None
        )
        operations.record_event(dossier, "forwarded", source="counter", occurred_at=at(0, 2))
        operations.update_dossier(
            dossier,
            {
                "version": 2,
                "note": "Bổ sung đơn",
                "documents": [{"name": "Đơn", "kind": "original", "count": 1}],
            },
            clerk.user,
        )
    row = columns_of(dossier.id)
    assert (row["status"], row["version"]) == ("forwarded", 3)
    assert documents_of(dossier.id) == [("Đơn", "original", 1)]
    assert [e["to_status"] for e in intake_events_of(dossier.id)] == ["received", "forwarded"]


def test_a_rolled_back_savepoint_takes_the_new_dossier_away(app, catalogue):
    """As with the ORM's flush: a dossier logged in a savepoint that is rolled back is gone,
    and nothing counts, announces or logs it at the commit."""
    with unit_of_work():
        kept, _secret = operations.create_dossier(
            intake_data("two_way", postal_item_number=item(41)), None
        )
        with pytest.raises(LookupError), db.session.begin_nested():
            gone, _secret = operations.create_dossier(
                intake_data(
                    "two_way",
                    postal_item_number=item(42),
                    documents=INTAKE_DOCUMENTS,
                ),
                None,
            )
            raise LookupError("refused after the intake")
        assert not inspect(gone).persistent and inspect(kept).persistent
    assert db.session.scalars(select(Dossier.code)).all() == [kept.code]
    assert db.session.scalar(select(func.count()).select_from(DossierDocument)) == 0
    assert db.session.scalar(select(func.sum(DailyCount.taken))) == 1
    assert db.session.scalar(select(func.count()).select_from(StatusChange)) == 1
    event_ids = db.session.scalars(select(Notification.event_id)).all()
    assert set(event_ids) == {db.session.scalar(select(StatusEvent.id))}
