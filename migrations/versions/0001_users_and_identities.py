"""users and emailpass identities

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 19:11:29.745340

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed: users, auth identities, and emailpass provider identities.
    op.create_table('auth_identity',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('app_metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_identity'))
    )
    op.create_table('user',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('first_name', sa.String(length=255), nullable=True),
    sa.Column('last_name', sa.String(length=255), nullable=True),
    sa.Column('avatar_url', sa.String(length=2048), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('email', name=op.f('uq_user_email'))
    )
    op.create_table('provider_identity',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('entity_id', sa.String(length=320), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('auth_identity_id', sa.String(length=64), nullable=False),
    sa.Column('user_metadata', sa.JSON(), nullable=True),
    sa.Column('password_hash', sa.String(length=512), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['auth_identity_id'], ['auth_identity.id'], name=op.f('fk_provider_identity_auth_identity_id_auth_identity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_identity')),
    sa.UniqueConstraint('provider', 'entity_id', name=op.f('uq_provider_identity_provider_entity_id'))
    )
    with op.batch_alter_table('provider_identity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_identity_auth_identity_id'), ['auth_identity_id'], unique=False)



def downgrade():
    # Reviewed: users, auth identities, and emailpass provider identities.
    with op.batch_alter_table('provider_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provider_identity_auth_identity_id'))

    op.drop_table('provider_identity')
    op.drop_table('user')
    op.drop_table('auth_identity')
