"""audit log: TRUNCATE refused too (PostgreSQL; SQLite has no TRUNCATE, its DELETE is refused)

Revision ID: 0009
Revises: 0008_token_version
Create Date: 2026-12-05
"""

from alembic import op

revision = "0009"
down_revision = "0008_token_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # a row trigger does not fire on TRUNCATE: a statement trigger does
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
