"""sign-in sessions: every sign-in recorded, so its bearer tokens can be ended everywhere

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed: one row per sign-in; ended rows are read by every instance every few seconds (ended_at
    # index) and purged once no token of theirs can still be live.
    op.create_table('sign_in_session',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('auth_identity_id', sa.String(length=64), nullable=False),
    sa.Column('actor_type', sa.String(length=32), nullable=False),
    sa.Column('auth_provider', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['auth_identity_id'], ['auth_identity.id'],
                            name=op.f('fk_sign_in_session_auth_identity_id_auth_identity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_session'))
    )
    with op.batch_alter_table('sign_in_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_session_auth_identity_id'), ['auth_identity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sign_in_session_ended_at'), ['ended_at'], unique=False)

    # Reviewed: existing browser sessions keep working without a sign-in session (NULL); new ones have one.
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sign_in_session_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_browser_session_sign_in_session_id'), ['sign_in_session_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_browser_session_sign_in_session_id_sign_in_session'),
                                    'sign_in_session', ['sign_in_session_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_browser_session_sign_in_session_id_sign_in_session'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_browser_session_sign_in_session_id'))
        batch_op.drop_column('sign_in_session_id')

    with op.batch_alter_table('sign_in_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_session_ended_at'))
        batch_op.drop_index(batch_op.f('ix_sign_in_session_auth_identity_id'))

    op.drop_table('sign_in_session')
