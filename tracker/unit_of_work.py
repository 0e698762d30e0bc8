"""The unit of work: the one place a transaction is committed or rolled back.

A request (`Tracker.dispatch_request`), a task (`workers.base.TrackerTask`), the part of a command
that writes (`with unit_of_work():`, so that it prints what it stored only once it is stored) or
one chunk of a long task (`each_committed`) is a unit: it commits once when it ends well and rolls
back when anything is raised. Operations only flush.

What consumers of domain signals collect during a unit (rollup counts, notices, outbox messages)
is written by the hooks registered here, in the order they are registered
(`tracker.subscriptions`): the writers run just before the outermost commit, in that commit; the
publishers run after it; both lists are forgotten when the transaction ends without a commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from tracker.extensions import db

R = TypeVar("R")
SessionHook = Callable[[Session], None]


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit what the block wrote when it ends well; roll it all back when it raises.

    Used at the boundaries only (request, task, command, a chunk of a long task): each block
    commits on its way out, so a chunk's block inside a task's commits that chunk.
    """
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def discard() -> None:
    """Undo what the current unit has written so far, and end its transaction: a page form
    refused by an operation re-renders over the state before it; a long task ends a read so
    that its next step sees what others committed since."""
    db.session.rollback()


# Writers and publishers of what the signals' consumers collect -----------------------------


@dataclass(frozen=True)
class CommitHooks:
    """What one consumer collected in `session.info` during the transaction."""

    name: str
    forget: SessionHook  # the transaction ended without a commit, or after it
    write: SessionHook | None = None  # before the outermost commit, inside it
    publish: SessionHook | None = None  # after the commit


_hooks: list[CommitHooks] = []


def register(*hooks: CommitHooks) -> None:
    """Set the consumers' hooks, in the order they run (called once per app, with all of them)."""
    _hooks[:] = hooks
    if not event.contains(Session, "before_commit", _before_commit):
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)


def registered() -> list[str]:
    return [hooks.name for hooks in _hooks]


def _before_commit(session: Session) -> None:
    # Fires for savepoints too: only the outermost commit writes.
    if session.in_nested_transaction():
        return
    for hooks in _hooks:
        if hooks.write is not None:
            hooks.write(session)


def _after_commit(session: Session) -> None:
    for hooks in _hooks:
        if hooks.publish is not None:
            hooks.publish(session)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Rolled back or closed (after a commit too): what was collected goes with it.
    if transaction.parent is None:
        for hooks in _hooks:
            hooks.forget(session)


def each_committed(step: Callable[[], R]) -> Iterator[R]:
    """Run `step` again and again, each run a unit of work of its own, and yield what each run
    returned until one returns nothing (a task working through chunks: a run that dies loses
    one chunk's transaction, and the next run carries on from there)."""
    while True:
        with unit_of_work():
            result = step()
        if not result:
            return
        yield result
