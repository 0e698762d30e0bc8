"""What the printed receipt (Form 01 of Circular 01/2018) shows beside the dossier itself: the
public lookup URL, its QR code, a Code 128 barcode of the dossier code and the appointment date.

Images are SVG `data:` URIs: the pages' Content-Security-Policy allows them, they need no file
or route of their own, and they print sharply at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, urlencode

import segno
from barcode import Code128
from flask import current_app

from tracker.accounts.models import User
from tracker.calendar import add_working_days, local_date
from tracker.dossiers.models import Dossier
from tracker.extensions import db

# Modules of white around the bars: a scanner needs at least 10 to find the start of a symbol.
QUIET_ZONE = 10
BAR_HEIGHT = 40  # in module widths; the <img> is sized by the stylesheet


@dataclass(frozen=True)
class Appointment:
    """The date on the receipt; `expected` when it is the statutory estimate, not the agency's."""

    day: date
    expected: bool


@dataclass(frozen=True)
class Receipt:
    dossier: Dossier
    secret: str
    lookup_url: str
    qr_uri: str
    barcode_uri: str
    appointment: Appointment | None
    # Who took the dossier in (a reprint names them, not whoever reprinted it).
    clerk_name: str


def build_receipt(dossier: Dossier, secret: str) -> Receipt:
    """Everything the receipt template needs besides the dossier. The secret is the one just
    made: only its hash is stored, so a receipt cannot be rebuilt later without a new one."""
    url = lookup_url(dossier.code, secret)
    return Receipt(
        dossier=dossier,
        secret=secret,
        lookup_url=url,
        qr_uri=qr_data_uri(url),
        barcode_uri=code128_data_uri(dossier.code),
        appointment=appointment_of(dossier),
        clerk_name=_receiving_clerk(dossier),
    )


def _receiving_clerk(dossier: Dossier) -> str:
    clerk = db.session.get(User, dossier.created_by_id) if dossier.created_by_id else None
    return (clerk.full_name or clerk.username) if clerk else ""


def lookup_url(code: str, secret: str) -> str:
    """The citizen's lookup page with the code and secret filled in (what the QR code opens)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/track?{urlencode({'code': code, 'secret': secret})}"


def qr_data_uri(url: str) -> str:
    # Level M survives a creased or smudged receipt; a 4-module border is what the standard asks.
    qr = segno.make(url, error="m", micro=False)
    return qr.svg_data_uri(scale=4, border=4)


def code128_data_uri(text: str) -> str:
    """A Code 128 barcode: python-barcode picks the code sets and the check symbol; the SVG is
    drawn here, one rect per bar, so that it carries no style attribute at all."""
    modules = Code128(text).build()[0]
    width = len(modules) + 2 * QUIET_ZONE
    bars = []
    x = QUIET_ZONE
    for run in _runs(modules):
        if run[0] == "1":
            bars.append(f'<rect x="{x}" y="0" width="{len(run)}" height="{BAR_HEIGHT}"/>')
        x += len(run)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {BAR_HEIGHT}"'
        f' width="{width * 2}" height="{BAR_HEIGHT * 2}" shape-rendering="crispEdges">'
        f'<rect width="{width}" height="{BAR_HEIGHT}" fill="#fff"/>'
        f'<g fill="#000">{"".join(bars)}</g></svg>'
    )
    return "data:image/svg+xml;charset=utf-8," + quote(svg)


def _runs(modules: str) -> list[str]:
    """'1101100' -> ['11', '0', '11', '00']."""
    runs: list[str] = []
    for bit in modules:
        if runs and runs[-1][0] == bit:
            runs[-1] += bit
        else:
            runs.append(bit)
    return runs


def appointment_of(dossier: Dossier) -> Appointment | None:
    """The agency's appointment date when it is set; otherwise the date the procedure's
    statutory working days give, counted from the day of receipt (the clock really starts at
    the hand-over, a day or so later, so it is printed as expected, not promised). A one-way
    dossier's result is already with the post: no estimate."""
    if dossier.appointment_date is not None:
        return Appointment(dossier.appointment_date, expected=False)
    if dossier.service_form == "return_only":
        return None
    received_on = local_date(dossier.received_at)
    return Appointment(add_working_days(received_on, dossier.procedure.working_days), expected=True)
