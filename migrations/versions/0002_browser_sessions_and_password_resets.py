"""browser sessions and password resets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:41:09.710728

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed: server-side browser sessions (hashed ids) and one live reset token per identity.
    op.create_table('browser_session',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('auth_identity_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['auth_identity_id'], ['auth_identity.id'], name=op.f('fk_browser_session_auth_identity_id_auth_identity'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_browser_session_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_browser_session'))
    )
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_browser_session_user_id'), ['user_id'], unique=False)

    op.create_table('password_reset',
    sa.Column('auth_identity_id', sa.String(length=64), nullable=False),
    sa.Column('jti_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['auth_identity_id'], ['auth_identity.id'], name=op.f('fk_password_reset_auth_identity_id_auth_identity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('auth_identity_id', name=op.f('pk_password_reset'))
    )


def downgrade():
    # Reviewed: drops what upgrade() created, in reverse order.
    op.drop_table('password_reset')
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_browser_session_user_id'))

    op.drop_table('browser_session')
