"""hand-over records: numbered per office and year, their lines, the agency's confirmation

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 02:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "handover_counters",
        sa.Column("office_code", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("office_code", "year", name=op.f("pk_handover_counters")),
    )
    op.create_table(
        "handover_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("batch_key", sa.String(length=120), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('forward', 'result')", name=op.f("ck_handover_records_kind_known")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_handover_records_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"], ["users.id"], name=op.f("fk_handover_records_confirmed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_handover_records_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["office_id"], ["offices.id"], name=op.f("fk_handover_records_office_id_offices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handover_records")),
        sa.UniqueConstraint("number", name=op.f("uq_handover_records_number")),
        sa.UniqueConstraint(
            "batch_key", "agency_id", name=op.f("uq_handover_records_batch_key_agency_id")
        ),
    )
    op.create_index(
        "ix_handover_records_office_created", "handover_records", ["office_id", "created_at"]
    )
    op.create_index(
        "ix_handover_records_agency_created", "handover_records", ["agency_id", "created_at"]
    )
    op.create_index(
        op.f("ix_handover_records_confirmed_at"), "handover_records", ["confirmed_at"]
    )
    op.create_table(
        "handover_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("fee_vnd", sa.Integer(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("appointment_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_id"], ["dossiers.id"], name=op.f("fk_handover_lines_dossier_id_dossiers")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["handover_records.id"],
            name=op.f("fk_handover_lines_record_id_handover_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handover_lines")),
        sa.UniqueConstraint(
            "record_id", "dossier_id", name=op.f("uq_handover_lines_record_id_dossier_id")
        ),
    )
    op.create_index(op.f("ix_handover_lines_dossier_id"), "handover_lines", ["dossier_id"])


def downgrade():
    op.drop_index(op.f("ix_handover_lines_dossier_id"), table_name="handover_lines")
    op.drop_table("handover_lines")
    op.drop_index(op.f("ix_handover_records_confirmed_at"), table_name="handover_records")
    op.drop_index("ix_handover_records_agency_created", table_name="handover_records")
    op.drop_index("ix_handover_records_office_created", table_name="handover_records")
    op.drop_table("handover_records")
    op.drop_table("handover_counters")
