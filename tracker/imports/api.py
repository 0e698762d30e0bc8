"""REST endpoints: imports. An upload is checked and stored, then answered 202 at once; a worker
imports it. Jobs are scoped as dossiers are: a clerk sees their office's, an agency officer
their agency's; another's job answers 404."""

from __future__ import annotations

from functools import wraps

from flask import Response, current_app, request, stream_with_context, url_for
from flask.views import MethodView

from tracker.accounts.auth import actor, roles_required
from tracker.api import Blueprint
from tracker.imports import files, operations, queries
from tracker.imports.schemas import ImportJobOut, UploadIn

blp = Blueprint("imports", __name__, url_prefix="/api/v1", description="imports")

IMPORTERS = ("clerk", "agency", "admin")
READERS = ("clerk", "agency", "manager", "admin")
# Room for the multipart envelope around a file of IMPORT_MAX_BYTES.
ENVELOPE_BYTES = 64 * 1024
JOB_ID = {"in": "path", "name": "job_id", "example": 1}


def _allow_upload(view):
    """Raise the body limit (2 MiB for the rest of the API) to IMPORT_MAX_BYTES, before the
    multipart body is parsed: larger bodies answer 413."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        request.max_content_length = current_app.config["IMPORT_MAX_BYTES"] + ENVELOPE_BYTES
        return view(*args, **kwargs)

    return wrapper


@blp.route("/imports")
class Imports(MethodView):
    @roles_required(*IMPORTERS)
    @_allow_upload
    @blp.arguments(UploadIn(), location="files")
    @blp.response(202, ImportJobOut())
    @blp.errors(401, 403)
    def post(self, args):
        """Upload an agency's list of results (CSV or XLSX); a worker imports it. Poll the job."""
        upload = args["file"]
        job = operations.create_job(
            upload.stream,
            upload.filename,
            actor(),
            max_bytes=current_app.config["IMPORT_MAX_BYTES"],
        )
        operations.queue_job(job)
        return job, 202, {"Location": url_for("imports.ImportItem", job_id=job.id)}


@blp.route("/imports/<int:job_id>", parameters=[JOB_ID])
class ImportItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ImportJobOut())
    @blp.errors(401, 403, 404)
    def get(self, job_id):
        """State, progress (rows done / total) and counts of an import job."""
        return queries.get_job(job_id, actor())


@blp.route("/imports/<int:job_id>/errors.csv", parameters=[JOB_ID])
@roles_required(*READERS)
@blp.doc(responses={200: {"content": {"text/csv": {}}, "description": "line,field,message"}})
@blp.errors(401, 403, 404)
def import_errors(job_id):
    """The refused rows' errors as a CSV file (line, field, message), in file order."""
    job = queries.get_job(job_id, actor())
    filename = f"import-{job.id}-errors.csv"
    return Response(
        stream_with_context(files.errors_csv(queries.row_errors(job.id))),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
