"""Read side of the sweeps: the anomalies a staff user may see, with filters and keyset pages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, select

from tracker.accounts.models import User
from tracker.catalogue.models import Office
from tracker.dossiers.models import Dossier
from tracker.dossiers.queries import id_of, keyset_page, scope
from tracker.extensions import db
from tracker.sweeps.models import Anomaly


def list_anomalies(user: User, args: dict[str, Any]) -> tuple[list[Row], str | None]:
    """One page of anomalies in the caller's dossier scope, newest first (cursor = last id)."""
    query = (
        select(
            Anomaly.id,
            Anomaly.kind,
            Anomaly.detail,
            Anomaly.data,
            Anomaly.found_at,
            Anomaly.resolved_at,
            Dossier.code.label("dossier_code"),
            Dossier.status,
            Office.code.label("office_code"),
        )
        .join(Dossier, Dossier.id == Anomaly.dossier_id)
        .join(Office, Office.id == Dossier.office_id)
    )
    query = scope(query, user)
    if args["open"]:
        query = query.where(Anomaly.resolved_at.is_(None))
    else:
        query = query.where(Anomaly.resolved_at.is_not(None))
    if "kind" in args:
        query = query.where(Anomaly.kind == args["kind"])
    if "office" in args:
        query = query.where(Dossier.office_id == id_of(Office, args["office"], "office"))
    return keyset_page(query, Anomaly.id, args, rows=True)


def count_open_anomalies(user: User) -> int:
    """How many anomalies are open in the caller's dossier scope."""
    query = (
        select(Anomaly.id)
        .join(Dossier, Dossier.id == Anomaly.dossier_id)
        .where(Anomaly.resolved_at.is_(None))
    )
    query = scope(query, user)
    return db.session.scalar(select(func.count()).select_from(query.subquery()))
