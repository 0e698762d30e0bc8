"""`flask report ...`: baselines, targets, recomputes and snapshots from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from tracker.errors import DomainError, flatten_messages
from tracker.reports import growth, jobs, operations, queries, recompute
from tracker.reports.queries import BASELINE_FIGURES
from tracker.reports.schemas import (
    BaselineIn,
    BaselineMonthIn,
    GoLiveIn,
    TargetIn,
    parse_year,
)
from tracker.unit_of_work import unit_of_work

report_cli = AppGroup("report", help="Growth reports: baselines, targets, rollups.")


# Baselines and targets --------------------------------------------------------------------
# The same schemas and operations as the API; `set` edits one row (or the rate) and keeps the
# rest, in a unit of work of its own. Refused input prints the message and exits 1, writing
# nothing (the unit rolls back before `_refused` words the error).

baseline_cli = AppGroup("baseline", help="Aggregate figures of years or months without records.")
target_cli = AppGroup("target", help="The growth rate of a year and the targets it gives.")
report_cli.add_command(baseline_cli)
report_cli.add_command(target_cli)


@contextmanager
def _refused() -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        fields = flatten_messages(exc.messages)
        message = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in fields.items())
        raise click.ClickException(message) from exc
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


@baseline_cli.command("show")
@click.argument("year")
def baseline_show(year: str) -> None:
    """The baseline of YEAR: the year's figures, note and months."""
    with _refused():
        state = queries.baseline_state(parse_year(year))
    _echo_baseline(state)


@baseline_cli.command("set")
@click.argument("year")
@click.option("--month", type=int, help="1..12: set this month's figures (default: the year's)")
@click.option("--two-way", type=int, help="two-way dossiers (received and returned by post)")
@click.option("--one-way", type=int, help="one-way dossiers (result returned by post)")
@click.option("--send-only", type=int, help="send-only dossiers (received by post)")
@click.option("--all-tthc", type=int, help="all TTHC dossiers of the province (the share)")
@click.option("--note", help="the year's note (where the figures come from)")
def baseline_set(year: str, month: int | None, note: str | None, **figures: int | None) -> None:
    """Set figures of YEAR (or of one month with --month), keeping the others."""
    given = {name: value for name, value in figures.items() if value is not None}
    if not given and (month is not None or note is None):
        raise click.ClickException(
            "nothing to set: give --two-way, --one-way, --send-only or --all-tthc"
        )
    with _refused(), unit_of_work():
        number = parse_year(year)
        body = _baseline_body(queries.baseline_state(number))
        if month is None:
            body.update(given)
        else:
            entry = BaselineMonthIn().load({"month": month, **given})
            body["months"] = [m for m in body["months"] if m["month"] != month] + [entry]
        if note is not None:
            body["note"] = note
        state = operations.set_baseline(number, BaselineIn().load(body), None)
    click.echo(f"baseline of {number} saved")
    _echo_baseline(state)


@target_cli.command("show")
@click.argument("year")
def target_show(year: str) -> None:
    """The growth rate of YEAR and its targets over the previous year."""
    with _refused():
        state = growth.target_state(parse_year(year))
    _echo_target(state)


@target_cli.command("set")
@click.argument("year")
@click.option("--rate", help="0.3 = 30%; at most 4 decimals, 0 to 10")
@click.option("--default", "to_default", is_flag=True, help="remove the rate: 30% applies")
@click.option("--note", help="why this rate (default: keep the note)")
def target_set(year: str, rate: str | None, to_default: bool, note: str | None) -> None:
    """Set the growth rate of YEAR."""
    if (rate is None) != to_default:
        raise click.ClickException("give either --rate R or --default")
    with _refused(), unit_of_work():
        number = parse_year(year)
        if note is None:
            row = queries.growth_target(number)
            note = row.note if row else None
        data = TargetIn().load({"rate": None if to_default else _number(rate), "note": note})
        state = operations.set_target(number, data, None)
    click.echo(f"growth rate of {number} saved")
    _echo_target(state)


def _number(text: str) -> Decimal | str:
    """The rate as typed, exactly (no float); text that is not a number is left for the
    schema to refuse by name."""
    try:
        return Decimal(text)
    except InvalidOperation:
        return text


def _baseline_body(state: dict) -> dict:
    """What is stored, as the body of a PUT that would store it again."""
    body = {name: state[name] for name in (*BASELINE_FIGURES, "note")}
    return {**body, "months": [dict(month) for month in state["months"]]}


def _figures(row: dict) -> str:
    return ", ".join(f"{name} {_or_dash(row[name])}" for name in BASELINE_FIGURES)


def _or_dash(value: object) -> object:
    return "-" if value is None else value


def _echo_baseline(state: dict) -> None:
    if state["updated_at"] is None:
        click.echo(f"{state['year']}: no baseline")
        return
    by = state["updated_by"] or "command line"
    when = f"{state['updated_at']:%Y-%m-%d %H:%M} UTC"
    click.echo(f"{state['year']}: {_figures(state)} (updated {when} by {by})")
    if state["note"]:
        click.echo(f"  note: {state['note']}")
    for month in state["months"]:
        click.echo(f"  month {month['month']:>2}: {_figures(month)}")


def _echo_target(state: dict) -> None:
    percent = format((state["rate"] * 100).normalize(), "f")
    how = "default" if state["is_default"] else f"set by {state['updated_by'] or 'command line'}"
    click.echo(f"{state['year']}: growth rate {percent}% ({how})")
    if state["note"]:
        click.echo(f"  note: {state['note']}")
    previous = state["previous"]
    for metric, target in state["targets"].items():
        actual, basis = previous[metric]["actual"], previous[metric]["basis"]
        click.echo(
            f"  {metric:<12} target {_or_dash(target)} "
            f"({previous['year']}: {_or_dash(actual)}, {basis})"
        )


@report_cli.command("go-live")
@click.argument("day", required=False)
@click.option("--clear", is_flag=True, help="remove the go-live date")
@click.option("--note", help="why this day (default: keep the note)")
def go_live_command(day: str | None, clear: bool, note: str | None) -> None:
    """Show the go-live date, or set it to DAY (YYYY-MM-DD): before it the reports read the
    baselines, from it the records."""
    if day is None and not clear:
        _echo_go_live(queries.go_live_state())
        return
    if day is not None and clear:
        raise click.ClickException("give either DAY or --clear")
    with _refused(), unit_of_work():
        if note is None:
            note = queries.go_live_state()["note"]
        data = GoLiveIn().load({"go_live_on": day, "note": note})
        state = operations.set_go_live(data, None)
    click.echo("go-live date saved")
    _echo_go_live(state)


def _echo_go_live(state: dict) -> None:
    if state["go_live_on"] is None:
        click.echo("go-live date: not set (a year with records is all records)")
    else:
        click.echo(f"go-live date: {state['go_live_on']:%Y-%m-%d}")
    if state["note"]:
        click.echo(f"  note: {state['note']}")


# Rollups and snapshots --------------------------------------------------------------------
# Each year is a unit of work of its own, as in the nightly task.


@report_cli.command("recompute")
@click.option("--year", help="only this year (default: every year with dossiers or rollups)")
def recompute_command(year: str | None) -> None:
    """Check the rollups against the dossiers and events; fix and print what differed."""
    with _refused():
        number = parse_year(year) if year is not None else None

    def print_year(result: recompute.RecomputeResult) -> None:
        click.echo(_fixes_line(result))

    if number is None:
        results = recompute.recompute_all(on_year=print_year)
        click.echo(f"{len(results)} year(s), {sum(r.fixed for r in results)} row(s) fixed")
    else:
        with unit_of_work():
            result = recompute.recompute_year(number)
        print_year(result)


def _fixes_line(result: recompute.RecomputeResult) -> str:
    """e.g. "2024: 3 row(s) fixed: daily 1 inserted, 1 deleted; monthly_totals 1 updated"."""
    if not result.fixed:
        return f"{result.year}: correct"
    tables = []
    for name, fixes in result.tables():
        kinds = (
            ("inserted", fixes.inserted),
            ("updated", fixes.updated),
            ("deleted", fixes.deleted),
        )
        done = ", ".join(f"{count} {kind}" for kind, count in kinds if count)
        if done:
            tables.append(f"{name} {done}")
    return f"{result.year}: {result.fixed} row(s) fixed: {'; '.join(tables)}"


@report_cli.command("snapshot")
@click.option("--year", help="only this year (default: this year and the previous one)")
def snapshot_command(year: str | None) -> None:
    """Store the growth report of the year(s) as it stands today."""
    with _refused():
        years = [parse_year(year)] if year is not None else jobs.nightly_snapshot_years()
    for number in years:
        with _refused(), unit_of_work():
            snapshot = jobs.snapshot_year(number)
        click.echo(f"report of {number} as of {snapshot.as_of} stored")
