"""Finding a dossier for a citizen. Every way of failing looks the same from outside."""

from __future__ import annotations

from sqlalchemy import select

from tracker.dossiers import codes
from tracker.dossiers.models import Dossier
from tracker.extensions import db

# Compared against when no dossier matched, so that an unknown code costs what a wrong secret does.
_DUMMY_HASH = "0" * 64


def find_by_code_and_secret(code: str, secret: str) -> Dossier | None:
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code.strip().upper()))
    stored = dossier.lookup_secret_hash if dossier is not None else _DUMMY_HASH
    matches = codes.secret_matches(code.strip().upper(), secret, stored)
    return dossier if dossier is not None and matches else None


def find_by_item_and_phone(item: str, phone_last4: str) -> Dossier | None:
    dossier = db.session.scalar(
        select(Dossier).where(Dossier.postal_item_number == item)
        .order_by(Dossier.received_at.desc()).limit(1))
    if dossier is None or not dossier.applicant_phone.endswith(phone_last4):
        return None
    return dossier
