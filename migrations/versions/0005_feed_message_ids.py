"""feeds: the Standard Webhooks message id of a batch, stored once per feed

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


# Plain ALTER TABLE and CREATE INDEX on both databases: no batch copy of the table. A unique
# index, not a constraint, because SQLite cannot add a constraint to an existing table; both
# databases refuse a second row with the same (source, message_id) all the same, and let any
# number of rows without a message id (NULLs are distinct).


def upgrade():
    op.add_column("feed_batches", sa.Column("message_id", sa.String(length=120), nullable=True))
    op.add_column("feed_batches", sa.Column("body_sha256", sa.String(length=64), nullable=True))
    op.create_index(
        "uq_feed_batches_source_message",
        "feed_batches",
        ["source", "message_id"],
        unique=True,
    )


def downgrade():
    op.drop_index("uq_feed_batches_source_message", table_name="feed_batches")
    op.drop_column("feed_batches", "body_sha256")
    op.drop_column("feed_batches", "message_id")
