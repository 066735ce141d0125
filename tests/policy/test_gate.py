"""The policy is the gate between the broker and the disk: what it removes is never stored."""

from __future__ import annotations

import pickle
from datetime import timedelta

import h3
import orjson
import pytest
from sqlalchemy import func, select, text

from services.events import topic_for
from services.events.scenarios import load_scenario
from services.ingest import Ingest
from services.policy.active import POLICIES_DIR, PolicyBook, activate, active_policy, history
from services.rules.book import RuleBook
from services.rules.engine import RuleEngine
from services.rules.spec import parse_rule
from services.store.db import migrate
from services.store.models import dead_letters, events, pseudonym_escrow
from simulator.model import Town
from tests.conftest import make_settings
from tests.factories import T0, make_event, message

IDENTIFYING = ("household", "account", "name", "enrollment_id", "plate", "badge")


@pytest.fixture(scope="module")
def protest_messages():
    """Two hours of the protest (face matches of every list, payments, meters, buses)."""
    sc = load_scenario("protest")
    town = Town(seed=2, start=sc.start + timedelta(hours=5), scenario=sc)
    msgs, raw = [], set()
    for e in town.events(2):
        msgs.append((topic_for(e["kind"], e["source"]), orjson.dumps(e)))
        raw |= {str(e["data"][k]) for k in IDENTIFYING if e["data"].get(k) is not None}
        if e["kind"] == "gas.reading":
            raw.add(e["source"])  # a meter is its household's
    return msgs, raw


def _ingest(tmp_path, sqlite_url, **kw) -> Ingest:
    settings = make_settings(tmp_path, port=1, database_url=sqlite_url, mqtt_prefix="", **kw)
    migrate(sqlite_url)
    return Ingest(settings)


def _use(ing: Ingest, policy_id: str) -> None:
    with ing.engine.begin() as conn:
        activate(conn, PolicyBook(POLICIES_DIR), policy_id, by="test")
    ing._policy_checked = float("-inf")  # look again at the next batch, not in 0.5 s


def _leaks(ing: Ingest, raw: set[str]) -> list[str]:
    """Raw identifiers found in any table the command center reads (not the escrow vault):
    equal to a stored event's source or data value, or inside an alert or a dead letter."""
    exact: set[str] = set()
    blobs: list[str] = []
    with ing.engine.connect() as conn:
        for source, data in conn.execute(text("SELECT source, data FROM events")):
            exact.add(source)
            values = orjson.loads(data) if isinstance(data, str | bytes) else data
            exact |= {str(v) for v in values.values()}
        for row in conn.execute(text("SELECT * FROM alerts")):
            blobs.append(repr(tuple(row)))
        for row in conn.execute(text("SELECT topic, reason, payload FROM dead_letters")):
            blobs.append(f"{row.topic} {row.reason} {bytes(row.payload).decode(errors='replace')}")
    blob = "\n".join(blobs)
    return sorted(v for v in raw if v in exact or v in blob)


def _feed(ing, msgs):
    for i in range(0, len(msgs), 1000):
        ing.process(msgs[i : i + 1000])


@pytest.mark.parametrize("policy_id", ["gdpr-minimal", "edge-counts"])
def test_what_the_policy_removes_never_reaches_the_database(
    policy_id, protest_messages, tmp_path, sqlite_url
):
    msgs, raw = protest_messages
    ing = _ingest(tmp_path, sqlite_url)
    _use(ing, policy_id)
    bad = f'{{"kind": "gas.reading", "data": {{"household": "{sorted(raw)[0]}"}}'.encode()
    _feed(ing, [*msgs, ("aqkol/v1/gas.reading/gas-0001", bad)])
    assert ing.stats.stored > 10_000 and ing.stats.dead_letters == 1
    leaked = _leaks(ing, raw)
    assert leaked == [], f"{len(leaked)} raw identifiers stored, e.g. {leaked[:5]}"
    assert len(raw) > 1000  # the town did send them
    if policy_id == "gdpr-minimal":
        with ing.engine.connect() as conn:  # the key holder can still re-link, when justified
            n = conn.execute(select(func.count()).select_from(pseudonym_escrow)).scalar_one()
        assert n > 1000


@pytest.mark.parametrize("policy_id", ["gdpr-minimal", "edge-counts"])
def test_the_writer_stores_a_batch_as_the_mqtt_process_minimized_it(
    policy_id, protest_messages, tmp_path, sqlite_url
):
    """The MQTT process decodes and minimizes, the writer process stores: a writer that never
    looked the policy up itself stores what that policy kept, blinds the rules it blinds and
    withholds dead letters' payloads as it says."""
    msgs, raw = protest_messages
    mqtt_side = _ingest(tmp_path, sqlite_url)
    _use(mqtt_side, policy_id)
    writer = Ingest(mqtt_side.settings)  # as the writer process starts: no policy looked up
    bad = f'{{"kind": "gas.reading", "data": {{"household": "{sorted(raw)[0]}"}}'.encode()
    feed = [*msgs, ("aqkol/v1/gas.reading/gas-0001", bad)]
    for i in range(0, len(feed), 1000):
        prepared = mqtt_side.prepare(feed[i : i + 1000])
        writer.write(pickle.loads(pickle.dumps(prepared)))  # as it crosses between them
    assert writer.stats.stored > 1000 and writer.stats.dead_letters == 1
    assert _leaks(writer, raw) == []
    with writer.engine.connect() as conn:
        assert conn.execute(select(dead_letters.c.payload)).scalar_one() == b""
        escrowed = conn.execute(select(func.count()).select_from(pseudonym_escrow)).scalar_one()
    blinded = {s["id"] for s in writer.rules.status() if s["state"] == "blinded"}
    if policy_id == "gdpr-minimal":
        assert escrowed > 1000 and blinded == set()
    else:
        assert blinded == {"watchlist-wanted", "watchlist-missing", "watchlist-activist"}


def test_without_a_policy_the_same_scan_finds_them(protest_messages, tmp_path, sqlite_url):
    msgs, raw = protest_messages
    ing = _ingest(tmp_path, sqlite_url)
    _feed(ing, msgs[:5000])
    assert len(_leaks(ing, raw)) > 100  # so the scan above can fail


@pytest.mark.parametrize("db", ["sqlite_url", "postgres_url"])
def test_switching_the_policy_takes_effect_at_the_next_batch_and_is_remembered(
    db, tmp_path, request
):
    ing = _ingest(tmp_path, request.getfixturevalue(db))
    gas = [make_event("gas.reading", "gas-0042", T0 + timedelta(minutes=30 * i)) for i in range(4)]
    ing.process([message(gas[0])])
    _use(ing, "gdpr-minimal")
    ing.process([message(gas[1])])
    _use(ing, "none")
    ing.process([message(gas[2])])
    with ing.engine.connect() as conn:
        rows = conn.execute(select(events.c.source).order_by(events.c.ts)).scalars().all()
        assert active_policy(conn)[0] == "none"
        assert [h["policy"] for h in history(conn)] == ["none", "gdpr-minimal"]
        assert all(h["activated_by"] == "test" and h["sha256"] for h in history(conn))
    assert rows[0] == "gas-0042" and rows[1].startswith("ps-") and rows[2] == "gas-0042"
    with ing.engine.connect() as conn:  # the escrow holds each pseudonym once
        esc = conn.execute(select(pseudonym_escrow)).all()
    expected = {("gas-0042", "source"), ("hh-0001", "household"), ("acc-1", "account")}
    assert {(e.original, e.field) for e in esc} == expected
    ing.engine.dispose()


def test_a_refused_policy_file_leaves_the_active_one_in_force(tmp_path, sqlite_url):
    pol = tmp_path / "policies"
    pol.mkdir()
    good = (POLICIES_DIR / "gdpr-minimal.yaml").read_text()
    (pol / "gdpr-minimal.yaml").write_text(good)
    ing = _ingest(tmp_path, sqlite_url, policies_dir=pol, policy="gdpr-minimal")
    ing.process([message(make_event("gas.reading", "gas-0042"))])
    (pol / "gdpr-minimal.yaml").write_text(good.replace("action: pseudonymize", "action: blur"))
    ing._policy_checked = float("-inf")
    ing.process([message(make_event("gas.reading", "gas-0043", T0 + timedelta(minutes=30)))])
    with ing.engine.connect() as conn:
        sources = conn.execute(select(events.c.source)).scalars().all()
    assert all(s.startswith("ps-") for s in sources)
    (err,) = ing.policies.errors()
    assert err.line is not None and "action" in err.reason


def test_retention_deletes_what_is_older_than_the_policy_keeps(tmp_path, sqlite_url):
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "short.yaml").write_text(
        "id: short\ntitle: Short\nretention:\n  default_days: 1\n  kinds: {camera.crowd: 0.5}\n"
    )
    ing = _ingest(tmp_path, sqlite_url, policies_dir=pol, policy="short")
    day = timedelta(days=1)
    ing.process([message(make_event("gas.reading", "gas-1", T0)),
                 message(make_event("camera.crowd", "cam-1", T0))])  # fmt: skip
    ing.process([message(make_event("gas.reading", "gas-1", T0 + day / 2 + timedelta(hours=1)))])
    with ing.engine.connect() as conn:
        kinds = conn.execute(select(events.c.kind).order_by(events.c.ts)).scalars().all()
    assert kinds == ["gas.reading", "gas.reading"]  # the crowd count is past 12 hours
    # a day and a half on: from three meters at once, or the ingest takes it for a broken
    # clock (services/ingest/worker.py, MAX_AHEAD)
    ing.process([message(make_event("gas.reading", f"gas-{i}", T0 + 2 * day)) for i in (1, 2, 3)])
    with ing.engine.connect() as conn:
        ts = conn.execute(select(events.c.ts).order_by(events.c.ts)).scalars().all()
    assert ts == [T0 + 2 * day] * 3
    assert ing.stats.expired == 3


def _status(policy_id, *rules):
    from services.policy.apply import Minimizer

    m = Minimizer(PolicyBook(POLICIES_DIR).spec(policy_id), b"k")
    return {s["id"]: s for s in RuleEngine(list(rules), m).status()}


def test_starter_rules_under_each_policy():
    starter = RuleBook().rules
    gdpr = _status("gdpr-minimal", *starter)
    assert {i for i, s in gdpr.items() if s["state"] == "blinded"} == set()  # dedup on pseudonyms
    edge = _status("edge-counts", *starter)
    assert {i for i, s in edge.items() if s["state"] == "blinded"} == {
        "watchlist-wanted", "watchlist-missing", "watchlist-activist"
    }  # fmt: skip
    assert "keeps no camera.face_match events" in edge["watchlist-wanted"]["reason"]
    ai = _status("eu-ai-act", *starter)
    assert ai["watchlist-activist"]["state"] == "blinded"
    assert "'activist' list" in ai["watchlist-activist"]["reason"]
    assert ai["watchlist-wanted"]["state"] == ai["watchlist-missing"]["state"] == "active"


def test_a_rule_comparing_a_pseudonymized_field_is_blinded_not_fooled():
    r = parse_rule(
        "id: one-home\ntitle: One home\nseverity: info\npurpose: other\n"
        'kinds: [gas.reading]\nwhen: data.household == "hh-0042"\n',
        "x.yaml",
    )
    st = _status("gdpr-minimal", r)["one-home"]
    assert st["state"] == "blinded" and "pseudonym" in st["reason"]
    assert _status("none", r)["one-home"]["state"] == "active"


def test_a_comparison_lane_keeps_its_pinned_policy_whatever_is_switched(tmp_path, sqlite_url):
    ing = _ingest(tmp_path, sqlite_url, policy="gdpr-minimal", policy_pinned=True)
    _use(ing, "none")  # switching the deployment's policy does not move the lane
    ing.process([message(make_event("gas.reading", "gas-0042"))])
    with ing.engine.connect() as conn:
        assert conn.execute(select(events.c.source)).scalar_one().startswith("ps-")


@pytest.mark.parametrize("db", ["sqlite_url", "postgres_url"])
def test_edge_counts_stores_gas_summed_per_block_and_half_hour_once(db, tmp_path, request):
    ing = _ingest(tmp_path, request.getfixturevalue(db), policy="edge-counts")
    here, next_door, far = (52.0, 70.933), (52.0004, 70.9334), (51.985, 70.90)

    def gas(meter, minute, m3, geo, hh):
        data = {"m3": m3, "interval_min": 30, "household": hh, "pressure_kpa": 1.8}
        return message(make_event("gas.reading", meter, T0 + timedelta(minutes=minute), data,
                                  geo=geo))  # fmt: skip

    first = [gas("gas-0001", 0, 0.25, here, "hh-0001"), gas("gas-0002", 0.2, 0.5, next_door,
             "hh-0002")]  # fmt: skip
    ing.process(first)
    ing.process([gas("gas-0003", 0.4, 1.0, here, "hh-0003"), first[0]])  # + a redelivery
    ing.process([gas("gas-0004", 31, 2.0, here, "hh-0004"), gas("gas-0005", 1, 4.0, far,
                 "hh-0005")])  # fmt: skip
    with ing.engine.connect() as conn:
        rows = conn.execute(select(events).order_by(events.c.ts, events.c.value)).all()
    got = [(r.source, r.ts - T0, r.value, r.data["n"]) for r in rows]
    block = "blk-" + h3.latlng_to_cell(*here, 8)
    assert got[0] == (block, timedelta(0), 1.75, 3)  # three homes, one row, no duplicate
    assert got[-1] == (block, timedelta(minutes=30), 2.0, 1)
    assert len(rows) == 3 and all("household" not in r.data for r in rows)
    assert rows[0].data["pressure_kpa"] == pytest.approx(1.8)  # other measures: the mean
    assert ing.stats.duplicates == 1
    ing.engine.dispose()
