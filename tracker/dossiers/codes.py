"""Dossier codes (Circular 01/2018 art. 19) and the lookup secrets printed on receipts."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tracker.dossiers.models import CodeCounter
from tracker.extensions import db

# Crockford's base32: no I, L, O, U, so a secret read aloud or retyped survives.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SECRET_LENGTH = 10  # 10 symbols x 5 bits = 50 random bits
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _next_sequence(insert):
    # On the table, not the mapped class: a plain statement skips the ORM's bulk-insert machinery.
    return (
        insert(CodeCounter.__table__)
        .values(agency_code=bindparam("agency"), day=bindparam("day"), last_seq=1)
        .on_conflict_do_update(
            index_elements=["agency_code", "day"],
            set_={"last_seq": CodeCounter.__table__.c.last_seq + 1},
        )
        .returning(CodeCounter.__table__.c.last_seq)
    )


# Built once per dialect: only the agency and the day change from one intake to the next.
_NEXT_SEQUENCE = {"postgresql": _next_sequence(pg_insert), "sqlite": _next_sequence(sqlite_insert)}


def allocate_code(agency_code: str, day: date) -> str:
    """Next code `<agency>-<YYMMDD>-<NNNN>` for that agency and day, without gaps or duplicates.

    One atomic upsert increments the day's counter: concurrent writers queue on the counter row
    (PostgreSQL row lock, SQLite write lock) until the allocating transaction ends, and a rolled
    back transaction gives its number back, so the sequence has no holes.
    """
    statement = _NEXT_SEQUENCE[db.session.get_bind().dialect.name]
    sequence = db.session.execute(statement, {"agency": agency_code, "day": day}).scalar_one()
    return f"{agency_code}-{day:%y%m%d}-{sequence:04d}"


def new_lookup_secret() -> str:
    symbols = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))
    return f"{symbols[:5]}-{symbols[5:]}"


def normalise_secret(value: str) -> str:
    return "".join(ch for ch in value.upper() if ch.isalnum()).translate(_CONFUSABLE)


def hash_secret(code: str, secret: str) -> str:
    """The secret is random (50 bits), so a fast salted hash suffices and keeps lookups cheap."""
    return hashlib.sha256(f"{code}:{normalise_secret(secret)}".encode()).hexdigest()


def secret_matches(code: str, secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(code, secret), stored_hash)
