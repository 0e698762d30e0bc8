"""reports: the go-live date of the deployment, targets per office and channel

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_settings",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("go_live_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_report_settings_single_row")),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_report_settings_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_settings")),
    )
    op.create_table(
        "office_targets",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dimension", sa.String(length=10), nullable=False),
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("two_way", sa.BigInteger(), nullable=True),
        sa.Column("one_way", sa.BigInteger(), nullable=True),
        sa.Column("send_only", sa.BigInteger(), nullable=True),
        sa.Column("postal_total", sa.BigInteger(), nullable=True),
        sa.Column("weight", sa.Numeric(precision=5, scale=4), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "dimension IN ('office', 'channel')", name=op.f("ck_office_targets_dimension_known")
        ),
        sa.CheckConstraint(
            "weight >= 0 AND weight <= 1", name=op.f("ck_office_targets_weight_range")
        ),
        sa.CheckConstraint(
            "two_way >= 0 AND one_way >= 0 AND send_only >= 0 AND postal_total >= 0",
            name=op.f("ck_office_targets_figures_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_office_targets_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("year", "dimension", "member_id", name=op.f("pk_office_targets")),
    )


def downgrade():
    op.drop_table("office_targets")
    op.drop_table("report_settings")
