"""The tables. Changes go through an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from services.store.types import UTCDateTime

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("ts", UTCDateTime(), nullable=False, comment="simulated time, UTC"),
    Column("lat", Float),
    Column("lon", Float),
    Column("cell", String(16), comment="H3 cell at STORE_H3_RES"),
    Column("value", Float, comment="the kind's headline measure (VALUE_FIELD)"),
    Column("data", JSON, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Index("ix_events_kind_ts", "kind", "ts"),
    Index("ix_events_source_ts", "source", "ts"),
    Index("ix_events_ts_id", "ts", "id"),
    # a BRIN index is a few pages for millions of rows appended in about time order; time
    # ranges over days read only the blocks that hold them (a plain index on SQLite)
    Index("ix_events_ts_brin", "ts", postgresql_using="brin"),
)

# Heatmap rollups: per kind, H3 cell (STORE_H3_RES) and time bucket of ``span_s`` seconds
# (5 minutes, an hour, 6 hours, a day), the events, the values and their sum. The ingest maintains
# them in the transaction that stores the events (only rows actually inserted count);
# /heatmap reads whole buckets from here and the ragged edges of a window from events.
heat_rollup = Table(
    "heat_rollup",
    metadata,
    Column("span_s", Integer, primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("bucket", UTCDateTime(), primary_key=True, comment="start, simulated time, UTC"),
    Column("cell", String(16), primary_key=True),
    Column("n", BigInteger, nullable=False, comment="events"),
    Column("n_values", BigInteger, nullable=False, comment="events with a value"),
    Column("total", Float, nullable=False, comment="sum of value"),
    Index("ix_heat_rollup_span_bucket", "span_s", "bucket"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("topic", String(1024), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False, comment="first bytes of the raw payload"),
    Column("payload_size", Integer, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(64), nullable=False),
    Column("dedup_key", String(256), nullable=False),
    Column("title", String(256), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False, comment="active | acknowledged | cleared"),
    Column("kind", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("lat", Float),
    Column("lon", Float),
    Column("value", Float),
    Column("count", Integer, nullable=False),
    Column("first_seen", UTCDateTime(), nullable=False, comment="simulated time"),
    Column("last_seen", UTCDateTime(), nullable=False, comment="simulated time"),
    Column("event_id", String(64), comment="the event that opened it (none for silence)"),
    Column("details", JSON, nullable=False),
    Column("assignee", String(64)),
    Column("acknowledged_at", UTCDateTime(), comment="wall clock"),
    Column("acknowledged_by", String(64)),
    Column("cleared_at", UTCDateTime(), comment="wall clock"),
    Column("cleared_by", String(64), comment="a user, or 'auto'"),
    Column("clear_reason", String(256)),
    Column("purpose", String(32)),
    Column("misuse", Boolean, nullable=False, server_default=false()),
    Index("ix_alerts_rule_key_state", "rule", "dedup_key", "state"),
    Index("ix_alerts_last_seen", "last_seen"),
    Index("ix_alerts_state_rule", "state", "rule"),
)


policy_history = Table(
    "policy_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("policy", String(64), nullable=False),
    Column("sha256", String(64), nullable=False, comment="of the policy file's text"),
    Column("activated_at", UTCDateTime(), nullable=False, comment="wall clock"),
    Column("sim_time", UTCDateTime(), comment="simulated time when it took effect"),
    Column("activated_by", String(64), nullable=False),
    Column("note", String(256)),
)

dp_ledger = Table(
    "dp_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("released_at", UTCDateTime(), nullable=False, comment="wall clock"),
    Column("sim_day", String(10), nullable=False, comment="the town's day, YYYY-MM-DD"),
    Column("policy", String(64), nullable=False),
    Column("query", String(256), nullable=False),
    Column("epsilon", Float, nullable=False),
    Index("ix_dp_ledger_day", "policy", "sim_day"),
)

# The key holder's vault: pseudonym -> original value, read only through an audited reveal.
pseudonym_escrow = Table(
    "pseudonym_escrow",
    metadata,
    Column("pseudonym", String(64), primary_key=True),
    Column("original", String(256), nullable=False),
    Column("field", String(64), nullable=False),
    Column("period", String(16), nullable=False, comment="salt period, e.g. 2026-01-15"),
    Column("policy", String(64), nullable=False),
)


# Local accounts of the command center (issue 5): one role each, see services/auth/roles.py.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False, comment="argon2 via pwdlib"),
    Column("role", String(16), nullable=False, comment="teacher | analyst | auditor | student"),
    Column("created_at", UTCDateTime(), nullable=False, comment="wall clock"),
    Column("demo", Boolean, nullable=False, server_default=false(), comment="made by aqkol up"),
    Column(
        "token_version",
        BigInteger,
        nullable=False,
        server_default="0",
        comment="in every login token; replaced by logout, a password change, a reset",
    ),
)

# Failed logins, counted per key (services/auth/ratelimit.py): hashed keys, never names or
# addresses; rows older than the longest window are deleted.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(32), nullable=False, comment="blake2b of scope and account/client"),
    Column("at", UTCDateTime(), nullable=False, comment="wall clock"),
    Index("ix_login_failures_key_at", "key", "at"),
)

# Append-only and hash-chained: each row's hash covers the previous row's hash and its own
# content (services/transparency/audit.py). Triggers refuse UPDATE and DELETE.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, comment="wall clock"),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(32), nullable=False, comment="query | reveal | reveal.read | ..."),
    Column("target", String(256), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False, unique=True),
)

# Identity reveals granted: who, why, on what legal basis, until when (never the original).
reveal_grants = Table(
    "reveal_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False, comment="wall clock"),
    Column("requested_by", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("pseudonym", String(64), nullable=False),
    Column("justification", Text, nullable=False),
    Column("legal_basis", String(32), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("audit_id", Integer, nullable=False, comment="the audit_log row of the reveal"),
    Index("ix_reveal_grants_by", "requested_by", "created_at"),
)

# What each ingest worker last reported of each rule (the Rules page shows the sums).
rule_status = Table(
    "rule_status",
    metadata,
    Column("rule", String(64), primary_key=True),
    Column("worker", String(128), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reason", String(512)),
    Column("evaluations", BigInteger, nullable=False),
    Column("matches", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("last_error", String(512)),
    Column("updated_at", UTCDateTime(), nullable=False, comment="wall clock"),
)

# Under an "aggregate" policy the events table holds one row per block and interval; this
# remembers which (random) event ids each already counts, so a redelivery adds nothing.
aggregate_members = Table(
    "aggregate_members",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("aggregate_id", String(64), nullable=False),
    Column("ts", UTCDateTime(), nullable=False, comment="the aggregate's time"),
    Index("ix_aggregate_members_ts", "ts"),
)
