"""`flask feed load FILE`: a feed from a file (CSV, or JSON lines), checked like an HTTP batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup, with_appcontext

from tracker.csvfile import FileProblem, RowError, read_text, records
from tracker.feeds import operations, queries
from tracker.feeds.models import FEED_SOURCES
from tracker.feeds.schemas import check_events
from tracker.unit_of_work import unit_of_work
from workers.feeds import apply_batch

feed_cli = AppGroup("feed", help="Status feeds from the post and from agencies.")

# A column that only one feed has tells which feed a file is.
_MARKERS = {"item_number": "postal", "dossier_code": "agency", "agency_reference": "agency"}


@feed_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--source", type=click.Choice(FEED_SOURCES), help="which feed (default: from the columns)"
)
@click.option(
    "--enqueue", is_flag=True, help="leave the applying to a worker instead of doing it here"
)
@with_appcontext
def load(path: Path, source: str | None, enqueue: bool) -> None:
    """Load a postal or agency feed from FILE (.csv, or JSON lines: one event per line).

    Columns / keys are those of the HTTP feeds. Malformed rows are printed with their line
    number and left out; the rest is stored as one batch and applied.
    """
    try:
        rows, errors = _read(path)
    except FileProblem as problem:
        raise click.ClickException(str(problem.error)) from problem
    source = source or _guess_source(rows)
    valid, refused = check_events(source, rows)
    errors += [RowError(e.index, e.field, e.message) for e in refused]
    for error in sorted(errors, key=lambda e: e.line):
        click.echo(str(error), err=True)
    if not valid:
        raise click.ClickException(f"no valid {source} event in {path.name}: nothing stored")
    refused_rows = len({error.line for error in errors})
    with unit_of_work():
        batch = operations.receive_batch(
            source, valid, refused=refused_rows, submitted_by=None, apply_later=enqueue
        )
    click.echo(f"batch {batch.id}: {len(valid)} {source} events stored, {refused_rows} refused")
    if enqueue:
        click.echo("queued for a worker (feeds.apply_batch)")
    else:
        # The task, run here as a worker runs it: chunks committed one by one.
        apply_batch(batch.id)
        counts = queries.batch_counts(batch.id)
        click.echo(", ".join(f"{state} {count}" for state, count in counts.items() if count))
    if errors:
        raise SystemExit(1)  # stored what was valid; the exit status still says not all was


def _read(path: Path) -> tuple[list[tuple[int, Any]], list[RowError]]:
    text = read_text(path)
    first = text.lstrip()[:1]
    if path.suffix.lower() in {".jsonl", ".ndjson", ".json"} or first == "{":
        return _json_lines(text)
    return _csv_rows(text)


def _json_lines(text: str) -> tuple[list[tuple[int, Any]], list[RowError]]:
    rows, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except (ValueError, RecursionError):
            errors.append(RowError(number, "line", "not a JSON object"))
    return rows, errors


def _csv_rows(text: str) -> tuple[list[tuple[int, Any]], list[RowError]]:
    """(line, {column: cell}) per row; empty cells are left out, as absent keys in JSON."""
    lines = records(text)
    header = next(lines, None)
    if header is None:
        raise FileProblem(1, "file", "empty: no header line")
    names = [name.strip() for name in header[1]]
    rows, errors = [], []
    for line, cells in lines:
        if len(cells) > len(names):
            errors.append(RowError(line, "line", f"{len(cells)} cells for {len(names)} columns"))
            continue
        rows.append(
            (line, {name: cell for name, cell in zip(names, cells, strict=False) if cell.strip()})
        )
    return rows, errors


def _guess_source(rows: list[tuple[int, Any]]) -> str:
    for _, row in rows:
        if isinstance(row, dict):
            for marker, source in _MARKERS.items():
                if marker in row:
                    return source
    raise click.ClickException("cannot tell the feed from the columns: give --source")
