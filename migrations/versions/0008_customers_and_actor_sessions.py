"""customers; browser sessions of any actor type

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed: Medusa's customer, one with an account per email (its partial unique index).
    op.create_table('customer',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('first_name', sa.String(length=255), nullable=True),
    sa.Column('last_name', sa.String(length=255), nullable=True),
    sa.Column('phone', sa.String(length=255), nullable=True),
    sa.Column('company_name', sa.String(length=255), nullable=True),
    sa.Column('has_account', sa.Boolean(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer'))
    )
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.create_index('uq_customer_email_has_account', ['email', 'has_account'], unique=True,
                              postgresql_where=sa.text('deleted_at IS NULL'), sqlite_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('ix_customer_created_at_id', ['created_at', 'id'], unique=False)

    # Reviewed: a session names its actor (type and id) instead of a user; existing sessions are users'.
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor_type', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('actor_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('auth_provider', sa.String(length=64), nullable=True))
    op.execute("UPDATE browser_session SET actor_type = 'user', actor_id = user_id, auth_provider = 'emailpass'")
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.alter_column('actor_type', existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column('actor_id', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('auth_provider', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index(batch_op.f('ix_browser_session_user_id'))
        batch_op.drop_constraint(batch_op.f('fk_browser_session_user_id_user'), type_='foreignkey')
        batch_op.drop_column('user_id')
        batch_op.create_index('ix_browser_session_actor', ['actor_type', 'actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_browser_session_auth_identity_id'), ['auth_identity_id'], unique=False)


def downgrade():
    # Reviewed: back to users' sessions only (other actors' sessions end), then no customers.
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.String(length=64), nullable=True))
    op.execute("""DELETE FROM browser_session WHERE actor_type <> 'user' OR actor_id NOT IN (SELECT id FROM "user")""")
    op.execute("UPDATE browser_session SET user_id = actor_id")
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index(batch_op.f('ix_browser_session_auth_identity_id'))
        batch_op.drop_index('ix_browser_session_actor')
        batch_op.drop_column('auth_provider')
        batch_op.drop_column('actor_id')
        batch_op.drop_column('actor_type')
        batch_op.create_foreign_key(batch_op.f('fk_browser_session_user_id_user'), 'user', ['user_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index(batch_op.f('ix_browser_session_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_created_at_id')
        batch_op.drop_index('uq_customer_email_has_account', postgresql_where=sa.text('deleted_at IS NULL'),
                            sqlite_where=sa.text('deleted_at IS NULL'))
    op.drop_table('customer')
