"""Each index on the dossiers and their events serves a query of the code, and each is documented.

The queries are the code's own: every statement a function sends is caught on its way to the
database and explained (EXPLAIN (FORMAT JSON), never run), over a table filled with generated
rows whose shape is a province's (most dossiers closed, a few open, fewer marked by the sweep)
and analysed, so that the plans are the ones real statistics give. docs/indexes.md holds the
same list in prose: an index missing from it fails here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text

from tracker.dossiers import queries as dossier_queries
from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.imports import queries as import_queries
from tracker.reports.figures import ReportFilters
from tracker.reports.queries import registrations_awaiting
from tracker.sweeps.operations import mark_overdue_and_stuck
from tracker.tracking import queries as tracking_queries

pytestmark = pytest.mark.postgres_only

DOC = Path(__file__).resolve().parent.parent / "docs" / "indexes.md"
DOSSIERS = 20_000

# The newest dossiers are open (one in six: the year's last weeks), in every open status; the rest
# are closed. Open dossiers are due around today, some already overdue (and marked), a few stuck.
_FILL = """
INSERT INTO dossiers (
    code, service_form, procedure_id, agency_id, office_id, channel_id, agency_reference,
    applicant_name, applicant_name_folded, applicant_phone, postal_item_number, fee_vnd, status,
    received_at, due_date, supplement_days, status_changed_at, overdue_since, stuck_since,
    lookup_secret_hash, created_at, updated_at, version)
SELECT
    'X-' || i, CASE WHEN i % 7 = 4 THEN 'return_only' ELSE 'two_way' END, :procedure,
    :agency, CASE WHEN i % 3 = 0 THEN :other_office ELSE :office END, :channel,
    CASE WHEN i % 2 = 0 THEN 'REF-' || i END, 'Nguyen Van ' || i, 'nguyen van ' || i,
    '09' || lpad(i::text, 8, '0'), 'RR' || lpad(i::text, 8, '0') || '5VN', 0,
    CASE WHEN i > :count / 6 THEN (CASE WHEN i % 50 = 0 THEN 'withdrawn' ELSE 'delivered' END)
        ELSE (ARRAY['received', 'forwarded', 'processing', 'result_ready', 'registered',
                    'delivery_failed', 'result_collected'])[1 + i % 7] END,
    now() - (i * 25 || ' minutes')::interval, current_date + 10 - i / 100, 0,
    now() - (i * 25 || ' minutes')::interval,
    CASE WHEN i <= :count / 6 AND i / 100 > 10 AND i % 7 IN (0, 1, 2, 4) THEN now() END,
    CASE WHEN i <= :count / 6 AND i % 97 = 0 THEN now() END,
    'hash', now(), now(), 1
FROM generate_series(1, :count) AS i
"""
_EVENTS = """
INSERT INTO status_events (dossier_id, to_status, applied, occurred_at, recorded_at, source)
SELECT id, status, true, received_at, received_at, 'counter' FROM dossiers
"""


@pytest.fixture
def filled(app, catalogue) -> None:
    db.session.execute(
        text(_FILL),
        {
            "procedure": catalogue.procedure.id,
            "agency": catalogue.agency.id,
            "office": catalogue.office.id,
            "other_office": catalogue.other_office.id,
            "channel": catalogue.channel.id,
            "count": DOSSIERS,
        },
    )
    db.session.execute(text(_EVENTS))
    db.session.commit()
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "ANALYZE dossiers, status_events"
        )


@contextmanager
def statements() -> Iterator[list[tuple[str, Any]]]:
    """The statements sent to the database inside the block, with their parameters."""
    caught: list[tuple[str, Any]] = []

    def catch(_conn, _cursor, statement, parameters, _context, _many) -> None:
        caught.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", catch)
    try:
        yield caught
    finally:
        event.remove(db.engine, "before_cursor_execute", catch)


def plan_of(statement: str, parameters: Any) -> dict:
    explained = db.session.connection().exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {statement}", parameters
    )
    return explained.scalar()[0]["Plan"]


def nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def dossier_scans(call: Callable[[], Any], table: str = "dossiers") -> list[list[tuple]]:
    """For each statement `call` sends that reads `table`: its (node type, index) on `table`."""
    with statements() as caught:
        call()
    found = []
    for statement, parameters in caught:
        if not re.search(rf"\b(FROM|UPDATE|JOIN) {table}\b", statement):
            continue
        found.append(
            [
                (node["Node Type"], node.get("Index Name"))
                for node in nodes(plan_of(statement, parameters))
                if node.get("Relation Name") == table or node.get("Index Name")
            ]
        )
    return found


def uses(scans: list[tuple], index: str) -> bool:
    return any(name == index for _node, name in scans) and ("Seq Scan", None) not in scans


def test_every_index_on_the_hot_tables_is_documented(app):
    documented = set(re.findall(r"`((?:ix|uq|pk)_[a-z0-9_]+)`", DOC.read_text(encoding="utf-8")))
    rows = db.session.execute(
        text("SELECT indexname FROM pg_indexes WHERE tablename IN ('dossiers', 'status_events')")
    )
    indexes = set(rows.scalars())
    assert indexes, "no index found"
    assert indexes - documented == set(), "indexes without a documented query"
    assert "ix_dossiers_service_form" not in indexes


def test_lookups_by_key_use_their_index(filled, catalogue):
    code = "X-123"
    [by_code] = dossier_scans(lambda: tracking_queries.find_by_code_and_secret(code, "x" * 10))
    assert uses(by_code, "uq_dossiers_code"), by_code

    item = "RR000001235VN"
    [by_item] = dossier_scans(lambda: tracking_queries.find_by_item_and_phone(item, "0123"))
    assert uses(by_item, "ix_dossiers_postal_item_number"), by_item

    [in_use] = dossier_scans(lambda: import_queries.items_in_use([item, "RR000004565VN"]))
    assert uses(in_use, "ix_dossiers_postal_item_number"), in_use

    wanted = [(catalogue.agency.id, "REF-124"), (catalogue.agency.id, "REF-9999")]
    [references] = dossier_scans(lambda: import_queries.existing_references(wanted))
    assert uses(references, "ix_dossiers_agency_reference"), references

    # An agency's order names its dossier by the agency's reference (tracker.orders).
    [order] = dossier_scans(
        lambda: db.session.scalars(
            select(Dossier.id).where(
                Dossier.agency_id == catalogue.agency.id, Dossier.agency_reference == "REF-124"
            )
        ).all()
    )
    assert uses(order, "uq_dossiers_agency_reference"), order


def test_queues_read_open_dossiers_through_the_partial_indexes(filled, make_staff, catalogue):
    manager = make_staff("manager").user
    clerk = make_staff("clerk").user
    for name, index in (
        ("to_forward", "ix_dossiers_open_status_due"),
        ("delivery_failed", "ix_dossiers_open_status_due"),
        ("overdue", "ix_dossiers_overdue_due"),
        ("received_today", "ix_dossiers_received_at"),
    ):
        count, page = dossier_scans(lambda name=name: dossier_queries.queue_section(manager, name))
        assert uses(count, index), (name, count)
        # The first page may walk the index of its order instead (docs/indexes.md): no scan.
        assert ("Seq Scan", None) not in page, (name, page)
    # A clerk's queue: the office's dossiers of one status, by either index, never a scan.
    count, page = dossier_scans(lambda: dossier_queries.queue_section(clerk, "to_forward"))
    assert ("Seq Scan", None) not in count + page, (count, page)
    assert {name for _node, name in count} & {
        "ix_dossiers_open_status_due",
        "ix_dossiers_office_received",
    }, count

    [stuck] = dossier_scans(
        lambda: dossier_queries.list_dossiers(manager, {"stuck": True, "limit": 50})
    )
    assert uses(stuck, "ix_dossiers_stuck"), stuck

    [awaiting] = dossier_scans(lambda: registrations_awaiting(ReportFilters()))
    assert uses(awaiting, "ix_dossiers_open_status_due"), awaiting


def test_the_hourly_sweep_reads_marks_and_open_dossiers_by_index(filled):
    overdue_marked, overdue_cleared, stuck_marked, stuck_cleared = dossier_scans(
        mark_overdue_and_stuck
    )
    # The rows to mark are found by index; the UPDATE may join them back by a hash over the
    # table when the planner expects many (docs/indexes.md).
    for scans, index in (
        (overdue_marked, "ix_dossiers_open_status_due"),
        (overdue_cleared, "ix_dossiers_overdue_due"),
        (stuck_marked, "ix_dossiers_open_status_due"),
        (stuck_cleared, "ix_dossiers_stuck"),
    ):
        assert any(name == index for _node, name in scans), (index, scans)
    db.session.rollback()


def test_a_dossiers_history_reads_its_events_by_index(filled, make_staff):
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == "X-321"))
    [history] = dossier_scans(lambda: dossier_queries.list_events(dossier), "status_events")
    assert uses(history, "ix_status_events_dossier_occurred"), history
