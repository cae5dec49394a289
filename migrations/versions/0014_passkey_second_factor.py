"""a passkey as the second factor: a WebAuthn challenge may be bound to a sign-in's MFA challenge

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed: an id, nothing secret; null for the ceremonies that had none (registration, passwordless sign-in).
    with op.batch_alter_table('webauthn_challenge', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mfa_challenge_id', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('webauthn_challenge', schema=None) as batch_op:
        batch_op.drop_column('mfa_challenge_id')
