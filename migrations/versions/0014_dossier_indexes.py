"""dossiers: only the indexes a query uses; the queues' and sweeps' indexes skip closed dossiers

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 05:20:00.000000

docs/indexes.md names the query each index serves. Dropped: single-column indexes on columns
no query reads alone (service form, channel, procedure, status: a prefix of the open-status
index), the agency's (a prefix of its unique reference index) and the applicant's phone and
folded name (the list's text search matches them in an OR with a substring test, which no
B-tree serves).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OPEN = "status NOT IN ('collected_in_person', 'delivered', 'returned_to_agency', 'withdrawn')"
DROPPED = (
    ("ix_dossiers_service_form", ["service_form"]),
    ("ix_dossiers_procedure_id", ["procedure_id"]),
    ("ix_dossiers_agency_id", ["agency_id"]),
    ("ix_dossiers_channel_id", ["channel_id"]),
    ("ix_dossiers_applicant_name_folded", ["applicant_name_folded"]),
    ("ix_dossiers_applicant_phone", ["applicant_phone"]),
    ("ix_dossiers_status", ["status"]),
    ("ix_dossiers_status_due", ["status", "due_date"]),
)
PARTIAL = (
    ("ix_dossiers_open_status_due", ["status", "due_date"], OPEN),
    ("ix_dossiers_overdue_due", ["due_date"], "overdue_since IS NOT NULL"),
    ("ix_dossiers_stuck", ["id"], "stuck_since IS NOT NULL"),
)


def upgrade():
    # Plain statements, no batch: on SQLite a batch would copy the table.
    for name, _columns in DROPPED:
        op.drop_index(name, table_name="dossiers")
    for name, columns, condition in PARTIAL:
        where = sa.text(condition)
        op.create_index(name, "dossiers", columns, postgresql_where=where, sqlite_where=where)


def downgrade():
    for name, _columns, _condition in PARTIAL:
        op.drop_index(name, table_name="dossiers")
    for name, columns in DROPPED:
        op.create_index(name, "dossiers", columns)
