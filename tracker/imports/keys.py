"""Natural keys: which rows of a chunk are new, which were imported already, and which carry an
item number another dossier uses.

A row's key is its agency reference (per agency), else its postal item number. A row whose key
a dossier carries counts as existing (importing a file twice creates nothing new); so does a row
whose key an earlier row of the file carries. The look-ups run per chunk, one query per kind,
in the reader thread on a session of its own (`runner`), while the writer inserts the previous
chunk; the rows handed to the writer but perhaps not committed yet are remembered here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime

from tracker.csvfile import RowError
from tracker.dossiers.operations import ITEM_REUSE_WINDOW
from tracker.imports import queries
from tracker.imports.rows import Chunk, ParsedRow
from tracker.unit_of_work import discard

ITEM_IN_USE = "already used by another dossier within 12 months"
Reference = tuple[int, str]  # (agency id, agency reference)


class RecentKeys:
    """Keys of the last `chunks` chunks sorted out (None: of all of them, for a dry run, which
    commits nothing for the database to remember)."""

    def __init__(self, chunks: int | None) -> None:
        self.window: deque[tuple[set[Reference], dict[str, list[datetime]]]] = deque(maxlen=chunks)
        if chunks is None:
            self.window.append((set(), {}))

    def add_to(
        self, references: set[Reference], items: dict[str, list[datetime]], chunk: Chunk
    ) -> None:
        """Add to `references` and `items` (the database's answers for `chunk`) what the recent
        chunks hold of the chunk's keys: set operations, not a loop per row and chunk."""
        wanted = {(row.procedure.agency_id, row.reference) for row in chunk.rows if row.reference}
        wanted_items = {row.item for row in chunk.rows if row.item}
        for recent_references, recent_items in self.window:
            references |= wanted & recent_references
            for item in wanted_items & recent_items.keys():
                items.setdefault(item, []).extend(recent_items[item])

    def remember(self, rows: list[ParsedRow]) -> None:
        if self.window.maxlen is None:
            references, items = self.window[0]
        else:
            references, items = set(), {}
            self.window.append((references, items))
        for row in rows:
            if row.reference:
                references.add((row.procedure.agency_id, row.reference))
            if row.item:
                items.setdefault(row.item, []).append(row.received_at)


def sort_out(chunks: Iterable[Chunk], recent: RecentKeys) -> Iterator[Chunk]:
    """Each chunk with only its new rows left in `rows`, `existing` counted and the item
    conflicts added to its errors."""
    for chunk in chunks:
        _sort_out(chunk, recent)
        recent.remember(chunk.rows)
        discard()  # end the read: the next chunk sees what was committed since
        yield chunk


def _sort_out(chunk: Chunk, recent: RecentKeys) -> None:
    rows = chunk.rows
    known = queries.existing_references(
        (row.procedure.agency_id, row.reference) for row in rows if row.reference
    )
    in_use = queries.items_in_use(row.item for row in rows if row.item)
    recent.add_to(known, in_use, chunk)
    new: list[ParsedRow] = []
    for row in rows:
        key = (row.procedure.agency_id, row.reference) if row.reference else None
        if key is not None and key in known:
            chunk.existing += 1
            continue
        if row.item:
            moments = in_use.get(row.item)
            if moments and _in_use(moments, row.received_at):
                if key is None:
                    chunk.existing += 1
                else:
                    chunk.errors.append(RowError(row.line, "postal_item_number", ITEM_IN_USE))
                    chunk.refused += 1
                continue
            in_use.setdefault(row.item, []).append(row.received_at)
        if key is not None:
            known.add(key)
        new.append(row)
    chunk.rows = new


def _in_use(moments: list[datetime], received_at: datetime) -> bool:
    # As the intake: a dossier received less than 12 months before (or any time after).
    return any(moment > received_at - ITEM_REUSE_WINDOW for moment in moments)
