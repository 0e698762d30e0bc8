"""The columns of an import file and the checks of one row: the intake's rules (tracker.dossiers
operations and schemas), applied without a query per row. What needs the database (natural keys,
item numbers already in use) is checked per chunk by `operations.import_chunk`.

Every row is a one-way dossier (`return_only`): the file lists results an agency handed to the
post, which takes charge of them on `received_at`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter

from marshmallow import ValidationError

from tracker.calendar import VN_TZ
from tracker.csvfile import FileProblem, RowError
from tracker.dossiers import s10
from tracker.dossiers.operations import FUTURE_TOLERANCE
from tracker.dossiers.schemas import ApplicantIn
from tracker.schemas import EARLIEST, LATEST

SERVICE_FORM = "return_only"
# name: (required, what it holds). The README documents the same table.
COLUMNS = {
    "agency_reference": (False, "the dossier's number in the agency's system (key, <= 80)"),
    "postal_item_number": (False, "S10 item number of the result's envelope (key if no reference)"),
    "procedure_code": (True, "national code of a procedure allowing return_only"),
    "applicant_name": (True, "<= 200 characters"),
    "applicant_phone": (True, "Vietnamese phone number"),
    "applicant_id_number": (False, "9 or 12 digits"),
    "applicant_email": (False, "e-mail address"),
    "delivery_address": (True, "where the post delivers the result (<= 500)"),
    "received_at": (True, "when the post took charge of the result; no offset = Vietnam time"),
    "office_code": (True, "post office that took charge (a clerk's own office by default)"),
    "appointment_date": (False, "the agency's appointment date, not before received_at"),
    "fee_vnd": (False, "whole dong, e.g. 50000 or 50.000"),
    "note": (False, "<= 2000 characters"),
}
KEY_COLUMNS = ("agency_reference", "postal_item_number")
_EARLIEST = datetime(EARLIEST.year, 1, 1, tzinfo=UTC)
_LATEST = datetime(LATEST.year, 12, 31, tzinfo=UTC)
_VN_DAY = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_VN_MOMENT = re.compile(
    r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?"
)
_MONEY = re.compile(r"[0-9]{1,3}(?:([., ])[0-9]{3})(?:\1[0-9]{3})*|[0-9]+")
_APPLICANT = ApplicantIn().fields


@dataclass(frozen=True, slots=True)
class ProcedureRef:
    """A procedure as the checks need it, with its agency's active period."""

    id: int
    code: str
    agency_id: int
    agency_code: str
    active_from: date | None
    active_to: date | None
    agency_from: date | None
    agency_to: date | None
    service_forms: tuple[str, ...]

    def problem_on(self, day: date) -> str | None:
        if not _active(self.active_from, self.active_to, day):
            return f"no procedure with code {self.code} active on {day}"
        if not _active(self.agency_from, self.agency_to, day):
            return f"agency {self.agency_code} was not active on {day}"
        if SERVICE_FORM not in self.service_forms:
            allowed = ", ".join(self.service_forms)
            return f"procedure {self.code} allows only {allowed}, not {SERVICE_FORM}"
        return None


@dataclass(frozen=True, slots=True)
class OfficeRef:
    id: int
    code: str
    channel_id: int
    active_from: date | None
    active_to: date | None


@dataclass(frozen=True)
class Catalogue:
    """Procedures and offices by code, read once per job (a province has about a thousand)."""

    procedures: dict[str, ProcedureRef]
    offices: dict[str, OfficeRef]


@dataclass(frozen=True)
class Scope:
    """Whose rows the job may hold: an agency's procedures, an office's results (None: any)."""

    agency_id: int | None = None
    agency_code: str | None = None
    office: OfficeRef | None = None


@dataclass(slots=True)
class ParsedRow:
    """A row that passed every check that needs no database."""

    line: int
    reference: str | None
    item: str | None
    procedure: ProcedureRef
    office: OfficeRef
    name: str
    phone: str
    id_number: str | None
    email: str | None
    address: str
    received_at: datetime
    day: date
    appointment: date | None
    fee: int
    note: str | None


@dataclass
class Chunk:
    """Consecutive records of the file: the rows that passed, the errors of those that did not."""

    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    refused: int = 0  # records with at least one error
    records: int = 0  # records read, valid or not
    existing: int = 0  # rows left out of `rows` because their key is imported (keys.sort_out)
    # The columns of the rows' dossiers and first events, when built ahead of the insert
    # (`tracker.imports.operations.prepare_chunk`).
    dossiers: list[dict] | None = None
    events: list[dict] | None = None


def read_header(cells: list[str], scope: Scope) -> tuple[dict[str, int], list[str]]:
    """Column name -> index, and the columns ignored. Raises FileProblem for a header that
    lacks a required column (a clerk's file may leave out office_code) or repeats one."""
    names = [cell.strip().lstrip("\ufeff").lower().replace(" ", "_") for cell in cells]
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in index:
            raise FileProblem(1, "file", f"column {name} appears twice in the header")
        if name:
            index[name] = position
    missing = [
        name
        for name, (required, _) in COLUMNS.items()
        if required and name not in index and not (name == "office_code" and scope.office)
    ]
    if not any(name in index for name in KEY_COLUMNS):
        missing.append(" or ".join(KEY_COLUMNS))
    if missing:
        raise FileProblem(1, "file", f"missing column(s) in the header: {', '.join(missing)}")
    ignored = [name for name in index if name not in COLUMNS]
    return {name: i for name, i in index.items() if name in COLUMNS}, ignored


def check_chunks(
    records: Iterable[tuple[int, list[str]]], checker: RowChecker, size: int
) -> Iterator[Chunk]:
    """Group records into chunks of `size`, each row checked."""
    chunk = Chunk()
    for line, cells in records:
        result = checker.check(line, cells)
        if isinstance(result, ParsedRow):
            chunk.rows.append(result)
        else:
            chunk.errors.extend(result)
            chunk.refused += 1
        chunk.records += 1
        if chunk.records >= size:
            yield chunk
            chunk = Chunk()
    if chunk.records:
        yield chunk


class RowChecker:
    """Checks one row at a time against the catalogue, the job's scope and the clock."""

    def __init__(
        self, catalogue: Catalogue, scope: Scope, columns: dict[str, int], now: datetime
    ) -> None:
        self.catalogue = catalogue
        self.scope = scope
        self.latest = now + FUTURE_TOLERANCE
        # The cells of COLUMNS in order, in one C call; a column the file lacks reads the
        # empty cell appended past the row's end (index -1).
        self.cells = itemgetter(*(columns.get(name, -1) for name in COLUMNS))
        self.width = max(columns.values()) + 1

    def check(self, line: int, cells: list[str]) -> ParsedRow | list[RowError]:
        if len(cells) < self.width:  # a short row: its last cells are empty
            cells.extend([""] * (self.width - len(cells)))
        cells.append("")  # what index -1 reads
        (ref, item, proc, name, phone, id_no, email, address, moment, office, appt, fee, note) = (
            map(str.strip, self.cells(cells))
        )
        errors: list[RowError] = []

        def refuse(column: str, message: str) -> None:
            errors.append(RowError(line, column, message))

        if len(ref) > 80:
            refuse("agency_reference", "at most 80 characters")
        item = self._item(item, refuse)
        if not ref and not item and not any(e.field == "postal_item_number" for e in errors):
            refuse("agency_reference", "agency_reference or postal_item_number is required")
        received_at = self._moment(moment, refuse)
        day = received_at.astimezone(VN_TZ).date() if received_at else None
        procedure = self._procedure(proc, day, refuse)
        office_ref = self._office(office, day, refuse)
        if not name or len(name) > 200:
            refuse("applicant_name", "required, at most 200 characters")
        phone = _field("phone", _phone_digits(phone), "applicant_phone", refuse)
        id_no = _field("id_number", id_no, "applicant_id_number", refuse) if id_no else None
        email = _field("email", email, "applicant_email", refuse) if email else None
        if not address or len(address) > 500:
            refuse("delivery_address", "required when the post returns the result (<= 500)")
        appointment = _day(appt, "appointment_date", refuse) if appt else None
        if appointment and day and appointment < day:
            refuse("appointment_date", "must not be before the day of receipt")
        amount = _money(fee, refuse) if fee else 0
        if len(note) > 2000:
            refuse("note", "at most 2000 characters")
        if errors:
            return errors
        return ParsedRow(
            line, ref or None, item, procedure, office_ref, name, phone, id_no, email, address,
            received_at, day, appointment, amount, note or None,
        )  # fmt: skip

    def _item(self, value: str, refuse) -> str | None:
        if not value:
            return None
        item = s10.normalise(value)
        problem = s10.validate(item)
        if problem:
            refuse("postal_item_number", problem)
            return None
        return item

    def _moment(self, value: str, refuse) -> datetime | None:
        if not value:
            refuse("received_at", "required: when the post took charge of the result")
            return None
        moment = parse_moment(value)
        if moment is None:
            refuse("received_at", "not a date and time (e.g. 2025-03-14 09:30 or 14/03/2025 09:30)")
        elif not _EARLIEST <= moment <= _LATEST:
            refuse("received_at", f"must be between {EARLIEST} and {LATEST}")
        elif moment > self.latest:
            refuse("received_at", "must not be in the future")
        else:
            return moment
        return None

    def _procedure(self, code: str, day: date | None, refuse) -> ProcedureRef | None:
        procedure = self.catalogue.procedures.get(code)
        if not code:
            refuse("procedure_code", "required")
        elif procedure is None:
            refuse("procedure_code", f"no procedure with code {code}")
        elif self.scope.agency_id is not None and procedure.agency_id != self.scope.agency_id:
            refuse("procedure_code", f"not a procedure of agency {self.scope.agency_code}")
        elif day is not None and (problem := procedure.problem_on(day)):
            refuse("procedure_code", problem)
        else:
            return procedure
        return None

    def _office(self, code: str, day: date | None, refuse) -> OfficeRef | None:
        own = self.scope.office
        if own is not None:
            if code and code != own.code:
                refuse("office_code", f"this import is for office {own.code} only")
                return None
            office: OfficeRef | None = own
        elif not code:
            refuse("office_code", "required")
            return None
        else:
            office = self.catalogue.offices.get(code)
        if office is None or (day and not _active(office.active_from, office.active_to, day)):
            refuse("office_code", f"no office with code {code or own.code} active on {day}")
            return None
        return office


def parse_moment(text: str) -> datetime | None:
    """ISO 8601 (2025-03-14 09:30, with or without an offset) or 14/03/2025 09:30; a date alone
    is the start of that day. Without an offset it is Vietnam time, as a clerk means it."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        match = _VN_MOMENT.fullmatch(text)
        day = None if match else _vn_day(text)
        try:
            if match:
                d, m, y, hh, mm, ss = match.groups()
                moment = datetime(int(y), int(m), int(d), int(hh), int(mm), int(ss or 0))
            elif day is not None:
                moment = datetime(day.year, day.month, day.day)
            else:
                return None
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)


def _day(text: str, column: str, refuse) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = _vn_day(text)
        if day is None:
            try:  # a spreadsheet's date cell comes as a date and time at midnight
                day = datetime.fromisoformat(text).date()
            except ValueError:
                refuse(column, "not a date (e.g. 2025-03-14 or 14/03/2025)")
                return None
    if not EARLIEST <= day <= LATEST:
        refuse(column, f"must be between {EARLIEST} and {LATEST}")
        return None
    return day


def _vn_day(text: str) -> date | None:
    match = _VN_DAY.fullmatch(text)
    if not match:
        return None
    d, m, y = match.groups()
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        return None


def _phone_digits(value: str) -> str:
    # A spreadsheet that took the number for a number dropped its leading zero.
    if value.isdigit() and len(value) in (9, 10) and value[0] != "0":
        return "0" + value
    return value


def _field(name: str, value: str, column: str, refuse) -> str | None:
    """The intake's own field (ApplicantIn): same normalisation, same messages."""
    if not value:
        refuse(column, "required")
        return None
    try:
        return _APPLICANT[name].deserialize(value)
    except ValidationError as exc:
        messages = exc.messages
        refuse(column, messages[0] if isinstance(messages, list) else str(messages))
        return None


def _money(text: str, refuse) -> int:
    if text.isdigit():
        amount = int(text)
    else:
        amount = int(re.sub(r"[., ]", "", text)) if _MONEY.fullmatch(text) else -1
    if not 0 <= amount <= 1_000_000_000:
        refuse("fee_vnd", "a whole number of dong between 0 and 1,000,000,000")
        return 0
    return amount


def _active(start: date | None, end: date | None, day: date) -> bool:
    return (start is None or start <= day) and (end is None or day <= end)
