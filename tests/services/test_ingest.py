"""The ingest: validation, dead letters, idempotent batched writes, the starter alert."""

from __future__ import annotations

from datetime import timedelta

import orjson
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from services.ingest import Ingest
from services.ingest.worker import PolicyRefused
from services.policy.active import POLICIES_DIR as POLICIES
from services.store.db import migrate
from services.store.models import alerts, dead_letters, events
from tests.conftest import make_settings
from tests.factories import T0, make_event, message
from tests.support import wait_until


def _ingest(tmp_path, sqlite_url, **kw) -> Ingest:
    settings = make_settings(tmp_path, port=1, database_url=sqlite_url, mqtt_prefix="", **kw)
    migrate(sqlite_url)
    return Ingest(settings)


def _count(ing: Ingest, table, *where) -> int:
    with ing.engine.connect() as c:
        q = select(func.count()).select_from(table)
        return c.execute(q.where(*where) if where else q).scalar_one()


def test_redelivered_events_are_stored_once(tmp_path, sqlite_url):
    ing = _ingest(tmp_path, sqlite_url)
    batch = [
        message(make_event(source=f"gas-{i:04d}", ts=T0 + timedelta(seconds=i))) for i in range(50)
    ]
    ing.process(batch)
    ing.process(batch[:20] + batch[:5])  # redelivery after a crash, and a repeat in one batch
    assert _count(ing, events) == 50
    assert ing.stats.stored == 50
    assert ing.stats.duplicates == 25


def test_stored_event_keeps_contract_fields(tmp_path, sqlite_url):
    ing = _ingest(tmp_path, sqlite_url)
    ev = make_event("gas.reading", "gas-0042")
    ing.process([message(ev)])
    with ing.engine.connect() as c:
        row = c.execute(select(events)).one()
    assert row.id == ev["id"] and row.kind == "gas.reading" and row.source == "gas-0042"
    assert row.ts == T0 and row.ts.utcoffset() == timedelta(0)
    assert row.value == pytest.approx(0.4)
    assert row.cell and row.data["household"] == "hh-0001"


def test_starter_rule_opens_one_alert_and_counts_repeats(tmp_path, sqlite_url):
    ing = _ingest(tmp_path, sqlite_url)
    quiet = make_event("camera.crowd", "cam-001", data={"count": 10, "window_s": 60})
    crowd = [
        make_event(
            "camera.crowd", "cam-002", T0 + timedelta(minutes=i), {"count": 45 + i, "window_s": 60}
        )
        for i in range(13)
    ]  # large-group: over 40 at every count for 10 minutes
    ing.process([message(quiet), *map(message, crowd[:11])])
    ing.process([message(crowd[11]), message(crowd[12]), message(crowd[12])])  # a duplicate
    with ing.engine.connect() as c:
        rows = c.execute(select(alerts).where(alerts.c.rule == "large-group")).all()
    assert len(rows) == 1
    a = rows[0]
    assert (a.rule, a.source, a.state, a.count) == ("large-group", "cam-002", "active", 3)
    assert a.value == 57 and a.first_seen == T0 + timedelta(minutes=10)
    assert a.last_seen == T0 + timedelta(minutes=12)


def test_a_saved_rule_takes_effect_and_a_broken_save_keeps_the_old_one(tmp_path, sqlite_url):
    rules = tmp_path / "rules"
    rules.mkdir()
    text = (
        "id: busy\ntitle: Busy\nseverity: minor\npurpose: other\nkinds: [camera.crowd]\n"
        "when: data.count > {n}\n"
    )
    (rules / "busy.yaml").write_text(text.format(n=50))
    ing = _ingest(tmp_path, sqlite_url, rules_dir=rules)

    def crowd(minute, count):
        ev = make_event(
            "camera.crowd",
            "cam-9",
            T0 + timedelta(minutes=minute),
            {"count": count, "window_s": 60},
        )
        return message(ev)

    ing.process([crowd(0, 30)])
    assert _count(ing, alerts) == 0
    (rules / "busy.yaml").write_text(text.format(n=20) + "# saved\n")
    ing.process([crowd(1, 30)])
    assert _count(ing, alerts) == 1  # no restart
    (rules / "busy.yaml").write_text(text.format(n="__import__('os')") + "# broken\n")
    ing.process([crowd(2, 31)])  # the ingest goes on with the last good version
    with ing.engine.connect() as c:
        assert c.execute(select(alerts.c.count)).scalar_one() == 2
    (err,) = ing.rulebook.errors()
    assert err.line == 6 and "busy.yaml" in err.file


def test_a_rule_failing_on_every_event_does_not_stop_the_ingest(tmp_path, sqlite_url):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yaml").write_text(
        "id: bad\ntitle: Bad\nseverity: info\npurpose: other\nkinds: [camera.crowd]\n"
        'when: data.count / 0 > 1 || "a" * 1000000000 == "b"\n'
    )
    ing = _ingest(tmp_path, sqlite_url, rules_dir=rules)
    crowd = [
        message(make_event("camera.crowd", "cam-1", T0 + timedelta(minutes=i))) for i in range(20)
    ]
    ing.process(crowd)
    assert _count(ing, events) == 20 and _count(ing, alerts) == 0
    (st,) = ing.rules.status()
    assert st["errors"] == 20
    assert "division by zero" in st["last_error"] or "string * int" in st["last_error"]


@pytest.mark.parametrize("broker", ["amqtt", "mosquitto"])
def test_bad_input_goes_to_dead_letters_and_ingest_keeps_going(
    broker, tmp_path, sqlite_url, request
):
    port = request.getfixturevalue(f"{broker}_port")
    settings = make_settings(tmp_path, port=port, database_url=sqlite_url)
    ing = Ingest(settings)
    ing.start()
    try:
        wait_until(ing.ready.is_set, 30, "the ingest subscription")
        p = settings.mqtt_prefix
        good = make_event()
        wrong_type = make_event(data={"m3": "lots", "interval_min": 30, "household": "hh-1"})
        unknown = {**make_event(), "kind": "toaster.status"}
        big = make_event(data={"m3": 0.1, "interval_min": 30, "household": "h" * 20_000})
        sends = [
            (message(good, p)[0], b'{"schema": "aqkol.event/1", "id": '),
            message(wrong_type, p),
            (f"{p}aqkol/v1/toaster.status/gas-0001", orjson.dumps(unknown)),
            message(big, p),
            (f"{p}aqkol/v1/gas.reading/gas-9999", orjson.dumps(good)),  # topic lies
            (message(good, p)[0], b"\xff\xfe not utf-8"),
            message(good, p),
        ]
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{p}")
        pub.username_pw_set("test")
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        for topic, payload in sends:
            pub.publish(topic, payload, qos=1).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        wait_until(
            lambda: _count(ing, dead_letters) == 6 and _count(ing, events) == 1, 30, "dead letters"
        )
        with ing.engine.connect() as c:
            reasons = [
                r.reason for r in c.execute(select(dead_letters).order_by(dead_letters.c.id))
            ]
            sizes = [
                r.payload_size for r in c.execute(select(dead_letters).order_by(dead_letters.c.id))
            ]
        assert reasons[0].startswith("invalid JSON")
        assert reasons[1].startswith("invalid gas.reading: data.m3")
        assert reasons[2] == "unknown kind: 'toaster.status'"
        assert reasons[3].startswith("oversized:") and sizes[3] > 16 * 1024
        assert reasons[4].startswith("topic mismatch")
        assert reasons[5].startswith("invalid UTF-8")
        assert ing.stats.stored == 1
    finally:
        ing.stop()


def _broken_policy(tmp_path):
    """A policies folder whose 'strict' file is refused (a typo in an action)."""
    folder = tmp_path / "policies"
    folder.mkdir()
    good = (POLICIES / "gdpr-minimal.yaml").read_text().replace("id: gdpr-minimal", "id: strict")
    (folder / "strict.yaml").write_text(
        good.replace("action: pseudonymize", "action: pseudonimize")
    )
    return folder, good


def test_a_refused_policy_stores_nothing_and_says_why(tmp_path, sqlite_url):
    folder, good = _broken_policy(tmp_path)
    ing = _ingest(tmp_path, sqlite_url, policies_dir=folder, policy="strict", policy_pinned=True)
    batch = [message(make_event("gas.reading", "gas-0042")), ("aqkol/v1/gas.reading/x", b"no")]
    with pytest.raises(
        PolicyRefused, match=r"policy strict refused .*strict.yaml:19: transforms.2.action"
    ):
        ing.process(batch)
    assert _count(ing, events) == 0 and _count(ing, dead_letters) == 0  # not even a payload
    (folder / "strict.yaml").write_text(good)
    ing.process(batch)  # the same batch, once a valid policy loads: minimized
    with ing.engine.connect() as c:
        (row,) = c.execute(select(events)).all()
    assert row.data["household"] != "hh-0001" and _count(ing, dead_letters) == 1


def test_an_ingest_started_with_a_refused_policy_holds_the_stream(
    tmp_path, sqlite_url, mosquitto_port
):
    folder, good = _broken_policy(tmp_path)
    settings = make_settings(
        tmp_path,
        port=mosquitto_port,
        database_url=sqlite_url,
        policies_dir=folder,
        policy="strict",
        policy_pinned=True,
    )
    migrate(sqlite_url)
    ing = Ingest(settings)  # the writer process: the refusal crosses it intact
    ing.start()
    try:
        wait_until(ing.ready.is_set, 30, "the ingest subscription")
        p = settings.mqtt_prefix
        sent = [
            make_event("gas.reading", f"gas-{i:04d}", T0 + timedelta(minutes=i)) for i in range(5)
        ]
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{p}")
        pub.connect("127.0.0.1", mosquitto_port)
        pub.loop_start()
        for ev in sent:
            pub.publish(*message(ev, p), qos=1).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        wait_until(
            lambda: "transforms.2.action" in ing.stats.held, 30, "the ingest to say why it holds"
        )
        assert "messages stay unacknowledged" in ing.stats.held
        assert _count(ing, events) == 0 and ing.stats.stored == 0
        (folder / "strict.yaml").write_text(good)  # the teacher fixes the file
        wait_until(lambda: _count(ing, events) == 5, 30, "the held messages to be stored")
        with ing.engine.connect() as c:
            households = {r.data["household"] for r in c.execute(select(events))}
        assert not households & {e["data"]["household"] for e in sent}  # minimized
        assert ing.stats.held == ""
    finally:
        ing.stop()
