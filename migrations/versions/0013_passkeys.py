"""passkeys: WebAuthn credentials of auth identities, and the challenges handed out for them

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed: a credential's id and public key only (nothing secret); a challenge by its SHA-256,
    # single use, 5 minutes, swept when the next one is saved and by `flask purge`.
    op.create_table('passkey',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('auth_identity_id', sa.String(length=64), nullable=False),
    sa.Column('credential_id', sa.String(length=1400), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('sign_count', sa.BigInteger(), nullable=False),
    sa.Column('transports', sa.JSON(), nullable=False),
    sa.Column('label', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['auth_identity_id'], ['auth_identity.id'], name=op.f('fk_passkey_auth_identity_id_auth_identity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passkey')),
    sa.UniqueConstraint('credential_id', name=op.f('uq_passkey_credential_id'))
    )
    with op.batch_alter_table('passkey', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passkey_auth_identity_id'), ['auth_identity_id'], unique=False)

    op.create_table('webauthn_challenge',
    sa.Column('challenge_hash', sa.String(length=64), nullable=False),
    sa.Column('ceremony', sa.String(length=32), nullable=False),
    sa.Column('actor_type', sa.String(length=64), nullable=False),
    sa.Column('auth_identity_id', sa.String(length=64), nullable=True),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('challenge_hash', name=op.f('pk_webauthn_challenge'))
    )
    with op.batch_alter_table('webauthn_challenge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webauthn_challenge_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('webauthn_challenge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webauthn_challenge_expires_at'))

    op.drop_table('webauthn_challenge')
    with op.batch_alter_table('passkey', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passkey_auth_identity_id'))

    op.drop_table('passkey')
