"""dossiers: proof of delivery (the receiver of a delivered result, the reason of a failed delivery)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 08:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The coded lists as they stand in this revision (tracker/dossiers/delivery.py).
RELATIONS = "'applicant', 'authorised', 'family', 'organisation'"
REASONS = "'absent', 'wrong_address', 'refused', 'other'"

# Plain ALTER TABLE ... ADD COLUMN with the CHECK on the column, on both databases, not a
# batch: on SQLite a batch would copy and drop `status_events`, which the notifications'
# foreign keys refuse. Events recorded before this revision keep NULL: their receiver or reason
# was not asked for then (a failed delivery's reason is in its note).


def _checked(name: str, length: int, check: str, constraint: str) -> sa.Column:
    return sa.Column(
        name,
        sa.String(length=length),
        sa.CheckConstraint(check, name=op.f(f"ck_status_events_{constraint}")),
        nullable=True,
    )


def upgrade():
    op.add_column(
        "status_events",
        _checked(
            "receiver_relation",
            20,
            "receiver_relation IS NULL OR "
            f"(to_status = 'delivered' AND receiver_relation IN ({RELATIONS}))",
            "receiver_relation_known",
        ),
    )
    op.add_column(
        "status_events",
        _checked(
            "receiver_name",
            200,
            "receiver_name IS NULL OR receiver_relation IS NOT NULL",
            "receiver_named",
        ),
    )
    op.add_column(
        "status_events",
        _checked(
            "failure_reason",
            20,
            "failure_reason IS NULL OR "
            f"(to_status = 'delivery_failed' AND failure_reason IN ({REASONS}))",
            "failure_reason_known",
        ),
    )
    # What the postal feed said of them, as received (checked at the door, applied later).
    op.add_column("feed_events", sa.Column("receiver_name", sa.String(length=200), nullable=True))
    op.add_column(
        "feed_events", sa.Column("receiver_relation", sa.String(length=20), nullable=True)
    )
    op.add_column("feed_events", sa.Column("failure_reason", sa.String(length=20), nullable=True))


def downgrade():
    for name in ("failure_reason", "receiver_relation", "receiver_name"):
        op.drop_column("feed_events", name)
    # receiver_name's check names receiver_relation: it goes first.
    for name in ("failure_reason", "receiver_name", "receiver_relation"):
        op.drop_column("status_events", name)
