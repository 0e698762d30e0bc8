"""status out: agencies' webhook subscriptions and their deliveries; the change log the pull
feed pages through, in commit order

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 02:15:00.000000

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "status_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_status_subscriptions_agency_id"), "status_subscriptions", ["agency_id"]
    )
    op.create_table(
        "status_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=120), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("give_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["status_events.id"]),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["status_subscriptions.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index(
        "ix_status_deliveries_due",
        "status_deliveries",
        ["subscription_id", "state", "next_attempt_at"],
    )
    op.create_index(
        "ix_status_deliveries_order",
        "status_deliveries",
        ["subscription_id", "dossier_id", "state", "id"],
    )
    op.create_index("ix_status_deliveries_created", "status_deliveries", ["created_at"])
    op.create_index(op.f("ix_status_deliveries_event_id"), "status_deliveries", ["event_id"])
    op.create_table(
        "status_changes",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["status_events.id"]),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_status_changes_agency_seq", "status_changes", ["agency_id", "seq"])
    # The history so far, in event order (nothing else writes while the schema changes).
    op.execute(
        "INSERT INTO status_changes (event_id, agency_id)"
        " SELECT e.id, d.agency_id FROM status_events e JOIN dossiers d ON d.id = e.dossier_id"
        " WHERE e.applied ORDER BY e.id"
    )


def downgrade():
    op.drop_table("status_changes")
    op.drop_table("status_deliveries")
    op.drop_table("status_subscriptions")
