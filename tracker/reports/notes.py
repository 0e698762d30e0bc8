"""The notes of a growth report: what the reader must know about where the figures come from and
what is left out. Each has a stable `code` and a `message`: written in English here, with its
values apart, and given in the reader's language by the catalogues (Vietnamese unless a page or
a request asks for English; a task or a command reads Vietnamese, the reports' language)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tracker.i18n import N_, reader_text
from tracker.reports.figures import ReportFilters
from tracker.reports.models import Baseline
from tracker.reports.series import YearSeries

POSTAL_FIGURES = ("two_way", "one_way", "send_only")


def notes_of(
    year: int,
    filters: ReportFilters,
    baselines: dict[int, dict[int, Baseline]],
    basis: dict[str, str],
    periods: dict,
    shares: dict,
    this: YearSeries,
    last: YearSeries,
    metrics: dict,
    go_live: date | None,
) -> list[dict[str, str]]:
    """The notes of a report, in order: each year's (this one, then the previous), then the
    target's and the filters'."""
    notes: list[dict[str, str]] = []
    shared = False
    sides = (
        (year, "current", this, periods["current"]),
        (year - 1, "previous", last, periods["last_year"]),
    )
    for y, side, stitched, period in sides:
        kind, rows = basis[side], baselines[y]
        if kind == "none":
            text = N_("Year %(year)s has neither records nor aggregate figures.")
            notes.append(_note("no_figures", text, year=y))
        elif kind == "records":
            if _has_postal_figures(rows):
                notes.append(_set_aside(y, go_live))
        elif not filters.empty and shares.get("postal_total") is None:
            text = N_(
                "Year %(year)s has province-wide aggregate figures, but the filters have no"
                " records to share them out by."
            )
            notes.append(_note("baseline_not_filterable", text, year=y))
        else:
            shared = shared or not filters.empty
            notes += _baseline_notes(y, kind, stitched, period)
    if basis["previous"] == "none":
        notes.append(_note("no_target", N_("No target without the previous year's figures.")))
    elif metrics["postal_total"]["same_period"] is None:
        text = N_("The figures of %(year)s are not monthly enough to compare the same period.")
        notes.append(_note("no_same_period", text, year=year - 1))
    if shared:
        text = N_(
            "The aggregate figures are province-wide: the part before the system went live is"
            " shared out by the filters' part of the records (%(share)s%% of the postal total)."
        )
        share = f"{float(shares['postal_total'] * 100):.1f}"
        notes.append(_note("baseline_shared", text, share=share))
    if not filters.empty:
        text = N_("The share of all TTHC dossiers is computed province-wide only.")
        notes.append(_note("share_unfiltered_only", text))
    return notes


def _baseline_notes(year: int, kind: str, stitched: YearSeries, period) -> list[dict]:
    notes = []
    sources = stitched.sources["postal_total"]
    missing = [index + 1 for index, source in enumerate(sources) if source == "none"]
    if missing:
        text = N_(
            "Year %(year)s: months %(months)s before the system went live have no aggregate"
            " figures, so the whole year's figure is unknown; enter the figures of those months."
        )
        months = ", ".join(str(month) for month in missing)
        notes.append(_note("baseline_missing", text, year=year, months=months))
    if kind == "stitched":
        text = N_(
            "Year %(year)s: up to %(before)s from the aggregate figures entered, from %(first)s"
            " from the records in the system."
        )
        before = period.first - timedelta(days=1)
        notes.append(
            _note("stitched", text, year=year, before=_day(before), first=_day(period.first))
        )
    return notes


def _set_aside(year: int, go_live: date | None) -> dict[str, str]:
    # A year whose records cover it all does not add the baseline entered for it. Without a
    # go-live date that may be the year the system went live: say so rather than show a target
    # built on a few weeks without a word.
    if go_live is None:
        text = N_(
            "Year %(year)s has records in the system from its first day, so the aggregate figures"
            " entered for it are not used; if the system went live during %(year)s, set the"
            " go-live date so that the months before it come from the aggregate figures."
        )
    else:
        text = N_(
            "Year %(year)s has records in the system from its first day, so the aggregate figures"
            " entered for it are not used."
        )
    return _note("baseline_set_aside", text, year=year)


def _has_postal_figures(rows: dict[int, Baseline]) -> bool:
    return any(getattr(row, name) is not None for row in rows.values() for name in POSTAL_FIGURES)


def _day(day: date) -> str:
    return f"{day:%d/%m/%Y}"


def _note(code: str, text: str, **values: Any) -> dict[str, str]:
    """The note `code`: `text` in the reader's language, its values put back."""
    return {"code": code, "message": reader_text(text, **values)}
