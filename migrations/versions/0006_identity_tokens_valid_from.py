"""auth identity: tokens issued before its last credentials change are refused

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed: a NumericDate (seconds since the epoch); NULL until the identity's credentials first change.
    with op.batch_alter_table('auth_identity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tokens_valid_from', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('auth_identity', schema=None) as batch_op:
        batch_op.drop_column('tokens_valid_from')
