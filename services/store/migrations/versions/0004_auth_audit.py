"""accounts, the hash-chained audit log (append-only by trigger), identity-reveal grants

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from services.store.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APPEND_ONLY = "audit_log is append-only"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False, comment="argon2 via pwdlib"),
        sa.Column(
            "role", sa.String(16), nullable=False, comment="teacher | analyst | auditor | student"
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False, comment="wall clock"),
        sa.Column(
            "demo", sa.Boolean(), nullable=False, server_default=sa.false(), comment="made by aqkol up"
        ),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False, comment="wall clock"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column(
            "action", sa.String(32), nullable=False, comment="query | reveal | reveal.read | ..."
        ),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "reveal_grants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False, comment="wall clock"),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(32), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column(
            "audit_id", sa.Integer(), nullable=False, comment="the audit_log row of the reveal"
        ),
    )
    op.create_index("ix_reveal_grants_by", "reveal_grants", ["requested_by", "created_at"])
    # the database itself refuses edits; the hash chain catches whoever drops these first
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
            )
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )


def downgrade() -> None:
    for what in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{what}" + (
            " ON audit_log" if op.get_bind().dialect.name == "postgresql" else ""
        ))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_reveal_grants_by", table_name="reveal_grants")
    op.drop_table("reveal_grants")
    op.drop_table("audit_log")
    op.drop_table("users")
