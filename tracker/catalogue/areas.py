"""Communes and service areas (which office's postmen go to which commune) loaded from CSV, as
procedures are (tracker/catalogue/loading.py: valid rows load, bad ones are reported by line).

Communes are matched on their code, service areas on (commune, active_from): a commune that
moves to another office keeps its old row, ended with `active_to`, and gets a new one from the
day after. A commune's periods may not overlap: on any day one office serves it, or none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from tracker.catalogue.loading import (
    CellRefused,
    Columns,
    LoadReport,
    assign_audited,
    cell_day,
    clean_text,
    first_time,
    load_csv,
    max_length,
    nul_problems,
)
from tracker.catalogue.models import Commune, Office, ServiceArea
from tracker.csvfile import RowError, Source
from tracker.errors import Phrase
from tracker.extensions import db

COMMUNE_COLUMNS = Columns(("code", "name", "province"), ("active_from", "active_to"))
SERVICE_AREA_COLUMNS = Columns(("commune", "office"), ("active_from", "active_to"))
# A province has a few hundred communes, the country about 3,300: one file holds them all.
MAX_AREA_ROWS = 20_000
# The national code of an administrative unit: communes and wards have 5 digits.
COMMUNE_CODE = re.compile(r"^[0-9]{5}$")
PERIOD = ("active_from", "active_to")


def load_communes_csv(source: Source, *, actor_id: int | None = None) -> LoadReport:
    """Upsert communes (by code) from CSV: code, name, province[, active_from, active_to].
    Without a period column, a reload keeps what the rows had."""
    report = LoadReport(kind="communes")
    loader = _CommuneLoader(report, actor_id)
    return load_csv(source, report, COMMUNE_COLUMNS, loader.load_row, max_rows=MAX_AREA_ROWS)


def load_service_areas_csv(source: Source, *, actor_id: int | None = None) -> LoadReport:
    """Upsert service areas (by commune and active_from) from CSV: commune, office[,
    active_from, active_to]. Rows are checked one by one, then written in date order per
    commune (so a file may end an office's period and start the next one's in any order); a
    row whose period would overlap another of its commune is refused."""
    report = LoadReport(kind="service_areas")
    loader = _ServiceAreaLoader(report, actor_id)
    load_csv(source, report, SERVICE_AREA_COLUMNS, loader.load_row, max_rows=MAX_AREA_ROWS)
    if not any(error.field in ("header", "file") for error in report.errors):
        loader.write()
    report.errors.sort(key=lambda error: error.line)
    db.session.flush()
    return report


def _checked(
    row: dict[str, str], checks: dict[str, Callable[[str], Any]], required: tuple[str, ...]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Each column's value through its check: (values, [(column, reason)])."""
    nul = nul_problems(row)
    if nul:
        return {}, nul
    values, errors = {}, []
    for name, check in checks.items():
        if name not in row and name not in required:
            continue  # a column the file does not have: left as it is
        try:
            if name in required and not row.get(name):
                raise CellRefused("required")
            values[name] = check(row[name])
        except CellRefused as exc:
            errors.append((name, exc.args[0]))
    start, end = values.get("active_from"), values.get("active_to")
    if start and end and end < start:
        errors.append(("active_to", "must not be before the start"))
    return values, errors


def _text_of(model: type, column: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        text = clean_text(value)
        limit = max_length(model, column)
        if len(text) > limit:
            raise CellRefused(Phrase("at most %(most)s characters", most=limit))
        return text

    return check


class _CommuneLoader:
    def __init__(self, report: LoadReport, actor_id: int | None) -> None:
        self.report = report
        self.actor_id = actor_id
        self.communes = {c.code: c for c in db.session.scalars(select(Commune))}
        self.seen: dict[str, int] = {}

    def load_row(self, line: int, row: dict[str, str] | None) -> None:
        if row is None:
            return
        checks = {
            "code": self._code,
            "name": _text_of(Commune, "name"),
            "province": _text_of(Commune, "province"),
            "active_from": cell_day,
            "active_to": cell_day,
        }
        values, errors = _checked(row, checks, COMMUNE_COLUMNS.required)
        if errors:
            self.report.errors.extend(RowError(line, name, reason) for name, reason in errors)
            return
        self.seen[values["code"]] = line
        commune = self.communes.get(values["code"])
        if commune is None:
            commune = self.communes[values["code"]] = Commune()
            db.session.add(commune)
            self.report.created += 1
        else:
            self.report.updated += 1
        assign_audited(commune, values, "communes", self.actor_id)

    def _code(self, value: str) -> str:
        if not COMMUNE_CODE.match(value):
            raise CellRefused("must be the commune's national code, 5 digits")
        return first_time(value, self.seen)


@dataclass
class _AreaRow:
    line: int
    commune: Commune
    office: Office
    period: dict[str, date | None]  # the period columns the file has

    @property
    def active_from(self) -> date | None:
        return self.period.get("active_from")


class _ServiceAreaLoader:
    def __init__(self, report: LoadReport, actor_id: int | None) -> None:
        self.report = report
        self.actor_id = actor_id
        self.communes = {c.code: c for c in db.session.scalars(select(Commune))}
        self.offices = {o.code: o for o in db.session.scalars(select(Office))}
        self.areas: dict[int, list[ServiceArea]] = {}
        for area in db.session.scalars(select(ServiceArea)):
            self.areas.setdefault(area.commune_id, []).append(area)
        self.rows: list[_AreaRow] = []
        self.seen: dict[tuple[str, date | None], int] = {}

    def load_row(self, line: int, row: dict[str, str] | None) -> None:
        """Check one row; `write` writes the rows that passed."""
        if row is None:
            return
        checks = {
            "commune": lambda code: _known(self.communes, code, "unknown commune %(code)s"),
            "office": lambda code: _known(self.offices, code, "unknown office %(code)s"),
            "active_from": cell_day,
            "active_to": cell_day,
        }
        values, errors = _checked(row, checks, SERVICE_AREA_COLUMNS.required)
        if not errors:
            key = (values["commune"].code, values.get("active_from"))
            if key in self.seen:
                message = "%(code)s from the same day is already on line %(line)s"
                errors.append(("commune", Phrase(message, code=key[0], line=self.seen[key])))
            self.seen[key] = line
        if errors:
            self.report.errors.extend(RowError(line, name, reason) for name, reason in errors)
            return
        period = {name: values[name] for name in PERIOD if name in values}
        self.rows.append(_AreaRow(line, values["commune"], values["office"], period))

    def write(self) -> None:
        """Upsert the checked rows, each commune's in date order (since always first)."""
        for row in sorted(
            self.rows, key=lambda r: (r.commune.code, r.active_from or date.min, r.line)
        ):
            areas = self.areas.setdefault(row.commune.id, [])
            area = next((a for a in areas if a.active_from == row.active_from), None)
            # Without the column, a reload keeps the row's end.
            kept = area.active_to if area is not None else None
            active_to = row.period.get("active_to", kept)
            clash = _overlapping(areas, area, row.active_from, active_to)
            if clash is not None:
                self.report.errors.append(RowError(row.line, "active_from", _clash(clash)))
                continue
            if area is None:
                area = ServiceArea()
                areas.append(area)
                db.session.add(area)
                self.report.created += 1
            else:
                self.report.updated += 1
            fields = {
                "commune": row.commune,
                "office": row.office,
                "active_from": row.active_from,
                "active_to": active_to,
            }
            key = f"{row.commune.code}@{row.active_from or '-'}"
            assign_audited(area, fields, "service_areas", self.actor_id, key=key)


def _known(rows: dict[str, Any], code: str, message: str) -> Any:
    if code not in rows:
        raise CellRefused(Phrase(message, code=code))
    return rows[code]


def _overlapping(
    areas: list[ServiceArea], own: ServiceArea | None, start: date | None, end: date | None
) -> ServiceArea | None:
    """The first other period of the commune that shares a day with [start, end]."""
    for other in areas:
        if other is own:
            continue
        starts_before_end = end is None or other.active_from is None or other.active_from <= end
        ends_after_start = start is None or other.active_to is None or other.active_to >= start
        if starts_before_end and ends_after_start:
            return other
    return None


def _clash(other: ServiceArea) -> str:
    since = other.active_from.isoformat() if other.active_from else "-"
    until = other.active_to.isoformat() if other.active_to else "-"
    message = "overlaps the period of office %(office)s (%(since)s to %(until)s)"
    return Phrase(message, office=other.office.code, since=since, until=until)
