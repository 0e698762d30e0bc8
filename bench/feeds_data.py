"""The feed benchmark's data: one-way dossiers at result_collected, each with its own item
number (bulk-inserted beside `bench.dataset`'s background), and their postal tracking events."""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text

from bench.services import ROOT, environment
from tracker.dossiers import codes, s10
from tracker.dossiers.models import Dossier
from tracker.dossiers.rows import new_dossier_row
from tracker.extensions import db

# Far from bench.dataset's serials: its dossiers keep their own item numbers.
FIRST_SERIAL = 50_000_000
# (raw code, moves the status) of a one-way item's tracking history, in time order.
TRACKING = (("EMB", False), ("EMC", False), ("EMD", False), ("EMG", False), ("EDG", True))


def item_number(serial: int) -> str:
    digits = f"{serial:08d}"
    return f"EE{digits}{s10.check_digit(digits)}VN"


def one_way_row(code: str, procedure, office, item: str, phone: str, received_at: datetime) -> dict:
    """A one-way dossier as the intake builds it (at result_collected, its first status), as a
    row for a bulk INSERT (procedure: `id`, `agency_id`; office: `id`, `channel_id`). Also used by
    the feed tests."""
    return new_dossier_row(
        code=code,
        service_form="return_only",
        procedure=procedure,
        office=office,
        applicant_name="Nguyễn Thị Mai",
        applicant_phone=phone,
        delivery_address="12 Đường 30/4, Biên Hòa, Đồng Nai",
        postal_item_number=item,
        received_at=received_at,
        lookup_secret_hash=codes.hash_secret(code, "BENCH-SECRET"),
        now=received_at,
    )


def insert_feed_dossiers(refs, count: int, received_at: datetime, rng: random.Random) -> list[str]:
    """`count` one-way dossiers at result_collected, each with its own item number."""
    procedures = [p for p in refs.procedures if "return_only" in p.service_forms]
    items = [item_number(FIRST_SERIAL + n) for n in range(count)]
    rows = []
    for n, item in enumerate(items):
        procedure = rng.choice(procedures)
        code = f"{procedure.agency_code}-FEED-{n:07d}"
        phone = f"09{rng.randrange(10**8):08d}"
        rows.append(
            one_way_row(code, procedure, rng.choice(refs.offices), item, phone, received_at)
        )
        if len(rows) == 10_000 or n == count - 1:
            db.session.execute(insert(Dossier.__table__), rows)
            db.session.commit()
            rows = []
    return items


def steps_of(mix: str) -> list[tuple[str, bool]]:
    return [*TRACKING, ("EMI", True)] if mix == "tracking" else [("EDG", True), ("EMI", True)]


def feed_events(
    prefix: str, items: list[str], mix: str, start: datetime, offices: list[str]
) -> list[dict]:
    """The events of the items: each item's scans a minute apart, ids starting with `prefix`."""
    steps = steps_of(mix)
    events = []
    for n, number in enumerate(items):
        for k, (code, _) in enumerate(steps):
            moment = start + timedelta(seconds=n * 0.5 + k * 60)
            events.append(
                {
                    "event_id": f"{prefix}-{number}-{k}",
                    "item_number": number,
                    "code": code,
                    "occurred_at": moment.isoformat(),
                    "office_code": offices[n % len(offices)],
                }
            )
    return events


def prepare(
    options: argparse.Namespace, env: dict[str, str], prefixes: list[str], lookup_samples: int = 10
):
    """Schema, background data, the dossiers of each run and an integration token: the events
    of each run (event ids starting with its prefix), the token and the background dataset."""
    from flask_migrate import upgrade

    from bench.dataset import load_dataset
    from tracker import create_app
    from tracker.accounts.operations import create_user, issue_token
    from tracker.extensions import db

    per_pass = -(-options.events // len(steps_of(options.mix)))
    with environment(env):
        app = create_app()
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            dataset = load_dataset(options.background, options.seed, lookup_samples)
            now = datetime.now(UTC)
            rng = random.Random(options.seed)
            items = insert_feed_dossiers(
                dataset.catalogue, per_pass * len(prefixes), now - timedelta(hours=30), rng
            )
            user = create_user("bench-post", "integration", "bench-password-not-secret")
            token = issue_token(user, name="bench", scopes=["feed:postal"])
            db.session.commit()
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            offices = [o.code for o in dataset.catalogue.offices]
            db.engine.dispose()
    feeds = {}
    for number, prefix in enumerate(prefixes):
        mine = items[number * per_pass : (number + 1) * per_pass]
        events = feed_events(prefix, mine, options.mix, now - timedelta(hours=24), offices)
        feeds[prefix] = events[: options.events]
    return feeds, token, dataset
