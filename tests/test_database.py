"""`tracker.database.insert_rows`: the rows read back as they were given, whatever their text.

On PostgreSQL each column travels as one array literal written by `array_text`; these values are
the ones its quoting must get right (quotes, backslashes, braces, commas, the word NULL, line
breaks, Vietnamese), beside NULLs, dates, moments with a time zone, booleans and JSON.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)

from tracker.database import array_text, insert_rows
from tracker.extensions import db
from tracker.types import UTCDateTime

TRICKY = [
    'say "hi"',
    "back\\slash",
    "ends with a backslash\\",
    "{braces}, and commas",
    "NULL",
    "",
    " spaces around ",
    "line\nbreak\ttab",
    "Nguyễn Thị Hồng Nhung, số 12 ngõ 3",
    "'single' quotes",
]


@pytest.fixture
def scratch(app):
    table = Table(
        "scratch_rows",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(80)),
        Column("note", Text),
        Column("at", UTCDateTime),
        Column("day", Date),
        Column("flag", Boolean),
        Column("data", JSON),
    )
    table.create(db.engine)
    try:
        yield table
    finally:
        db.session.rollback()
        table.drop(db.engine)


def test_rows_read_back_as_given(scratch):
    vietnam = timezone(timedelta(hours=7))
    rows = [
        {
            "id": number + 1,
            "name": text[:80],
            "note": None if number % 3 == 0 else text,
            "at": datetime(2026, 12, 31, 23, 59, 59, 123456, tzinfo=vietnam)
            + timedelta(minutes=number),
            "day": date(2026, 1, 1) + timedelta(days=number),
            "flag": number % 2 == 0,
            "data": {"text": text, "line": number},
        }
        for number, text in enumerate(TRICKY)
    ]
    insert_rows(db.session, scratch, [dict(row) for row in rows])
    found = [dict(row._mapping) for row in db.session.execute(select(scratch).order_by("id"))]
    for row in rows:
        row["at"] = row["at"].astimezone(UTC)  # the same moment, read back in UTC
    assert found == rows


def test_array_literal_quotes_only_what_needs_it():
    assert array_text([1, None, True, date(2026, 2, 3)]) == "{1,NULL,t,2026-02-03}"
    assert array_text(['a"b', "c\\d", "NULL"]) == '{"a\\"b","c\\\\d","NULL"}'
    assert array_text([]) == "{}"
