"""Catalogue rules: loading channels, offices, agencies, sectors and procedures (communes and
service areas: tracker/catalogue/areas.py).

Operations flush, never commit: the CLI command (or request) that calls them owns the transaction.

The procedure loader is deliberately forgiving of the file and strict about each row (what every
CSV loader of the catalogue shares: tracker/catalogue/loading.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tracker.catalogue import areas
from tracker.catalogue.documents import ChecklistInvalid, parse_documents
from tracker.catalogue.loading import (
    CellRefused,
    Columns,
    LoadReport,
    assign_audited,
    clean_text,
    first_time,
    load_csv,
    max_length,
    nul_problems,
)
from tracker.catalogue.models import SERVICE_FORMS, Agency, Channel, Office, Procedure, Sector
from tracker.csvfile import RowError, Source
from tracker.errors import Phrase, ValidationFailed
from tracker.extensions import db
from tracker.text import fold

DATA_DIR = Path(__file__).parent / "data"
DEMO_CATALOGUE = DATA_DIR / "dongnai_sample.json"
DEMO_PROCEDURES = DATA_DIR / "dongnai_sample_procedures.csv"
DEMO_COMMUNES = DATA_DIR / "dongnai_sample_communes.csv"
DEMO_SERVICE_AREAS = DATA_DIR / "dongnai_sample_service_areas.csv"

REQUIRED_COLUMNS = ("code", "name", "sector", "agency", "working_days", "service_forms")
# `documents`: the checklist (syntax in tracker/catalogue/documents.py). Without the column a
# reload keeps each procedure's checklist; with it, an empty cell empties the checklist.
OPTIONAL_COLUMNS = ("fee_vnd", "agency_name", "documents")
PROCEDURE_COLUMNS = Columns(REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
AGENCY_CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
_PROCEDURE_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._\-]{0,39}$")
# "200000", or grouped thousands as Vietnamese Excel writes them: "200.000", "200,000", "200 000".
_VND = re.compile(r"^\d+$|^\d{1,3}(?:([.,\s])\d{3})(?:\1\d{3})*$")
_DIGITS = re.compile(r"^[0-9]+$")
_FORM_SEPARATORS = re.compile(r"[|,\s]+")
MAX_WORKING_DAYS = 365
# One load, counted before anything is written: a province publishes 1,000-2,000 procedures.
MAX_PROCEDURE_ROWS = 10_000
MAX_FEE_VND = 1_000_000_000


# ---- channels, offices, agencies, sectors -----------------------------------------------------


def load_catalogue(data: Mapping[str, Any]) -> dict[str, int]:
    """Upsert channels, sectors, agencies and offices (by code) from a JSON-like structure.

    Every field the structure knows is set from it, so a field left out becomes empty. Nothing is
    deleted: entries missing from the structure stay (deactivate them with `active_to`). Returns
    the number of entries written per kind.
    """
    counts = {
        "channels": _upsert(Channel, data.get("channels", []), _channel_values),
        "sectors": _upsert(Sector, data.get("sectors", []), _sector_values),
        "agencies": _upsert(Agency, data.get("agencies", []), _agency_values),
    }
    channels = {c.code: c for c in db.session.scalars(select(Channel))}
    counts["offices"] = _upsert(
        Office, data.get("offices", []), lambda entry, where: _office_values(entry, where, channels)
    )
    return counts


def load_demo_catalogue() -> tuple[dict[str, int], LoadReport]:
    """The SAMPLE Đồng Nai catalogue shipped in `data/`: structure first, then communes and the
    offices that serve them (which must load whole: ValidationFailed names the first bad line),
    then procedures, whose report is returned."""
    counts = load_catalogue(json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8")))
    for path, loader in (
        (DEMO_COMMUNES, areas.load_communes_csv),
        (DEMO_SERVICE_AREAS, areas.load_service_areas_csv),
    ):
        report = loader(path)
        if not report.ok:
            error = report.errors[0]
            raise ValidationFailed.field(f"{path.name}:{error.line}.{error.field}", error.reason)
        counts[report.kind] = report.loaded
    return counts, load_procedures_csv(DEMO_PROCEDURES)


def _upsert(model: type, entries: list[dict[str, Any]], values: Callable[..., dict]) -> int:
    kind = model.__tablename__
    existing = {row.code: row for row in db.session.scalars(select(model))}
    for index, entry in enumerate(entries):
        where = f"{kind}[{index}]"
        fields = {"code": _entry_text(entry, "code", where), **values(entry, where)}
        for name, value in fields.items():
            if isinstance(value, str) and len(value) > max_length(model, name):
                raise ValidationFailed.field(f"{where}.{name}", "too long")
        row = existing.get(fields["code"])
        if row is None:
            row = existing[fields["code"]] = model()
            db.session.add(row)
        assign_audited(row, fields, kind)
    db.session.flush()
    return len(entries)


def _channel_values(entry: dict[str, Any], where: str) -> dict[str, Any]:
    national_code = entry.get("national_code")
    if national_code is not None and type(national_code) is not int:
        raise ValidationFailed.field(f"{where}.national_code", "must be a whole number")
    return {"national_code": national_code, **_sector_values(entry, where), **_period(entry, where)}


def _sector_values(entry: dict[str, Any], where: str) -> dict[str, Any]:
    return {key: _entry_text(entry, key, where) for key in ("name_vi", "name_en")}


def _agency_values(entry: dict[str, Any], where: str) -> dict[str, Any]:
    if not AGENCY_CODE.match(entry.get("code") or ""):
        raise ValidationFailed.field(f"{where}.code", "must have the national format 000.00.01.H19")
    return {"name": _entry_text(entry, "name", where), **_period(entry, where)}


def _office_values(entry: dict[str, Any], where: str, channels: dict[str, Channel]) -> dict:
    channel = channels.get(entry.get("channel") or "")
    if channel is None:
        raise ValidationFailed.field(f"{where}.channel", f"unknown channel {entry.get('channel')}")
    optional = {key: entry.get(key) for key in ("commune", "district", "province", "address")}
    return {
        "name": _entry_text(entry, "name", where),
        "channel": channel,
        **optional,
        **_period(entry, where),
    }


def _entry_text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.field(f"{where}.{key}", "required")
    return clean_text(value)


def _period(entry: dict[str, Any], where: str) -> dict[str, date | None]:
    period = {}
    for key in ("active_from", "active_to"):
        try:
            period[key] = date.fromisoformat(entry[key]) if entry.get(key) else None
        except (TypeError, ValueError):
            raise ValidationFailed.field(f"{where}.{key}", "must be a date YYYY-MM-DD") from None
    return period


# ---- procedures ---------------------------------------------------------------------------------


def load_procedures_csv(source: Source, *, actor_id: int | None = None) -> LoadReport:
    """Upsert procedures (by code) from a CSV file, path or open stream; returns a `LoadReport`.
    Each change is audited as done by `actor_id` (None: the command line).

    A file of more than MAX_PROCEDURE_ROWS rows loads nothing (the rest: `load_csv`).
    """
    report = LoadReport(kind="procedures")
    loader = _ProcedureLoader(report, actor_id)
    return load_csv(source, report, PROCEDURE_COLUMNS, loader.load_row, max_rows=MAX_PROCEDURE_ROWS)


# What `flask catalogue load --kind` and the catalogue page's upload load, by kind.
CSV_LOADERS: dict[str, Callable[..., LoadReport]] = {
    "procedures": load_procedures_csv,
    "communes": areas.load_communes_csv,
    "service_areas": areas.load_service_areas_csv,
}


class _ProcedureLoader:
    """Validates and upserts rows one at a time against the catalogue already in the database."""

    def __init__(self, report: LoadReport, actor_id: int | None = None) -> None:
        self.report = report
        self.actor_id = actor_id
        self.sectors = {s.code: s for s in db.session.scalars(select(Sector))}
        self.agencies = {a.code: a for a in db.session.scalars(select(Agency))}
        self.procedures = {p.code: p for p in db.session.scalars(select(Procedure))}
        self.seen: dict[str, int] = {}

    def load_row(self, line: int, row: dict[str, str] | None) -> None:
        if row is None:
            return
        values, errors = self.validate(row)
        if errors:
            self.report.errors.extend(RowError(line, name, reason) for name, reason in errors)
            return
        self.seen[values["code"]] = line
        self.upsert(values, row.get("agency_name", ""))

    def validate(self, row: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        nul = nul_problems(row)
        if nul:
            return {}, nul
        checks: dict[str, Callable[[str], Any]] = {
            "code": self._code,
            "name": clean_text,
            "sector": self._sector,
            "agency": self._agency_code,
            "working_days": _working_days,
            "service_forms": _service_forms,
            "fee_vnd": _fee,
        }
        values, errors = {}, []
        for name, check in checks.items():
            try:
                if name in REQUIRED_COLUMNS and not row.get(name):
                    raise CellRefused("required")
                values[name] = check(row.get(name, ""))
            except CellRefused as exc:
                errors.append((name, exc.args[0]))
        if "agency" in values and values["agency"] not in self.agencies:
            errors.extend(_new_agency_problems(values["agency"], row.get("agency_name", "")))
        if "documents" in row:
            try:
                values["documents"] = parse_documents(row["documents"])
            except ChecklistInvalid as exc:
                errors.extend((problem.field, problem.reason) for problem in exc.problems)
        return values, errors

    def upsert(self, values: dict[str, Any], agency_name: str) -> None:
        agency = self.agencies.get(values["agency"])
        if agency is None:
            agency = self.agencies[values["agency"]] = Agency(
                code=values["agency"], name=clean_text(agency_name)
            )
            db.session.add(agency)
        procedure = self.procedures.get(values["code"])
        if procedure is None:
            procedure = self.procedures[values["code"]] = Procedure(code=values["code"])
            db.session.add(procedure)
            self.report.created += 1
        else:
            self.report.updated += 1
        forms = values["service_forms"]
        fields = {
            "code": values["code"],
            "name": values["name"],
            "search_name": fold(values["name"]),
            "sector": values["sector"],
            "agency": agency,
            "working_days": values["working_days"],
            "fee_vnd": values["fee_vnd"],
            "allows_two_way": "two_way" in forms,
            "allows_return_only": "return_only" in forms,
            "allows_send_only": "send_only" in forms,
        }
        if "documents" in values:
            fields["documents"] = values["documents"]
        assign_audited(procedure, fields, "procedures", self.actor_id)

    def _code(self, value: str) -> str:
        if not _PROCEDURE_CODE.match(value):
            raise CellRefused("must be letters, digits, dots or dashes, at most 40 (e.g. 1.001234)")
        return first_time(value, self.seen)

    def _sector(self, value: str) -> Sector:
        if value not in self.sectors:
            raise CellRefused(Phrase("unknown sector %(code)s", code=value))
        return self.sectors[value]

    def _agency_code(self, value: str) -> str:
        if value not in self.agencies and not AGENCY_CODE.match(value):
            raise CellRefused(
                Phrase("%(code)s is not in the national format 000.00.01.H19", code=value)
            )
        return value


def _new_agency_problems(code: str, name: str) -> list[tuple[str, str]]:
    if not name:
        message = "unknown agency %(code)s (give agency_name to create it)"
        return [("agency", Phrase(message, code=code))]
    limit = max_length(Agency, "name")
    if len(name) > limit:
        return [("agency_name", Phrase("at most %(most)s characters", most=limit))]
    return []


def _working_days(value: str) -> int:
    if not _DIGITS.match(value) or int(value) == 0:
        raise CellRefused("must be a positive whole number")
    if int(value) > MAX_WORKING_DAYS:
        raise CellRefused(Phrase("must be at most %(most)s", most=MAX_WORKING_DAYS))
    return int(value)


def _service_forms(value: str) -> set[str]:
    forms = {form for form in _FORM_SEPARATORS.split(value.lower()) if form}
    unknown = sorted(forms - set(SERVICE_FORMS))
    if unknown:
        raise CellRefused(
            Phrase(
                "unknown %(forms)s; use %(known)s",
                forms=", ".join(unknown),
                known="|".join(SERVICE_FORMS),
            )
        )
    return forms


def _fee(value: str) -> int | None:
    if not value:
        return None
    if not _VND.match(value):
        raise CellRefused("must be a whole number of VND, not negative (or empty)")
    fee = int(re.sub(r"\D", "", value))
    if fee > MAX_FEE_VND:
        raise CellRefused(Phrase("must be at most %(most)s", most=MAX_FEE_VND))
    return fee
