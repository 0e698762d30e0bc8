"""feeds: the Standard Webhooks message id of each batch (placeholder until the feed-signature
work fills it in; kept so that 0006 has its parent)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:00:00.000000

"""

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
