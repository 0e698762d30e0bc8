"""Engine set-up: SQLite pragmas and write-lock-first transactions; the write-intent flag; one
helper for each difference between PostgreSQL and SQLite the code needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import (
    ARRAY,
    JSON,
    Connection,
    Executable,
    String,
    Table,
    any_,
    bindparam,
    event,
    literal,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from tracker.extensions import db

F = TypeVar("F", bound=Callable)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def writes(view: F) -> F:
    """Mark a GET view that writes (e.g. audits a view), so that SQLite locks before reading."""
    view._tracker_writes = True  # type: ignore[attr-defined]
    return view


def _wants_write_lock() -> bool:
    if has_app_context() and "write_transaction" in g:
        return g.write_transaction
    if not has_request_context():
        return True  # CLI commands and tasks
    view = current_app.view_functions.get(request.endpoint or "")
    # Class-based views dispatch to a method per HTTP verb: the mark is on the method.
    handler = getattr(getattr(view, "view_class", None), request.method.lower(), view)
    g.write_transaction = request.method not in SAFE_METHODS or getattr(
        handler, "_tracker_writes", False
    )
    return g.write_transaction


def configure_sqlite(app: Flask) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE for write transactions.

    pysqlite's own transaction handling is turned off so that SQLAlchemy's "begin" event can
    emit the BEGIN itself: a write transaction that takes the lock up front waits its turn
    (busy timeout) instead of failing later with "database is locked" when it tries to upgrade.
    """
    timeout_ms = app.config["SQLITE_BUSY_TIMEOUT_MS"]
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _wants_write_lock() else "BEGIN")


@contextmanager
def _side_transaction() -> Iterator[Connection]:
    had = "write_transaction" in g
    previous = g.get("write_transaction")
    g.write_transaction = True  # SQLite: BEGIN IMMEDIATE, never a failed lock upgrade
    try:
        with db.engine.begin() as connection:
            yield connection
    finally:
        if had:
            g.write_transaction = previous
        else:
            g.pop("write_transaction", None)


def bookkeeping_write(*statements: Executable | tuple[Executable, Any]) -> None:
    """Writes about the request rather than of it (a session's last request, a token's last
    use), committed whatever the request does: in a short transaction of their own, so a page
    that only reads still records them and, on PostgreSQL, parallel requests of one token do not
    queue on its row for their whole length.

    On SQLite a second transaction would wait for the write lock that a writing request's own
    transaction holds: there they join that transaction (SQLite writes one at a time anyway).
    """
    if db.engine.dialect.name == "sqlite" and _request_writes():
        for statement in statements:
            db.session.execute(*_execute_args(statement))
        return
    with _side_transaction() as connection:
        for statement in statements:
            connection.execute(*_execute_args(statement))


def _execute_args(statement: Executable | tuple[Executable, Any]) -> tuple:
    return statement if isinstance(statement, tuple) else (statement,)


def _request_writes() -> bool:
    return bool(g.get("write_transaction")) or (
        has_request_context() and request.method not in SAFE_METHODS
    )


# Rows by id ---------------------------------------------------------------------------------

MAX_ID = 2**31 - 1  # integer primary keys
M = TypeVar("M")


def get_by_id(model: type[M], row_id: int) -> M | None:
    """The row of `model` with id `row_id`, or None. An id past the column's range names nothing
    (and must not reach the database: PostgreSQL refuses it as out of range)."""
    return db.session.get(model, row_id) if 0 < row_id <= MAX_ID else None


# The differences between PostgreSQL and SQLite, each answered once ------------------------------


def dialect_name() -> str:
    """ "postgresql" or "sqlite": the dialect of the session's database."""
    return db.session.get_bind().dialect.name


def on_postgresql() -> bool:
    return dialect_name() == "postgresql"


def advisory_lock(key: str, *, shared: bool = False, connection: Connection | None = None) -> None:
    """Serialise the transactions that take the same `key` until they end (PostgreSQL's
    transaction-level advisory lock; `shared`: only against those that take it exclusively), in
    the session's transaction or in `connection`'s. SQLite needs none: a write transaction holds
    the database's one write lock from its BEGIN IMMEDIATE."""
    executor = db.session if connection is None else connection
    dialect = dialect_name() if connection is None else connection.dialect.name
    if dialect == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        executor.execute(text(f"SELECT {function}(hashtext(:key))"), {"key": key})


def advisory_locks(keys: list[str]) -> None:
    """`advisory_lock` on each of `keys`, in one statement (in their sorted order: two
    transactions locking overlapping sets never deadlock)."""
    if on_postgresql() and keys:
        db.session.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtext(key)) "
                "FROM unnest(CAST(:keys AS text[])) AS key ORDER BY key"
            ),
            {"keys": keys},
        )


def upsert(table: Any) -> Any:
    """`INSERT` with the `on_conflict_do_update` / `on_conflict_do_nothing` of the session's
    dialect (the two share that API)."""
    return (postgresql.insert if on_postgresql() else sqlite.insert)(table)


def next_in_counter(table: Table, **keys: Any) -> int:
    """The next number of the counter row of `table` at `keys` (its primary key; `last_seq` the
    count), starting at 1, without gaps or duplicates: one atomic upsert, so concurrent writers
    queue on the counter row (PostgreSQL row lock, SQLite write lock) until the allocating
    transaction ends, and a rolled-back transaction gives its number back."""
    statement = _counter_upsert(table, tuple(keys), dialect_name())
    return db.session.execute(statement, {f"k_{k}": v for k, v in keys.items()}).scalar_one()


# Built once per table, keys and dialect (`upsert` follows the dialect): only the values change
# from one allocation to the next. On the table: a plain statement skips the ORM's bulk insert.
@cache
def _counter_upsert(table: Table, keys: tuple[str, ...], dialect: str) -> Any:
    return (
        upsert(table)
        .values(**{k: bindparam(f"k_{k}") for k in keys}, last_seq=1)
        .on_conflict_do_update(index_elements=list(keys), set_={"last_seq": table.c.last_seq + 1})
        .returning(table.c.last_seq)
    )


def read_connection() -> Connection:
    """A connection of the engine's, outside the session, for a single read (the public
    lookup's hot path). On PostgreSQL in autocommit: one read needs no transaction, and that
    saves the BEGIN and ROLLBACK round trips."""
    connection = db.engine.connect()
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection


# One list of values as a parameter ---------------------------------------------------------

# SQLite takes at most 32,766 parameters in a statement: lists are cut into pieces.
IN_BATCH = 2000


def among(column: Any, values: list[Any]) -> Any:
    """`column IN values`; on PostgreSQL `= ANY(<one array>)`, which psycopg sends as a single
    parameter: the statement is the same whatever the count, so neither SQLAlchemy nor the
    driver parses thousands of placeholders per chunk."""
    if on_postgresql():
        return column == any_(literal(values, ARRAY(column.type)))
    return column.in_(values)


def batches(values: list) -> Iterator[list]:
    """`values` in lists short enough for `among` (one list on PostgreSQL)."""
    if on_postgresql():
        yield values  # one array, any length
        return
    for start in range(0, len(values), IN_BATCH):
        yield values[start : start + IN_BATCH]


def insert_rows(session: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys, every column with a default given) in the
    caller's transaction: on PostgreSQL as one statement over one array per column (`unnest`),
    in their order, since an executemany converts and sends each row on its own; elsewhere as an
    executemany."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(table.insert(), rows)
        return
    insert_columns(session, table, {name: [row[name] for row in rows] for name in rows[0]})


def insert_columns(session: Any, table: Table, columns: dict[str, list[Any]]) -> None:
    """PostgreSQL: INSERT the rows given column by column (name -> the rows' values, in order)
    as one statement over one array per column (`unnest`)."""
    dialect = session.get_bind().dialect
    arrays = {}
    for name, values in columns.items():
        if isinstance(table.c[name].type, JSON):
            # As the column type writes it (None as JSON null unless the column says otherwise).
            process = table.c[name].type.bind_processor(dialect)
            values = [process(value) for value in values]
        arrays[name] = array_text(values)
    session.execute(_array_insert(table, tuple(columns)), arrays)


def array_text(values: list[Any]) -> str:
    """`values` as one PostgreSQL array literal (`{1,"a",NULL}`), cast to its type by the
    statement: None, int, bool, date, datetime and str, anything else (Decimal, UUID) by its
    `str` in quotes. Written here rather than by the driver, which converts an array parameter
    element by element in Python (about 1 µs each, 10x this): a feed's or an import's chunk
    sends tens of thousands of values per commit."""
    return "{" + ",".join([_ELEMENT.get(type(value), _quoted)(value) for value in values]) + "}"


def _quoted(value: Any) -> str:
    # Inside double quotes only the backslash and the double quote are special.
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


_ELEMENT: dict[type, Callable[[Any], str]] = {
    type(None): lambda _value: "NULL",
    int: str,
    bool: lambda value: "t" if value else "f",
    # ISO 8601, which PostgreSQL reads for date, timestamp and timestamptz; no character of it
    # needs quotes.
    date: date.isoformat,
    datetime: datetime.isoformat,
    str: _quoted,
}


@cache
def _array_insert(table: Table, names: tuple[str, ...]) -> Any:
    dialect = postgresql.dialect()
    arrays, values = [], []
    for name in names:
        kind = table.c[name].type
        # Text unbounded: a value too long for its column fails as in a plain INSERT (a cast to
        # VARCHAR(n) would cut it short); JSON goes as text and is cast back.
        textual = isinstance(kind, JSON | String)
        arrays.append(f"CAST(:{name} AS {'text' if textual else kind.compile(dialect=dialect)}[])")
        values.append(f"CAST(v.{name} AS json)" if isinstance(kind, JSON) else f"v.{name}")
    columns = ", ".join(names)
    return text(
        f"INSERT INTO {table.name} ({columns}) SELECT {', '.join(values)} "
        f"FROM unnest({', '.join(arrays)}) AS v({columns})"
    )
