"""pickups: communes, service areas and pickup requests from hotline 1022

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 08:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The coded lists as they stand in this revision (tracker/pickups/lifecycle.py).
STATES = "'requested', 'assigned', 'collected', 'failed', 'cancelled'"
SLOTS = "'morning', 'afternoon'"
SERVICE_FORMS = "'two_way', 'send_only'"
ONE_OWNER = (
    "(dossier_id IS NOT NULL AND event_id IS NOT NULL AND pickup_id IS NULL)"
    " OR (dossier_id IS NULL AND event_id IS NULL AND pickup_id IS NOT NULL)"
)


def upgrade():
    op.create_table(
        "communes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("province", sa.String(length=120), nullable=False),
        sa.Column("active_from", sa.Date(), nullable=True),
        sa.Column("active_to", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communes")),
        sa.UniqueConstraint("code", name=op.f("uq_communes_code")),
    )
    op.create_table(
        "service_areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("active_from", sa.Date(), nullable=True),
        sa.Column("active_to", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["commune_id"], ["communes.id"], name=op.f("fk_service_areas_commune_id_communes")
        ),
        sa.ForeignKeyConstraint(
            ["office_id"], ["offices.id"], name=op.f("fk_service_areas_office_id_offices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_areas")),
        sa.UniqueConstraint(
            "commune_id", "active_from", name=op.f("uq_service_areas_commune_id_active_from")
        ),
    )
    op.create_index(
        op.f("ix_service_areas_office_id"), "service_areas", ["office_id"], unique=False
    )
    op.create_table(
        "pickups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("caller_name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("street", sa.String(length=300), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("service_form", sa.String(length=20), nullable=False),
        sa.Column("procedure_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(f"state IN ({STATES})", name=op.f("ck_pickups_state_known")),
        sa.CheckConstraint(f"slot IN ({SLOTS})", name=op.f("ck_pickups_slot_known")),
        sa.CheckConstraint(
            f"service_form IN ({SERVICE_FORMS})", name=op.f("ck_pickups_service_form_known")
        ),
        sa.ForeignKeyConstraint(
            ["commune_id"], ["communes.id"], name=op.f("fk_pickups_commune_id_communes")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_pickups_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["office_id"], ["offices.id"], name=op.f("fk_pickups_office_id_offices")
        ),
        sa.ForeignKeyConstraint(
            ["procedure_id"], ["procedures.id"], name=op.f("fk_pickups_procedure_id_procedures")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pickups")),
        sa.UniqueConstraint("reference", name=op.f("uq_pickups_reference")),
    )
    op.create_index("ix_pickups_day_state", "pickups", ["day", "state"], unique=False)
    op.create_index("ix_pickups_office_day", "pickups", ["office_id", "day"], unique=False)
    op.create_index(op.f("ix_pickups_phone"), "pickups", ["phone"], unique=False)
    # A notification belongs to a dossier's status event or to a pickup request. On SQLite the
    # batch copies `notifications` (no table refers to it).
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pickup_id", sa.Integer(), nullable=True))
        batch_op.alter_column("dossier_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("event_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_notifications_pickup_id_pickups"), "pickups", ["pickup_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_notifications_pickup_id"), ["pickup_id"])
        batch_op.create_check_constraint(batch_op.f("ck_notifications_one_owner"), ONE_OWNER)


def downgrade():
    # Messages about pickups go with them; the dossiers' keep their owner.
    op.execute("DELETE FROM notifications WHERE pickup_id IS NOT NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_notifications_one_owner"), type_="check")
        batch_op.drop_index(batch_op.f("ix_notifications_pickup_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_notifications_pickup_id_pickups"), type_="foreignkey"
        )
        batch_op.alter_column("event_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("dossier_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("pickup_id")
    op.drop_index(op.f("ix_pickups_phone"), table_name="pickups")
    op.drop_index("ix_pickups_office_day", table_name="pickups")
    op.drop_index("ix_pickups_day_state", table_name="pickups")
    op.drop_table("pickups")
    op.drop_index(op.f("ix_service_areas_office_id"), table_name="service_areas")
    op.drop_table("service_areas")
    op.drop_table("communes")
