"""registrations: an agency's reference names one dossier of that agency; agency feed events
may name a dossier by it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 12:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    # Intake, corrections and imports never checked the reference before: say which repeat,
    # rather than fail on the index with the database's words.
    repeated = bind.execute(
        sa.text(
            "SELECT agency_id, agency_reference, count(*) FROM dossiers"
            " WHERE agency_reference IS NOT NULL"
            " GROUP BY agency_id, agency_reference HAVING count(*) > 1"
        )
    ).all()
    if repeated:
        listed = ", ".join(f"agency {row[0]}: {row[1]} ({row[2]} dossiers)" for row in repeated[:20])
        raise RuntimeError(
            "agency references repeated within an agency; correct them (PATCH "
            f"agency_reference) before upgrading: {listed}"
        )
    # Plain ALTERs, no batch: on SQLite a batch would copy and drop the tables.
    op.create_index(
        "uq_dossiers_agency_reference", "dossiers", ["agency_id", "agency_reference"], unique=True
    )
    op.add_column("feed_events", sa.Column("agency_reference", sa.String(length=80)))
    op.add_column("feed_events", sa.Column("agency_code", sa.String(length=40)))


def downgrade():
    op.drop_column("feed_events", "agency_code")
    op.drop_column("feed_events", "agency_reference")
    op.drop_index("uq_dossiers_agency_reference", table_name="dossiers")
