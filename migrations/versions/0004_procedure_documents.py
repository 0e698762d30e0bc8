"""catalogue: the documents checklist of a procedure

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases (SQLite 3.35+ drops a column in place), not a batch: on
# SQLite a batch would copy and drop `procedures`, which the dossiers' foreign keys refuse.


def upgrade():
    # The server default gives every existing procedure an empty checklist.
    op.add_column(
        "procedures", sa.Column("documents", sa.JSON(), server_default="[]", nullable=False)
    )


def downgrade():
    op.drop_column("procedures", "documents")
