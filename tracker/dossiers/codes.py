"""Dossier codes (Circular 01/2018 art. 19) and the lookup secrets printed on receipts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Exists, Insert, Select, bindparam, select, text

from tracker.database import dialect_name, next_in_counter, on_postgresql, upsert
from tracker.dossiers.models import CodeCounter
from tracker.extensions import db

# Crockford's base32: no I, L, O, U, so a secret read aloud or retyped survives.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SECRET_LENGTH = 10  # 10 symbols x 5 bits = 50 random bits
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def allocate_code(agency_code: str, day: date) -> str:
    """Next code `<agency>-<YYMMDD>-<NNNN>` for that agency and day, without gaps or duplicates.

    One atomic upsert increments the day's counter: concurrent writers queue on the counter row
    (PostgreSQL row lock, SQLite write lock) until the allocating transaction ends, and a rolled
    back transaction gives its number back, so the sequence has no holes.
    """
    sequence = next_in_counter(CodeCounter.__table__, agency_code=agency_code, day=day)
    return f"{code_prefix(agency_code, day)}{sequence:04d}"


def allocate_code_checking(
    agency_code: str, day: date, check: Exists | None, params: Mapping[str, Any]
) -> tuple[str, bool]:
    """`allocate_code`, and whether `check` (with its bound `params`) holds, in one round trip
    on PostgreSQL (the counter's upsert in a WITH, `check` beside what it returns; elsewhere a
    query of its own, first). The intake asks whether its postal item is taken: under the
    item's advisory lock, taken by an earlier statement, so that this statement's snapshot sees
    any dossier a concurrent intake of the same item committed before the lock was ours.
    `check` should be built once: the statement is built once per `check`."""
    if check is None:
        return allocate_code(agency_code, day), False
    if not on_postgresql():
        holds = bool(db.session.scalar(select(check), params))
        return allocate_code(agency_code, day), holds
    sequence, holds = db.session.execute(
        _allocate_checking(check), {**params, "agency": agency_code, "day": day}
    ).one()
    return f"{code_prefix(agency_code, day)}{sequence:04d}", bool(holds)


# (PostgreSQL) `next_in_counter`'s upsert in a WITH, `check` beside it.
@cache
def _allocate_checking(check: Exists) -> Select:
    table = CodeCounter.__table__
    counter = (
        upsert(table)
        .values(agency_code=bindparam("agency"), day=bindparam("day"), last_seq=1)
        .on_conflict_do_update(
            index_elements=["agency_code", "day"], set_={"last_seq": table.c.last_seq + 1}
        )
        .returning(table.c.last_seq)
        .cte("counter")
    )
    return select(counter.c.last_seq, check)


def code_prefix(agency_code: str, day: date) -> str:
    """`<agency>-<YYMMDD>-`: what the codes of that agency and day share."""
    return f"{agency_code}-{day:%y%m%d}-"


# SQLite: one statement per key, in process (built once per dialect).
@cache
def _reserve_block(dialect: str) -> Insert:
    table = CodeCounter.__table__
    statement = upsert(table).values(
        agency_code=bindparam("agency"), day=bindparam("day"), last_seq=bindparam("n")
    )
    return statement.on_conflict_do_update(
        index_elements=["agency_code", "day"],
        set_={"last_seq": table.c.last_seq + statement.excluded.last_seq},
    ).returning(table.c.last_seq)


# PostgreSQL: every key in one round trip.
_RESERVE_BLOCKS = text(
    "INSERT INTO code_counters (agency_code, day, last_seq)"
    " SELECT * FROM unnest(CAST(:agencies AS varchar[]), CAST(:days AS date[]),"
    " CAST(:counts AS integer[]))"
    " ON CONFLICT (agency_code, day)"
    " DO UPDATE SET last_seq = code_counters.last_seq + excluded.last_seq"
    " RETURNING agency_code, day, last_seq"
)


def allocate_code_blocks(counts: Mapping[tuple[str, date], int]) -> dict[tuple[str, date], int]:
    """Reserve `counts[(agency_code, day)]` consecutive sequence numbers per key, for a bulk
    import; returns the first number of each key's block.

    The same guarantees as `allocate_code`: the counter rows stay locked until the transaction
    ends, and a rollback gives the numbers back. Keys go in sorted order, so that two writers
    reserving overlapping keys take the row locks in the same order.
    """
    keys = sorted(key for key, count in counts.items() if count > 0)
    if not keys:
        return {}
    if on_postgresql():
        rows = db.session.execute(
            _RESERVE_BLOCKS,
            {
                "agencies": [agency for agency, _ in keys],
                "days": [day for _, day in keys],
                "counts": [counts[key] for key in keys],
            },
        )
        last = {(agency, day): last_seq for agency, day, last_seq in rows}
    else:
        statement = _reserve_block(dialect_name())
        last = {
            (agency, day): db.session.execute(
                statement, {"agency": agency, "day": day, "n": counts[agency, day]}
            ).scalar_one()
            for agency, day in keys
        }
    return {key: last[key] - counts[key] + 1 for key in keys}


def allocate_codes(agency_code: str, day: date, n: int) -> list[str]:
    """`n` consecutive codes for that agency and day, reserved with one upsert."""
    start = allocate_code_blocks({(agency_code, day): n})[agency_code, day]
    prefix = code_prefix(agency_code, day)
    return [f"{prefix}{sequence:04d}" for sequence in range(start, start + n)]


# base64's RFC 4648 alphabet, symbol for symbol onto Crockford's.
_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


def new_lookup_secrets(n: int) -> list[str]:
    """`n` secrets like `new_lookup_secret`'s (50 random bits each), drawn at once: a bulk
    import makes a million, and ten `secrets.choice` calls per secret would cost seconds."""
    random_bytes = secrets.token_bytes(-(-n * SECRET_LENGTH // 8) * 5)  # 5 bytes = 8 symbols
    symbols = base64.b32encode(random_bytes).translate(_FROM_RFC4648).decode()
    return [f"{symbols[i : i + 5]}-{symbols[i + 5 : i + 10]}" for i in range(0, n * 10, 10)]


def hash_secrets(codes: Sequence[str], new_secrets: Sequence[str]) -> list[str]:
    """`hash_secret` of each (code, secret) for secrets from `new_lookup_secrets`, which are
    already in normal form."""
    return [
        hashlib.sha256(f"{code}:{secret[:5]}{secret[6:]}".encode()).hexdigest()
        for code, secret in zip(codes, new_secrets, strict=True)
    ]


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
