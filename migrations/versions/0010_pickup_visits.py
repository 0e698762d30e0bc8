"""pickups: the assigned postman, the dossier collected at the door, the visits; a secret's SMS

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 13:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The coded lists as they stand in this revision (tracker/pickups/lifecycle.py).
OUTCOMES = "'collected', 'not_collected'"
REASONS = "'absent', 'documents_incomplete', 'cancelled_by_citizen', 'other'"
SLOTS = "'morning', 'afternoon'"
COMPLETE = (
    "(outcome = 'collected' AND dossier_id IS NOT NULL AND reason IS NULL)"
    " OR (outcome = 'not_collected' AND dossier_id IS NULL AND reason IS NOT NULL)"
)

# The new columns of `pickups` with their foreign key, by a plain ALTER TABLE ... ADD COLUMN
# (the same SQL on both databases), not a batch: on SQLite a batch would copy and drop
# `pickups`, which the notifications' foreign keys refuse once there are messages. Requests made
# before this revision have no postman and no dossier.
NEW_REFERENCES = (("postman_id", "users"), ("dossier_id", "dossiers"))


def upgrade():
    for column, table in NEW_REFERENCES:
        op.execute(
            f"ALTER TABLE pickups ADD COLUMN {column} INTEGER"
            f" CONSTRAINT fk_pickups_{column}_{table} REFERENCES {table} (id)"
        )
    op.add_column("pickups", sa.Column("collected_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_pickups_postman_id"), "pickups", ["postman_id"], unique=False)
    op.create_index(op.f("ix_pickups_dossier_id"), "pickups", ["dossier_id"], unique=True)
    # The lookup secret of a dossier collected at the door, until its SMS is sent (a plain
    # ADD COLUMN: no foreign key).
    op.add_column("notifications", sa.Column("lookup_secret", sa.String(length=20), nullable=True))
    op.create_table(
        "pickup_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pickup_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("new_day", sa.Date(), nullable=True),
        sa.Column("new_slot", sa.String(length=10), nullable=True),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=True),
        sa.Column("visit_key", sa.String(length=64), nullable=True),
        sa.CheckConstraint(f"outcome IN ({OUTCOMES})", name=op.f("ck_pickup_visits_outcome_known")),
        sa.CheckConstraint(
            f"reason IS NULL OR reason IN ({REASONS})", name=op.f("ck_pickup_visits_reason_known")
        ),
        sa.CheckConstraint(COMPLETE, name=op.f("ck_pickup_visits_outcome_complete")),
        sa.CheckConstraint(
            f"new_slot IN ({SLOTS}) OR new_slot IS NULL", name=op.f("ck_pickup_visits_slot_known")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_pickup_visits_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["dossier_id"], ["dossiers.id"], name=op.f("fk_pickup_visits_dossier_id_dossiers")
        ),
        sa.ForeignKeyConstraint(
            ["pickup_id"], ["pickups.id"], name=op.f("fk_pickup_visits_pickup_id_pickups")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pickup_visits")),
        sa.UniqueConstraint(
            "pickup_id", "visit_key", name=op.f("uq_pickup_visits_pickup_id_visit_key")
        ),
    )
    op.create_index(
        op.f("ix_pickup_visits_pickup_id"), "pickup_visits", ["pickup_id"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_pickup_visits_pickup_id"), table_name="pickup_visits")
    op.drop_table("pickup_visits")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("lookup_secret")
    op.drop_index(op.f("ix_pickups_dossier_id"), table_name="pickups")
    op.drop_index(op.f("ix_pickups_postman_id"), table_name="pickups")
    # SQLite drops a column under a foreign key only by copying the table (a batch); the
    # foreign keys go with their columns (on PostgreSQL too).
    with op.batch_alter_table("pickups", schema=None) as batch_op:
        batch_op.drop_column("collected_at")
        batch_op.drop_column("dossier_id")
        batch_op.drop_column("postman_id")
