"""Hostile input over a real broker: each bad payload becomes a dead letter with its reason and
is counted per reason (the ingest's stats and the API's /stats); the valid events around
them are stored, and the ingest keeps going."""

from __future__ import annotations

from datetime import timedelta

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.api.main import create_app
from services.events.codec import TS_MIN, reason_code
from services.ingest import Ingest
from services.store.models import dead_letters, events
from tests.accounts import add_accounts, bearer, token_for
from tests.conftest import make_settings
from tests.factories import T0, make_event, message
from tests.support import stored_ids, wait_until


def _with(ev: dict, **fields) -> dict:
    return {**ev, **fields}


def _hostile(p: str, base: dict) -> list[tuple[str, tuple[str, bytes]]]:
    """(the reason expected, (topic, payload)) for each hostile input; ``base`` is valid."""
    topic = message(base, p)[0]
    nan = orjson.dumps(base).replace(b'"m3":0.4', b'"m3":NaN')
    inf = orjson.dumps(base).replace(b'"m3":0.4', b'"m3":Infinity')
    huge = orjson.dumps(base).replace(b'"m3":0.4', b'"m3":1e400')
    big = make_event(data={"m3": 0.1, "interval_min": 30, "household": "h" * 20_000})
    lat = _with(make_event(source="gas-0101"), geo={"lat": 91.5, "lon": 70.9})
    lon = _with(make_event(source="gas-0102"), geo={"lat": 52.0, "lon": -181.0})
    epoch = make_event(source="gas-0103", ts=T0.replace(year=1970))
    y2999 = make_event(source="gas-0104", ts=T0.replace(year=2999))
    ahead = make_event(source="gas-0105", ts=T0 + timedelta(days=30))
    unknown = _with(make_event(), kind="toaster.status")
    reused = make_event(source="gas-0106", ts=T0 + timedelta(minutes=5))
    return [
        ("oversized", message(big, p)),
        ("invalid UTF-8", (topic, b'{"schema": "aqkol.event/1", "id": "\xff\xfe"}')),
        ("invalid JSON", (topic, b'{"schema": "aqkol.event/1", "id": ')),
        ("not a finite number", (topic, nan)),
        ("not a finite number", (topic, inf)),
        ("not a finite number", (topic, huge)),
        ("coordinates out of range", message(lat, p)),
        ("coordinates out of range", message(lon, p)),
        ("timestamp out of range", message(epoch, p)),
        ("timestamp out of range", message(y2999, p)),
        ("timestamp ahead of the clock", message(ahead, p)),
        ("unknown kind", (f"{p}aqkol/v1/toaster.status/gas-0001", orjson.dumps(unknown))),
        ("topic mismatch", (f"{p}aqkol/v1/gas.reading/gas-9999", orjson.dumps(base))),
        ("invalid field", message(make_event(data={"m3": "lots", "interval_min": 30}), p)),
        # the id of the first valid event again, with other content: that one stays stored
        ("duplicate id", message(_with(reused, id=base["id"]), p)),
    ]


def test_each_hostile_input_is_a_counted_dead_letter_and_the_valid_ones_are_stored(
    tmp_path, mosquitto_port, sqlite_url
):
    settings = make_settings(tmp_path, port=mosquitto_port, database_url=sqlite_url)
    p = settings.mqtt_prefix
    ing = Ingest(settings)
    ing.start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{p}")
    try:
        wait_until(ing.ready.is_set, 30, "the ingest subscription")
        first = make_event(source="gas-0100", ts=T0)
        hostile = _hostile(p, first)
        valid = [
            make_event(source=f"gas-{i:04d}", ts=T0 + timedelta(minutes=i)) for i in range(1, 17)
        ]
        sends = [message(first, p)]
        for (_reason, m), ev in zip(hostile, valid[:-1], strict=True):
            sends += [m, message(ev, p)]  # a valid event after each bad one
        sends.append(message(first, p))  # a plain redelivery: not a dead letter
        sends.append(message(valid[-1], p))
        pub.username_pw_set("test")
        pub.connect("127.0.0.1", mosquitto_port)
        pub.loop_start()
        # the clock is the newest stored event: let the first one be stored before the rest
        pub.publish(*sends[0], qos=1).wait_for_publish(10)
        wait_until(lambda: ing.stats.stored == 1, 30, "the first event")
        for topic, payload in sends[1:]:
            pub.publish(topic, payload, qos=1).wait_for_publish(10)
        wanted = [first["id"]] + [e["id"] for e in valid]
        wait_until(
            lambda: (ing.stats.stored, ing.stats.dead_letters) == (len(wanted), len(hostile)),
            30,
            "every valid event stored and every bad one dead-lettered",
            interval=0.2,
        )
        assert sorted(stored_ids(sqlite_url)) == sorted(wanted)
        with ing.engine.connect() as c:
            rows = c.execute(select(dead_letters).order_by(dead_letters.c.id)).all()
            kept = c.execute(select(events.c.source).where(events.c.id == first["id"])).scalar()
        by_code: dict[str, list[str]] = {}
        for r in rows:
            by_code.setdefault(reason_code(r.reason), []).append(r.reason)
        # in one batch the decoder's refusals come first, then the clock's and the ids'
        assert sorted(by_code) == sorted({reason for reason, _m in hostile})
        assert kept == "gas-0100"  # the id's first content stays; the other copy is refused
        (dup,) = by_code["duplicate id"]
        assert first["id"] in dup and "other content" in dup
        assert {r.split(":")[1].split()[0] for r in by_code["not a finite number"]} >= {
            "NaN",
            "Infinity",
        }
        assert any("geo.lat=91.5" in r for r in by_code["coordinates out of range"])
        assert any("geo.lon=-181.0" in r for r in by_code["coordinates out of range"])
        assert all(str(TS_MIN.date()) in r for r in by_code["timestamp out of range"])
        assert "more than 24 h after" in by_code["timestamp ahead of the clock"][0]
        assert by_code["invalid field"][0].startswith("invalid gas.reading: data.m3")
        assert ing.stats.duplicates == 1  # the plain redelivery
        expected: dict[str, int] = {}
        for reason, _m in hostile:
            expected[reason] = expected.get(reason, 0) + 1
        assert ing.stats.reasons == expected

        # the same counts through the API, for the dashboard and for people
        app = create_app(settings)
        add_accounts(app.state.engine, ("analyst",))
        client = TestClient(app)
        stats = client.get("/stats", headers=bearer(token_for(client, "analyst"))).json()
        assert stats["dead_letters_by_reason"] == expected
        assert stats["dead_letters"] == len(hostile) and stats["events"] == len(wanted)
    finally:
        pub.disconnect()
        pub.loop_stop()
        ing.stop()


def test_a_later_run_into_a_kept_store_moves_the_clock(tmp_path, sqlite_url):
    """Many sources far ahead at once is the stream moving on, not one broken device."""
    from services.store.db import migrate

    migrate(sqlite_url)
    settings = make_settings(tmp_path, port=1, database_url=sqlite_url, mqtt_prefix="")
    ing = Ingest(settings)
    ing.process([message(make_event(source="gas-0001", ts=T0))])
    later = T0 + timedelta(days=40)
    ing.process([message(make_event(source="gas-0002", ts=later))])  # one device: refused
    assert ing.stats.reasons == {"timestamp ahead of the clock": 1}
    run = [message(make_event(source=f"gas-{i:04d}", ts=later)) for i in range(3, 6)]
    ing.process(run)  # three sources of one batch: a later run, stored
    assert ing.stats.stored == 4
    ing.process([message(make_event(source="gas-0002", ts=later + timedelta(minutes=1)))])
    assert ing.stats.stored == 5  # and the clock followed


@pytest.mark.parametrize("db", ["sqlite_url", "postgres_url"])
def test_an_id_reused_for_other_content_is_a_dead_letter_on_both_databases(db, tmp_path, request):
    from services.store.db import migrate

    url = request.getfixturevalue(db)
    migrate(url)
    ing = Ingest(make_settings(tmp_path, port=1, database_url=url, mqtt_prefix=""))
    ev = make_event(source="gas-0001", ts=T0)
    other = {**make_event(source="gas-0002", ts=T0), "id": ev["id"]}
    ing.process([message(ev), message(other)])  # within one batch
    ing.process([message(ev), message(other)])  # and against the stored copy
    assert ing.stats.stored == 1 and ing.stats.duplicates == 1  # the plain redelivery
    assert ing.stats.reasons == {"duplicate id": 2}
    with ing.engine.connect() as c:
        assert c.execute(select(events.c.source)).scalars().all() == ["gas-0001"]
    ing.engine.dispose()
