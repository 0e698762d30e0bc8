"""Import jobs, the uploaded files and their row-level errors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from tracker.calendar import utcnow
from tracker.catalogue.models import Agency, Office
from tracker.extensions import db
from tracker.types import UTCDateTime

JOB_STATES = ("queued", "running", "done", "failed")


class ImportJob(db.Model):
    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="dossiers")
    filename: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(10))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10), default="queued")
    total_rows: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    # Rows whose natural key (agency reference or item number) is already on a dossier.
    existing_count: Mapped[int] = mapped_column(Integer, default=0)
    # Rows refused (each with one or more ImportRowError).
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # Whose rows the file may hold: an agency officer imports their agency's results, a clerk
    # those their office took charge of. Also the job's scope: others' jobs answer 404.
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    agency: Mapped[Agency | None] = relationship()
    office: Mapped[Office | None] = relationship()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A running job beats regularly; a job whose worker died is taken over after a while.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportFile(db.Model):
    """The uploaded bytes, kept in the database so that any worker node can read them.

    Stored in parts (zlib-compressed, 1 MiB each before compression) so that neither the upload
    nor the job ever holds a whole file of a million rows in memory.
    """

    __tablename__ = "import_files"

    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id"), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))


class ImportRowError(db.Model):
    __tablename__ = "import_row_errors"
    __table_args__ = (Index("ix_import_row_errors_job_line", "job_id", "line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id"))
    line: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(80))
    message: Mapped[str] = mapped_column(Text)
