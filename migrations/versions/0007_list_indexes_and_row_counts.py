"""indexes for listing in order, and the user count kept by triggers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Tables whose row count the database keeps in table_row_count (a count(*) of a million rows takes
# longer than the request that shows it).
COUNTED = ("user",)

POSTGRES_FUNCTIONS = {
    "inserted": "row_count + (SELECT count(*) FROM changed_rows)",
    "deleted": "row_count - (SELECT count(*) FROM changed_rows)",
    "truncated": "0",
}


def upgrade():
    # Reviewed: lists are read oldest first, (created_at, id), and deep pages by keyset on the same pair.
    op.create_index('ix_user_created_at_id', 'user', ['created_at', 'id'], unique=False)
    op.create_index('ix_invite_created_at_id', 'invite', ['created_at', 'id'], unique=False)
    # Reviewed: exact counts kept by the database itself, so every writer (the service, a bulk import) keeps them.
    op.create_table('table_row_count',
    sa.Column('table_name', sa.String(length=64), nullable=False),
    sa.Column('row_count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('table_name', name=op.f('pk_table_row_count'))
    )
    for table in COUNTED:
        op.execute(f"INSERT INTO table_row_count (table_name, row_count) SELECT '{table}', count(*) FROM \"{table}\"")
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _postgres_triggers():
    # One statement-level trigger per change: a bulk INSERT of a million rows updates the count once.
    for change, new_count in POSTGRES_FUNCTIONS.items():
        op.execute(
            f"""CREATE FUNCTION table_row_count_{change}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE table_row_count SET row_count = {new_count} WHERE table_name = TG_TABLE_NAME;
                RETURN NULL;
            END $$"""
        )
    for table in COUNTED:
        op.execute(
            f'CREATE TRIGGER {table}_rows_inserted AFTER INSERT ON "{table}" REFERENCING NEW TABLE AS changed_rows '
            "FOR EACH STATEMENT EXECUTE FUNCTION table_row_count_inserted()"
        )
        op.execute(
            f'CREATE TRIGGER {table}_rows_deleted AFTER DELETE ON "{table}" REFERENCING OLD TABLE AS changed_rows '
            "FOR EACH STATEMENT EXECUTE FUNCTION table_row_count_deleted()"
        )
        op.execute(
            f'CREATE TRIGGER {table}_rows_truncated AFTER TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION table_row_count_truncated()"
        )


def _sqlite_triggers():
    for table in COUNTED:
        for change, step in (("inserted", "+ 1"), ("deleted", "- 1")):
            event = "INSERT" if change == "inserted" else "DELETE"
            op.execute(
                f'CREATE TRIGGER {table}_rows_{change} AFTER {event} ON "{table}" BEGIN '
                f"UPDATE table_row_count SET row_count = row_count {step} WHERE table_name = '{table}'; END"
            )


def downgrade():
    # Reviewed: drops what upgrade() created, triggers first.
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in COUNTED:
        for change in ("inserted", "deleted", "truncated"):
            if postgres or change != "truncated":
                op.execute(f'DROP TRIGGER {table}_rows_{change}' + (f' ON "{table}"' if postgres else ""))
    if postgres:
        for change in POSTGRES_FUNCTIONS:
            op.execute(f"DROP FUNCTION table_row_count_{change}()")
    op.drop_table('table_row_count')
    op.drop_index('ix_invite_created_at_id', table_name='invite')
    op.drop_index('ix_user_created_at_id', table_name='user')
