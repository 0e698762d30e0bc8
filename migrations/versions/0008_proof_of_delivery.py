"""dossiers: proof of delivery (the receiver of a delivered result, the reason of a failed delivery)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 08:00:00.000000

"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
