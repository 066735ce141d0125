"""The audit log: queries of personal data and reveals are logged; the chain catches edits."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DatabaseError

from services.api.main import create_app
from services.store.db import migrate
from services.store.models import pseudonym_escrow
from services.transparency import audit, reveal
from tests.accounts import add_accounts, clients_by_role
from tests.conftest import make_settings

JUSTIFICATION = "Missing child reported at 08:10; the meter's household may have seen her."


@pytest.fixture
def app(tmp_path, sqlite_url):
    migrate(sqlite_url)
    rules = tmp_path / "rules"  # a rule saved by a test goes here, not into the repository
    rules.mkdir()
    app = create_app(make_settings(tmp_path, port=1, database_url=sqlite_url, rules_dir=rules))
    add_accounts(app.state.engine)
    with app.state.engine.begin() as conn:
        conn.execute(
            insert(pseudonym_escrow).values(
                pseudonym="ps-4f2a", original="hh-0042", field="household",
                period="2026-01-15", policy="gdpr-minimal",
            )
        )  # fmt: skip
    return app


@pytest.fixture
def clients(app) -> dict[str, TestClient]:
    return clients_by_role(app)


def _log(clients) -> list[dict]:
    return clients["auditor"].get("/audit", params={"limit": 1000}).json()["items"]


def _reveal_body(**kw) -> dict:
    expires = (datetime.now(UTC) + timedelta(hours=4)).isoformat()
    return {"pseudonym": "ps-4f2a", "justification": JUSTIFICATION,
            "legal_basis": "missing_person", "expires_at": expires} | kw  # fmt: skip


def test_queries_of_personal_data_are_logged_and_telemetry_is_not(clients):
    analyst = clients["analyst"]
    assert analyst.get("/events", params={"kind": "env.reading"}).status_code == 200
    assert analyst.get("/stats").status_code == 200
    assert _log(clients) == []
    analyst.get("/events", params={"kind": "gas.reading", "limit": 5})
    analyst.get("/events")  # every kind, identifiers included
    clients["student"].get("/events/latest", params={"kind": "vehicle.position"})  # plates
    clients["student"].get("/alerts")
    log = _log(clients)[::-1]
    assert [(e["actor"], e["action"], e["target"]) for e in log] == [
        ("analyst", "query", "GET /events"),
        ("analyst", "query", "GET /events"),
        ("student", "query", "GET /events/latest"),
        ("student", "query", "GET /alerts"),
    ]
    assert log[0]["detail"] == {"params": {"kind": "gas.reading", "limit": "5"}}
    assert log[0]["prev_hash"] == audit.GENESIS and log[1]["prev_hash"] == log[0]["hash"]
    # a refused caller reads nothing, so nothing is logged for them
    assert clients["anonymous"].get("/alerts").status_code == 401
    assert len(_log(clients)) == 4


def test_reveal_gives_the_original_and_logs_why_but_not_what(clients):
    r = clients["analyst"].post("/reveal", json=_reveal_body())
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["original"] == "hh-0042" and out["field"] == "household"
    entry = next(e for e in _log(clients) if e["action"] == "reveal")
    assert entry["actor"] == "analyst" and entry["target"] == "ps-4f2a"
    assert entry["detail"]["justification"] == JUSTIFICATION
    assert entry["detail"]["legal_basis"] == "missing_person"
    assert "hh-0042" not in str(_log(clients))  # the log says who looked, not what they saw
    # the grant can be read again by its requester while it lasts, and each read is logged
    again = clients["analyst"].get(f"/reveal/{out['grant_id']}")
    assert again.status_code == 200 and again.json()["original"] == "hh-0042"
    assert clients["teacher"].get(f"/reveal/{out['grant_id']}").status_code == 404
    assert [e["action"] for e in _log(clients)][:2] == ["reveal.read", "reveal"]
    grants = clients["auditor"].get("/reveal").json()["items"]
    assert len(grants) == 1 and grants[0]["justification"] == JUSTIFICATION
    assert "hh-0042" not in str(grants)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"justification": "because"}, "at least 30 characters"),
        ({"legal_basis": "curiosity"}, "court_order"),
        ({"expires_at": "2026-01-15T10:00:00"}, "timezone"),
        ({"expires_at": "2020-01-01T00:00:00+00:00"}, "in the future"),
        ({"expires_at": (datetime.now(UTC) + timedelta(days=90)).isoformat()}, "at most 30 days"),
    ],
)
def test_a_reveal_without_reason_basis_or_sound_expiry_is_refused(clients, change, says):
    r = clients["analyst"].post("/reveal", json=_reveal_body(**change))
    assert r.status_code == 422 and says in r.text, r.text
    assert all(e["action"] != "reveal" for e in _log(clients))


def test_an_unknown_pseudonym_is_404_and_the_attempt_is_logged(clients):
    r = clients["teacher"].post("/reveal", json=_reveal_body(pseudonym="ps-none"))
    assert r.status_code == 404
    assert _log(clients)[0]["action"] == "reveal.refused"


def test_an_expired_grant_no_longer_reveals(app):
    engine = app.state.engine
    done = reveal.request_reveal(
        engine, actor="analyst", role="analyst", pseudonym="ps-4f2a",
        justification=JUSTIFICATION, legal_basis=reveal.LegalBasis.COURT_ORDER,
        expires_at=datetime.now(UTC) + timedelta(minutes=5),
    )  # fmt: skip
    later = datetime.now(UTC) + timedelta(minutes=6)
    with pytest.raises(reveal.RevealRefused) as refused:
        reveal.read_grant(engine, done.grant_id, actor="analyst", role="analyst", now=later)
    assert refused.value.status == 410 and "expired" in refused.value.message


def test_the_database_refuses_to_edit_or_delete_audit_entries(app):
    engine = app.state.engine
    audit.append(engine, "analyst", "analyst", "query", "GET /alerts")
    for sql in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))


def test_an_edited_row_is_detected_and_named(app, clients):
    engine = app.state.engine
    for i in range(6):
        audit.append(engine, "analyst", "analyst", "query", "GET /alerts", {"n": i})
    ok = clients["auditor"].get("/audit/verify").json()
    assert ok["ok"] and ok["entries"] == 6 and ok["broken_id"] is None
    ids = [e["id"] for e in _log(clients)][::-1]
    with engine.begin() as conn:  # someone with the database password covers their tracks
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(
            text("UPDATE audit_log SET detail = :d WHERE id = :id"),
            {"d": '{"n": 99}', "id": ids[3]},
        )
    bad = clients["auditor"].get("/audit/verify").json()
    assert bad["ok"] is False and bad["broken_id"] == ids[3]
    assert "content changed" in bad["reason"]


def test_a_deleted_row_breaks_the_chain_at_the_next_one(app):
    engine = app.state.engine
    ids = [audit.append(engine, "teacher", "teacher", "query", "GET /alerts") for _ in range(4)]
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[1]})
    with engine.connect() as conn:
        status = audit.verify(conn)
    assert not status.ok and status.broken_id == ids[2] and "removed" in status.reason


def test_concurrent_appends_keep_one_chain(app):
    engine = app.state.engine

    def work(k: int) -> None:
        for i in range(15):
            audit.append(engine, f"user{k}", "analyst", "query", "GET /alerts", {"i": i})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as conn:
        status = audit.verify(conn)
    assert status.ok and status.entries == 60


def test_on_postgresql_too_the_database_refuses_edits_and_the_chain_catches_them(postgres_url):
    from services.store.db import make_engine

    migrate(postgres_url)
    engine = make_engine(postgres_url)
    try:
        ids = [audit.append(engine, "teacher", "teacher", "query", "GET /alerts") for _ in range(3)]
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET actor = 'nobody'"))
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER audit_log_no_update ON audit_log"))
            conn.execute(
                text("UPDATE audit_log SET actor = 'nobody' WHERE id = :id"), {"id": ids[1]}
            )
        with engine.connect() as conn:
            status = audit.verify(conn)
        assert not status.ok and status.broken_id == ids[1]
    finally:
        engine.dispose()


def test_an_empty_kind_a_preview_and_the_dead_letters_are_reads_of_personal_data(clients):
    analyst = clients["analyst"]
    assert analyst.get("/events", params={"kind": ""}).status_code == 200  # every kind
    assert analyst.get("/dead-letters").status_code == 200
    rule = "id: r\ntitle: R\nseverity: minor\npurpose: welfare\nkinds: [gas.reading]\n"
    rule += "when: data.m3 > 0\ndedup_key: source\n"
    r = analyst.post("/rules/preview", content=rule, headers={"content-type": "text/plain"})
    assert r.status_code == 200, r.text
    targets = [e["target"] for e in _log(clients) if e["action"] == "query"]
    assert sorted(targets) == ["GET /dead-letters", "GET /events", "POST /rules/preview"]


def test_a_refreshing_view_is_one_session_not_a_row_per_refresh(app, clients):
    for _ in range(30):  # an open situation-room tab, refreshing
        assert clients["analyst"].get("/alerts", params={"state": "open"}).status_code == 200
    clients["analyst"].get("/alerts", params={"state": "cleared"})  # another view: its own
    reads = [e for e in _log(clients) if e["actor"] == "analyst"]
    assert [(e["action"], e["detail"]["params"]["state"]) for e in reads[::-1]] == [
        ("query", "open"),
        ("query", "cleared"),
    ]
    app.state.view_sessions.close_all(app.state.engine)  # idle, or the API stops
    ends = {e["detail"]["reads"]: e for e in _log(clients) if e["action"] == "view.end"}
    assert set(ends) == {30, 1} and ends[30]["target"] == "GET /alerts"
    assert ends[30]["detail"]["from"] <= ends[30]["detail"]["to"]


def test_a_view_idle_longer_than_the_session_gap_starts_a_new_entry(tmp_path, sqlite_url):
    migrate(sqlite_url)
    engine = create_app(make_settings(tmp_path, port=1, database_url=sqlite_url)).state.engine
    sessions = audit.ViewSessions(idle_s=600)
    t0 = datetime(2026, 1, 15, 8, tzinfo=UTC)
    for minute in (0, 5, 9, 30):  # a 21-minute gap before the last read
        sessions.read(engine, "ana", "analyst", "GET /alerts", {"at": str(minute)},
                      now=t0 + timedelta(minutes=minute))  # fmt: skip
    with engine.connect() as conn:
        log = audit.entries(conn)[::-1]
        assert audit.verify(conn).ok
    assert [e["action"] for e in log] == ["query", "view.end", "query"]
    assert log[1]["detail"]["reads"] == 3 and log[1]["detail"]["to"].startswith("2026-01-15T08:09")


def test_every_change_is_recorded_with_who(app, clients):
    teacher = clients["teacher"]
    rule = "id: r\ntitle: R\nseverity: minor\npurpose: welfare\nkinds: [gas.reading]\n"
    rule += "when: data.m3 > 0\ndedup_key: source\n"
    r = teacher.put("/rules/r", content=rule, headers={"content-type": "text/plain"})
    assert r.status_code == 200, r.text
    for act in ("acknowledge", "assign", "clear"):
        assert teacher.post(f"/alerts/{act}", json={"rule": "r"}).status_code == 200
    assert teacher.put("/policy/active", json={"policy": "gdpr-minimal"}).status_code == 200
    acts = [(e["actor"], e["action"], e["target"]) for e in _log(clients)[::-1]]
    assert acts == [
        ("teacher", "rule.save", "r"),
        ("teacher", "alert.acknowledge", "alerts"),
        ("teacher", "alert.assign", "alerts"),
        ("teacher", "alert.clear", "alerts"),
        ("teacher", "policy.switch", "gdpr-minimal"),
    ]


def test_the_debrief_shows_every_reveal_and_teacher_action_however_many_reads(app):
    from services.classroom.debrief import render
    from services.store.models import audit_log

    engine = app.state.engine
    audit.append(engine, "ana", "analyst", "reveal", "ps-4f2a", {"justification": "the oldest"})
    audit.append(engine, "teach", "teacher", "classroom.pause", "simulator", {"why": "lunch"})
    with engine.connect() as conn:
        prev = audit.entries(conn, limit=1)[0]["hash"]
    rows, at = [], datetime.now(UTC)
    for i in range(6000):  # a class of students reading for a while (bulk, chained)
        h = audit.content_hash(prev, at, f"s{i}", "student", "query", "GET /alerts", {})
        rows.append({"at": at, "actor": f"s{i}", "role": "student", "action": "query",
                     "target": "GET /alerts", "detail": {}, "prev_hash": prev,
                     "hash": h})  # fmt: skip
        prev = h
    with engine.begin() as conn:
        conn.execute(insert(audit_log), rows)
    with engine.connect() as conn:
        html = render(conn, active_policy="none", truth=None, run_id=None, by="t")
    assert "the oldest" in html and "lunch" in html


def _drop_guards(engine, *whats: str) -> None:
    on = " ON audit_log" if engine.dialect.name == "postgresql" else ""
    with engine.begin() as conn:
        for what in whats:
            conn.execute(text(f"DROP TRIGGER audit_log_no_{what}{on}"))


def _rechain_unkeyed(engine) -> None:
    """What a forger with write access could do to the old, unkeyed chain: edit a row, then
    recompute every hash after it with plain SHA-256."""
    from services.store.models import audit_log

    _drop_guards(engine, "update")
    with engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]
        for r in rows:  # the unique columns are rewritten in two passes
            conn.execute(audit_log.update().where(audit_log.c.id == r["id"]).values(
                prev_hash=f"tmp-{r['id']}", hash=f"tmp-h-{r['id']}"))  # fmt: skip
        prev = audit.GENESIS
        for i, r in enumerate(rows):
            actor = "nobody" if i == 1 else r["actor"]
            h = audit.content_hash(prev, r["at"], actor, r["role"], r["action"], r["target"],
                                   r["detail"], None)  # fmt: skip
            conn.execute(audit_log.update().where(audit_log.c.id == r["id"]).values(
                actor=actor, prev_hash=prev, hash=h))  # fmt: skip
            prev = h


def test_an_edited_and_rechained_log_does_not_verify_without_the_key(app):
    engine = app.state.engine
    for _ in range(3):
        audit.append(engine, "teacher", "teacher", "query", "GET /alerts")
    _rechain_unkeyed(engine)
    with engine.connect() as conn:
        status = audit.verify(conn)
    assert not status.ok and status.broken_id == 1, status


def test_a_deleted_tail_is_detected_by_the_anchor(app):
    engine = app.state.engine
    ids = [audit.append(engine, "teacher", "teacher", "query", "GET /alerts") for _ in range(5)]
    _drop_guards(engine, "delete")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id >= :id"), {"id": ids[3]})
    with engine.connect() as conn:
        status = audit.verify(conn)  # what is left holds together, but it ends too early
    assert not status.ok and "removed" in status.reason and status.entries == 3


def test_an_emptied_table_is_refused_then_detected_and_the_api_says_so_at_start(
    app, tmp_path, sqlite_url
):
    engine = app.state.engine
    audit.append(engine, "teacher", "teacher", "query", "GET /alerts")
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))  # SQLite's TRUNCATE
    _drop_guards(engine, "delete")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    again = create_app(make_settings(tmp_path, port=1, database_url=sqlite_url))
    assert not again.state.chain_at_start.ok
    status = clients_by_role(again)["auditor"].get("/audit/verify").json()
    assert not status["ok"] and "emptied" in status["reason"]


def test_on_postgresql_truncate_is_refused_and_a_truncated_log_detected(postgres_url, tmp_path):
    from services.store.db import make_engine

    migrate(postgres_url)
    engine = make_engine(postgres_url)
    audit.configure(engine, "a-test-secret", audit.anchor_path(tmp_path, engine))
    try:
        for _ in range(3):
            audit.append(engine, "teacher", "teacher", "query", "GET /alerts")
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))
        _drop_guards(engine, "truncate")
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))
        with engine.connect() as conn:
            status = audit.verify(conn)
        assert not status.ok and status.entries == 0 and "emptied" in status.reason
    finally:
        engine.dispose()


def test_a_store_started_afresh_on_purpose_forgets_its_anchor(app, tmp_path, sqlite_url):
    engine = app.state.engine
    audit.append(engine, "teacher", "teacher", "query", "GET /alerts")
    anchor = audit.anchor_path(tmp_path / "var", sqlite_url)
    assert anchor == audit.anchor_path(tmp_path / "var", engine) and anchor.exists()
    audit.forget_anchor(tmp_path / "var", sqlite_url)  # as `aqkol up` does with the file
    assert not anchor.exists()


def test_an_anchor_that_cannot_be_written_does_not_lose_the_entry(tmp_path, sqlite_url):
    from services.store.db import make_engine

    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the anchor's folder should be")
    audit.configure(engine, "a-test-secret", blocker / "audit.head.json")
    entry = audit.append(engine, "teacher", "teacher", "query", "GET /alerts")
    with engine.connect() as conn:
        assert [e["id"] for e in audit.entries(conn)] == [entry] and audit.verify(conn).ok
