"""The benchmark's data are what they claim: grown copies are real dossiers a citizen can look
up, and the lookups' traffic gets the answers it expects (bench/README.md)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from bench import dataset, loads
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db


@pytest.mark.postgres_only
def test_grown_copies_are_dossiers_of_their_own_that_lookups_find(app, client, monkeypatch):
    monkeypatch.setattr(dataset, "GENERATED_AT_MOST", 300)
    data = dataset.load_dataset(750, seed=3, lookup_samples=750)

    count, codes, items = db.session.execute(
        select(
            func.count(),
            func.count(Dossier.code.distinct()),
            func.count(Dossier.postal_item_number.distinct()),
        )
    ).one()
    assert (count, codes) == (750, 750)
    with_items = db.session.scalar(select(func.count(Dossier.postal_item_number)))
    assert items == with_items  # every copy's item number is its own
    assert db.session.scalar(select(func.count()).select_from(StatusEvent)) == data.events
    copies = [pair for pair in data.lookups if pair[1] == dataset.COPY_SECRET]
    assert len(copies) == 450 and len(data.lookups) == 750

    traffic = loads.track_traffic(random.Random(5), data.lookups, 300)
    misses = [request for request in traffic if request.expect == 404]
    assert 10 <= len(misses) <= 60
    for request in traffic:
        assert client.get(request.path).status_code == request.expect, request.path
