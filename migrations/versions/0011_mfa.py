"""a second factor: TOTP factors, recovery codes, sign-in challenges, verification codes

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed: secrets sealed (AES-256-GCM), recovery and verification codes kept as keyed hashes only.
    op.create_table('mfa_factor',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('auth_identity_id', sa.String(length=64), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=255), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('sealed_secret', sa.LargeBinary(), nullable=False),
    sa.Column('last_step', sa.BigInteger(), nullable=True),
    sa.Column('enabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['auth_identity_id'], ['auth_identity.id'], name=op.f('fk_mfa_factor_auth_identity_id_auth_identity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mfa_factor'))
    )
    with op.batch_alter_table('mfa_factor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mfa_factor_auth_identity_id'), ['auth_identity_id'], unique=False)

    op.create_table('mfa_recovery_code',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('auth_identity_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['auth_identity_id'], ['auth_identity.id'], name=op.f('fk_mfa_recovery_code_auth_identity_id_auth_identity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_mfa_recovery_code'))
    )
    with op.batch_alter_table('mfa_recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mfa_recovery_code_auth_identity_id'), ['auth_identity_id'], unique=False)

    op.create_table('mfa_challenge',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('auth_identity_id', sa.String(length=64), nullable=False),
    sa.Column('actor_type', sa.String(length=64), nullable=False),
    sa.Column('auth_provider', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['auth_identity_id'], ['auth_identity.id'], name=op.f('fk_mfa_challenge_auth_identity_id_auth_identity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mfa_challenge'))
    )
    with op.batch_alter_table('mfa_challenge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mfa_challenge_auth_identity_id'), ['auth_identity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mfa_challenge_expires_at'), ['expires_at'], unique=False)

    op.create_table('verification',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('auth_identity_id', sa.String(length=64), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=320), nullable=False),
    sa.Column('code_provider', sa.String(length=32), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['auth_identity_id'], ['auth_identity.id'], name=op.f('fk_verification_auth_identity_id_auth_identity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification'))
    )
    with op.batch_alter_table('verification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_auth_identity_id'), ['auth_identity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verification_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mfa_enabled', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('mfa_challenge_completed_at', sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.drop_column('mfa_challenge_completed_at')
        batch_op.drop_column('mfa_enabled')
    for table in ('verification', 'mfa_challenge', 'mfa_recovery_code', 'mfa_factor'):
        op.drop_table(table)
