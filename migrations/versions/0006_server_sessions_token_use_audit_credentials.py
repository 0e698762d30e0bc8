"""accounts: server-side staff sessions, where tokens are used, the credential of each audit
entry; on PostgreSQL the audit table refuses UPDATE, DELETE and TRUNCATE

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APPEND_ONLY = """
CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade():
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("password_stamp", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=30), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_staff_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    op.create_index(
        "ix_staff_sessions_user_open", "staff_sessions", ["user_id", "ended_at"], unique=False
    )
    op.add_column("api_tokens", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    op.add_column("api_tokens", sa.Column("addresses", sa.JSON()))
    op.add_column("audit_entries", sa.Column("session_id", sa.Integer()))
    op.add_column("audit_entries", sa.Column("token_id", sa.Integer()))
    op.create_index(op.f("ix_audit_entries_token_id"), "audit_entries", ["token_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)
        op.execute(
            "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON audit_entries FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_entries_append_only ON audit_entries")
        op.execute("DROP FUNCTION audit_entries_append_only()")
    op.drop_index(op.f("ix_audit_entries_token_id"), table_name="audit_entries")
    op.drop_column("audit_entries", "token_id")
    op.drop_column("audit_entries", "session_id")
    op.drop_column("api_tokens", "addresses")
    op.drop_column("api_tokens", "last_used_at")
    op.drop_index("ix_staff_sessions_user_open", table_name="staff_sessions")
    op.drop_table("staff_sessions")
