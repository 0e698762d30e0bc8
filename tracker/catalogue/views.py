"""Admin pages for the catalogue: procedures and offices (search, paging), load a CSV of
procedures, communes or service areas, edit one office or one procedure.

The rules are the catalogue operations' (the same loader as `flask catalogue load`); rows are
never deleted here: an office or a procedure ends with its active period (`active_to`), so old
dossiers keep what they came through.
"""

from __future__ import annotations

import io

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from tracker.accounts.auth import actor
from tracker.audit.models import AuditEntry
from tracker.audit.operations import record_audit
from tracker.calendar import today_vn
from tracker.catalogue import queries
from tracker.catalogue.documents import format_documents
from tracker.catalogue.editing import update_office, update_procedure
from tracker.catalogue.loading import LoadReport
from tracker.catalogue.models import SERVICE_FORMS, Office, Procedure
from tracker.catalogue.operations import CSV_LOADERS
from tracker.errors import DomainError, Phrase, handle_http_exception
from tracker.i18n import N_
from tracker.pages import form_errors, page_roles
from tracker.text import fold
from tracker.unit_of_work import discard
from tracker.uploads import format_bytes

bp = Blueprint("catalogue_pages", __name__, template_folder="templates")

PER_PAGE = 50
MAX_PAGE = 1_000_000
# A page shows this many refused lines of a load; the counts say how many there were in all.
SHOWN_ERRORS = 200
AUDIT_KEY_LENGTH = AuditEntry.__table__.c.entity_key.type.length
# What a CSV upload may hold (the loaders of `flask catalogue load --kind`), as the form names it.
LOAD_KINDS = {
    "procedures": N_("Procedures"),
    "communes": N_("Communes"),
    "service_areas": N_("Service areas (commune → office)"),
}
# The report's counts, by kind: (new, updated).
COUNT_LABELS = {
    "procedures": (N_("New procedures"), N_("Updated procedures")),
    "communes": (N_("New communes"), N_("Updated communes")),
    "service_areas": (N_("New service areas"), N_("Updated service areas")),
}


def _page() -> int:
    # A page past any real catalogue is an empty page; the offset must still fit a BIGINT.
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)


def _procedure_page(query: str, page: int) -> tuple[list[Procedure], bool]:
    """One page of procedures matching `query` (code prefix or name, accents ignored)."""
    args: dict = {"limit": PER_PAGE + 1, "offset": (page - 1) * PER_PAGE}
    if query:
        args["q"] = query[:200]
    rows = queries.search_procedures(args)
    return rows[:PER_PAGE], len(rows) > PER_PAGE


@bp.get("/admin/catalogue")
@page_roles("admin")
def index():
    """Procedures (search, paging) and the CSV load form."""
    return _index_page()


def _index_page(
    report: LoadReport | None = None,
    errors: dict | None = None,
    status: int = 200,
    dry_run: bool | None = None,
    kind: str | None = None,
):
    query = request.args.get("q", "").strip()
    page = _page()
    rows, more = _procedure_page(query, page)
    total = queries.count_procedures()
    page_html = render_template(
        "catalogue/index.html",
        rows=rows,
        more=more,
        page=page,
        q=query,
        total=total,
        report=report,
        shown_errors=SHOWN_ERRORS,
        errors=errors or {},
        dry_run=request.form.get("dry_run") == "1" if dry_run is None else dry_run,
        kind=kind or _chosen_kind(),
        load_kinds=LOAD_KINDS,
        count_labels=COUNT_LABELS[report.kind] if report else None,
        today=today_vn(),
    )
    return page_html, status


@bp.post("/admin/catalogue/load")
@page_roles("admin")
def load():
    """Load a CSV upload of procedures, communes or service areas (`kind`) with the CLI's
    loader; `dry_run` checks and saves nothing.

    Valid rows are saved even when others are refused (as the CLI does); the page lists every
    refused line. The load stays in the request, bounded: the body by MAX_CONTENT_LENGTH (413,
    `_load_too_large`), the rows and header columns by the loader's caps, a cell by the csv
    module's limit."""
    kind = request.form.get("kind", "procedures")
    if kind not in CSV_LOADERS:
        return _index_page(errors={"kind": [N_("Choose what the file holds")]}, status=422)
    upload = request.files.get("file")
    problem = _upload_problem(upload)
    if problem:
        return _index_page(errors={"file": [problem]}, status=422)
    data = upload.read()
    user = actor()
    report = CSV_LOADERS[kind](io.BytesIO(data), actor_id=user.id)
    if request.form.get("dry_run") == "1":
        discard()  # checked, nothing saved
    else:
        # The name as the admin's computer gave it: any length (the key column holds 80), no NUL.
        name = upload.filename.replace("\x00", "")
        record_audit(
            user.id,
            f"{kind}.load",
            kind,
            name[:AUDIT_KEY_LENGTH],
            after={
                "file": name,
                "created": report.created,
                "updated": report.updated,
                "refused_lines": len({error.line for error in report.errors}),
                "bytes": len(data),
            },
        )
    status = 422 if report.errors and not report.loaded else 200
    return _index_page(report=report, status=status)


@bp.errorhandler(RequestEntityTooLarge)
def _load_too_large(error: RequestEntityTooLarge):
    """A load over MAX_CONTENT_LENGTH: the form again, the reason beside the file (Werkzeug
    refuses the body as soon as the CSRF check reads it; the page itself only shows)."""
    # It answers before the page's role check, anonymous callers too: `actor()` would refuse them.
    admin = current_user.is_authenticated and actor().role == "admin"
    if request.endpoint != "catalogue_pages.load" or not admin:
        return handle_http_exception(error)
    size = format_bytes(current_app.config["MAX_CONTENT_LENGTH"])
    message = Phrase("The file is too large: at most %(size)s", size=size)
    # The form is not read again: its body is what was refused.
    return _index_page(errors={"file": [message]}, status=413, dry_run=False, kind="procedures")


def _chosen_kind() -> str:
    kind = request.form.get("kind", "procedures")
    return kind if kind in LOAD_KINDS else "procedures"


def _upload_problem(upload) -> str | None:
    if upload is None or not upload.filename:
        return N_("Choose a CSV file to load")
    # By its name only: browsers send a .csv as text/csv, application/vnd.ms-excel or
    # application/octet-stream alike; a file that is not text is refused by the loader.
    if not upload.filename.lower().endswith((".csv", ".txt")):
        return N_("This is not a CSV file: in Excel, save the sheet as “CSV UTF-8”")
    return None


@bp.get("/admin/catalogue/offices")
@page_roles("admin")
def offices():
    """Offices (search by code, name or place; paging); deactivated ones stay listed."""
    query = request.args.get("q", "").strip()
    page = _page()
    rows = queries.list_offices({})
    if query:
        wanted = fold(query)
        rows = [o for o in rows if wanted in fold(" ".join(filter(None, _office_text(o))))]
    start = (page - 1) * PER_PAGE
    return render_template(
        "catalogue/offices.html",
        rows=rows[start : start + PER_PAGE],
        total=len(rows),
        more=len(rows) > start + PER_PAGE,
        page=page,
        q=query,
        today=today_vn(),
    )


def _office_text(office: Office) -> tuple[str | None, ...]:
    return (office.code, office.name, office.commune, office.district, office.province)


@bp.route("/admin/catalogue/offices/<code>", methods=["GET", "POST"])
@page_roles("admin")
def office(code: str):
    """Edit one office: name, channel, place, address, active period."""
    row = queries.find_office(code)
    if row is None:
        abort(404)
    if request.method == "GET":
        return _office_form(row, _office_values(row), {})
    typed = request.form.to_dict()
    try:
        update_office(row, typed, actor_id=actor().id)
    except DomainError as exc:
        discard()
        return _office_form(row, typed, form_errors(exc), 422)
    flash(_("Office %(code)s saved.", code=code), "success")
    return redirect(url_for("catalogue_pages.offices", q=code))


def _office_values(row: Office) -> dict:
    values = {key: getattr(row, key) or "" for key in ("name", "commune", "district", "province")}
    return {
        **values,
        "address": row.address or "",
        "channel": row.channel.code,
        "active_from": row.active_from.isoformat() if row.active_from else "",
        "active_to": row.active_to.isoformat() if row.active_to else "",
    }


def _office_form(row: Office, values: dict, errors: dict, status: int = 200):
    page = render_template(
        "catalogue/office.html",
        row=row,
        values=values,
        errors=errors,
        channels=queries.list_channels(),
    )
    return page, status


@bp.route("/admin/catalogue/procedures/<code>", methods=["GET", "POST"])
@page_roles("admin")
def procedure(code: str):
    """Edit one procedure: name, sector, agency, working days, service forms, fee, required
    documents, period."""
    row = queries.find_procedure(code)
    if row is None:
        abort(404)
    if request.method == "GET":
        return _procedure_form(row, _procedure_values(row), row.service_forms, {})
    typed = request.form.to_dict()
    chosen = [form for form in request.form.getlist("service_forms") if form]
    try:
        update_procedure(row, typed, chosen, actor_id=actor().id)
    except DomainError as exc:
        discard()
        return _procedure_form(row, typed, chosen, form_errors(exc), 422)
    flash(_("Procedure %(code)s saved.", code=code), "success")
    return redirect(url_for("catalogue_pages.index", q=code))


def _procedure_values(row: Procedure) -> dict:
    return {
        "name": row.name,
        "sector": row.sector.code,
        "agency": row.agency.code,
        "working_days": str(row.working_days),
        "fee_vnd": "" if row.fee_vnd is None else str(row.fee_vnd),
        "active_from": row.active_from.isoformat() if row.active_from else "",
        "active_to": row.active_to.isoformat() if row.active_to else "",
        "documents": format_documents(row.documents),
    }


def _procedure_form(row: Procedure, values: dict, chosen: list[str], errors: dict, status=200):
    page = render_template(
        "catalogue/procedure.html",
        row=row,
        values=values,
        chosen=chosen,
        errors=errors,
        service_forms=SERVICE_FORMS,
        sectors=queries.list_sectors(),
        agencies=queries.list_agencies(),
    )
    return page, status
