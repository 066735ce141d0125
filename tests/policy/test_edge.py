"""Minimization at the source: what a policy does ``at: edge`` never reaches the broker.

The egress scan (``test_egress.py``) shows what leaves the command center's doors; these
tests run the same scan on a raw subscription to the broker during a protest run: under
``edge-counts`` an eavesdropper receives no plate, badge or face match of any camera, while
what the policy minimizes only at the ingest (gas meters) is still on the wire (so the scan
can fail). A policy switch through the API reaches the devices over the control topic, and
the wire view shows the sample with each field's privacy category, withheld per audience.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

from services.api.main import create_app
from services.events import subscription, topic_for
from services.events.scenarios import load_scenario
from services.policy.active import POLICIES_DIR, PolicyBook
from services.policy.edge import EdgeMinimizer
from services.policy.spec import PolicyError, parse_policy
from services.store.db import migrate
from simulator.model import Town
from simulator.publisher import control_status_topic, run
from tests.accounts import add_accounts, clients_by_role
from tests.conftest import make_settings
from tests.policy.test_egress import IDENTIFYING, _phrases
from tests.support import wait_until

PROTEST_FROM_H = 5.4  # 11:54, the protest starts at 12:00: face matches of "activists"
HOURS = 0.5
SCALE = 0.3


def edge_counts() -> EdgeMinimizer:
    return EdgeMinimizer(PolicyBook(POLICIES_DIR).spec("edge-counts"))


class Wire:
    """A raw subscription to every event topic: what an eavesdropper receives, in order."""

    def __init__(self, port: int, topics: list[str]):
        self.payloads: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"eve-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.payloads.append((msg.topic, msg.payload))

    def events(self) -> list[dict]:
        with self.lock:
            got = list(self.payloads)
        return [orjson.loads(p) for t, p in got if "/control/" not in t]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _truth(kinds: frozenset[str] | None = None) -> tuple[set[str], set[str]]:
    """The raw identifiers the town's devices see over the run (same seed, same events):
    those of ``kinds`` (cameras), and the gas meters' households."""
    sc = load_scenario("protest")
    town = Town(seed=2, start=sc.start + timedelta(hours=PROTEST_FROM_H), scenario=sc,
                population_scale=SCALE)  # fmt: skip
    camera, gas = set(), set()
    for e in town.events(HOURS):
        if kinds is None or e["kind"] in kinds:
            camera |= {str(e["data"][k]) for k in IDENTIFYING if e["data"].get(k) is not None}
        if e["kind"] == "gas.reading":
            gas.add(str(e["data"]["household"]))
    return camera, gas


@pytest.mark.mosquitto
def test_under_edge_counts_no_camera_identity_reaches_the_broker(
    tmp_path: Path, mosquitto_port: int
) -> None:
    settings = make_settings(tmp_path, port=mosquitto_port, database_url="sqlite://")
    wire = Wire(mosquitto_port, [subscription(settings.mqtt_prefix)])
    edge = edge_counts()
    try:
        sc = load_scenario("protest")
        summary = run(settings, seed=2, hours=HOURS, speed=None, run_id="edge",
                      start=sc.start + timedelta(hours=PROTEST_FROM_H), scenario=sc,
                      population_scale=SCALE, edge=edge)  # fmt: skip
        wait_until(lambda: len(wire.payloads) >= summary.published, 60, "every event")
    finally:
        wire.stop()
    camera, gas = _truth(edge.kinds)
    assert {"camera.face_match", "vehicle.position", "access.entry"} <= edge.kinds
    assert len(camera) > 15  # plates, names and enrolments the cameras saw (distinct)
    body = b"\n".join(p for _t, p in wire.payloads).decode()
    on_wire = _phrases(body)
    assert not on_wire & camera, sorted(on_wire & camera)[:5]
    # the gas meters are aggregated at the ingest only: their households are on the wire
    assert len(on_wire & gas) > 50
    kinds = {e["kind"] for e in wire.events()}
    assert "camera.face_match" not in kinds and "vehicle.position" in kinds
    assert summary.withheld_at_edge > 0
    # what was not sent is not in published.ids: the ingest is not told to expect it
    published = (settings.runs_dir / "edge" / "published.ids").read_text().split()
    assert len(published) == summary.published == len(wire.payloads)


@pytest.mark.mosquitto
def test_a_policy_switch_reaches_the_devices_over_the_control_topic(
    tmp_path: Path, mosquitto_port: int, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, port=mosquitto_port, database_url=sqlite_url)
    prefix = settings.mqtt_prefix
    migrate(sqlite_url)
    app = create_app(settings)
    add_accounts(app.state.engine)
    teacher = clients_by_role(app)["teacher"]
    status_topic = control_status_topic(prefix)
    wire = Wire(mosquitto_port, [subscription(prefix), (status_topic)])
    result: dict = {}
    sc = load_scenario("protest")

    def go() -> None:  # paced: the switch lands in the middle of the run, on one connection
        result["summary"] = run(settings, seed=2, hours=HOURS, speed=300, run_id="switch",
                                start=sc.start + timedelta(hours=PROTEST_FROM_H), scenario=sc,
                                population_scale=SCALE, clients=1,
                                edge_factory=EdgeMinimizer.from_transforms)  # fmt: skip

    worker = threading.Thread(target=go, daemon=True)
    try:
        worker.start()
        plated = lambda: [e for e in wire.events() if e["data"].get("plate")]  # noqa: E731
        wait_until(lambda: len(plated()) > 20, 60, "plates on the wire before the switch")
        r = teacher.put("/policy/active", json={"policy": "edge-counts"})
        assert r.status_code == 200, r.text

        def ack() -> dict | None:
            with wire.lock:
                acks = [orjson.loads(p) for t, p in wire.payloads if t == status_topic]
            return next((a for a in acks if a.get("command") == "policy"), None)

        wait_until(lambda: ack() is not None, 30, "the simulator's acknowledgement")
        wait_until(lambda: not worker.is_alive(), 120, "the run to finish")
        summary = result["summary"]
        wait_until(lambda: len(wire.events()) >= summary.published, 60, "every event")
    finally:
        wire.stop()
        app.state.classroom_link.close()
    got = ack()
    assert got["policy"] == "edge-counts" and got["edge"] == 2
    events = wire.events()  # one connection: in the order published
    before, after = events[: got["published"]], events[got["published"] :]
    assert any(e["data"].get("plate") for e in before)
    vehicles_after = [e for e in after if e["kind"] == "vehicle.position"]
    assert vehicles_after and not any(e["data"].get("plate") for e in vehicles_after)
    assert not any(e["kind"] == "camera.face_match" for e in after)
    # the same seed under the same policy sends the same events: those after the switch are
    # the town's own, minus what the edge drops, each as the edge part leaves it
    edge = edge_counts()
    camera, _gas = _truth(edge.kinds)
    assert not _phrases(orjson.dumps(after).decode()) & camera


@pytest.mark.parametrize(
    ("transform", "reason"),
    [
        ("{select: {categories: [identifier]}, action: pseudonymize, at: edge}", "key never"),
        (
            "{select: {kinds: [gas.reading]}, action: aggregate, h3_res: 8, minutes: 30, at: edge}",
            "only the ingest",
        ),
        ("{select: {fields: [data.enrollment_id]}, action: drop, at: edge}", "requires it"),
    ],
)
def test_a_transform_that_cannot_run_at_the_edge_is_refused_with_file_and_line(
    transform: str, reason: str
) -> None:
    text = f"""\
id: edgy
title: Too much at the edge
transforms:
  - select: {{fields: [data.plate]}}
    action: drop
    at: edge
  - {transform}
"""
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "policies/edgy.yaml")
    assert exc.value.file == "policies/edgy.yaml" and exc.value.line == 7, str(exc.value)
    assert reason in str(exc.value)
    # the first transform alone is fine: plates may be left out by a device
    assert parse_policy(text.rsplit("  - ", 1)[0], "policies/edgy.yaml").transforms[0].at == "edge"


@pytest.mark.mosquitto
def test_the_wire_view_shows_the_sample_with_categories_per_audience(
    tmp_path: Path, mosquitto_port: int, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, port=mosquitto_port, database_url=sqlite_url)
    prefix = settings.mqtt_prefix
    migrate(sqlite_url)
    app = create_app(settings)
    add_accounts(app.state.engine)
    clients = clients_by_role(app)
    sc = load_scenario("protest")
    town = Town(seed=2, start=sc.start + timedelta(hours=PROTEST_FROM_H), scenario=sc,
                population_scale=SCALE)  # fmt: skip
    sent: list[dict] = []
    per_kind = {"camera.face_match": 2, "vehicle.position": 10, "camera.crowd": 10}
    for e in town.events(HOURS):
        if sum(x["kind"] == e["kind"] for x in sent) < per_kind.get(e["kind"], 0):
            sent.append(e)
        if len(sent) == sum(per_kind.values()):
            break
    r = clients["analyst"].get("/wire/sample")  # starts the tap
    assert r.status_code == 200 and r.json()["policy"] == "none"
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:6]}")
    pub.connect("127.0.0.1", mosquitto_port)
    pub.loop_start()
    try:
        wait_until(lambda: app.state.wire_tap.subscribed, 15, "the tap subscribed")
        for e in sent:
            pub.publish(topic_for(e["kind"], e["source"], prefix), orjson.dumps(e), qos=1)
        wait_until(lambda: app.state.wire_tap.seen >= len(sent), 30, "the tap's sample")
        analyst = clients["analyst"].get("/wire/sample", params={"n": 200}).json()
        # gdpr-minimal acts at the ingest only: the wire still carries plates and names
        r = clients["teacher"].put("/policy/active", json={"policy": "gdpr-minimal"})
        assert r.status_code == 200, r.text
        student = clients["student"].get("/wire/sample", params={"n": 200}).json()
        operator = clients["analyst"].get("/wire/sample", params={"n": 200}).json()
    finally:
        if hasattr(app.state, "classroom_link"):
            app.state.classroom_link.close()
        pub.loop_stop()
        pub.disconnect()
        app.state.wire_tap.close()
    assert len(analyst["items"]) == len(sent)
    face = next(m for m in analyst["items"] if m["kind"] == "camera.face_match")
    cats = {f["name"]: f["category"] for f in face["fields"]}
    assert cats["data.name"] == "identifier" and cats["data.watchlist"] == "sensitive"
    assert cats["geo"] == "quasi" and cats["data.likelihood"] == "telemetry"
    names = {str(e["data"]["name"]) for e in sent if e["data"].get("name")}
    values = {str(f["value"]) for m in analyst["items"] for f in m["fields"]}
    assert names and names <= values  # operators see the wire as it is (policy `none`)
    # the public: every field and its category, no personal value, no personal source
    body = orjson.dumps(student).decode()
    plates = {e["data"]["plate"] for e in sent if e["data"].get("plate")}
    assert plates and not any(p in body for p in plates | names)
    sface = next(m for m in student["items"] if m["kind"] == "camera.face_match")
    shown = {f["name"]: f for f in sface["fields"]}
    assert shown["data.name"]["withheld"] and shown["data.name"]["category"] == "identifier"
    assert shown["geo"]["withheld"] and not shown["data.likelihood"]["withheld"]
    assert student["policy"] == "gdpr-minimal" and student["edge"] == []
    # operators under gdpr-minimal: at most what it stores (no name, pseudonymized plates)
    body = orjson.dumps(operator).decode()
    assert not any(p in body for p in plates | names)
    oface = next(m for m in operator["items"] if m["kind"] == "camera.face_match")
    assert {f["name"]: f["withheld"] for f in oface["fields"]}["data.likelihood"] is False
    crowd = next(m for m in student["items"] if m["kind"] == "camera.crowd")
    assert not any(f["withheld"] for f in crowd["fields"] if f["name"].startswith("data."))
    # each read is audited like other reads of personal data
    audit = clients["auditor"].get("/audit", params={"limit": 1000}).json()
    assert any("/wire/sample" in str(a) for a in audit["items"])


def test_the_wire_page_colours_each_field_by_its_category() -> None:
    from dashboard.wire_views import message_view

    view = message_view({"topic": "aqkol/v1/vehicle.position/bus-05", "fields": [
        {"name": "data.plate", "value": "(withheld)", "category": "identifier", "withheld": True},
        {"name": "data.speed_mps", "value": 5.5, "category": "telemetry", "withheld": False},
    ]})  # fmt: skip
    spans = view.children[1:]
    assert [s.className for s in spans] == [
        "wire-field wire-identifier",
        "wire-field wire-telemetry",
    ]
    assert spans[0].children == "data.plate=…" and spans[1].children == "data.speed_mps=5.5"


def test_the_same_seed_under_the_same_policy_sends_the_same_valid_events() -> None:
    """The edge step is deterministic and leaves every event within the contract (a device
    that sent what the ingest refuses would lose it to the dead letters)."""
    from services.events import decode

    def sent() -> list[bytes]:
        sc = load_scenario("protest")
        town = Town(seed=2, start=sc.start + timedelta(hours=PROTEST_FROM_H), scenario=sc,
                    population_scale=SCALE)  # fmt: skip
        edge = edge_counts()
        out = (edge.apply(e) for e in town.events(0.2))
        return [orjson.dumps(e) for e in out if e is not None]

    first = sent()
    assert first == sent()
    for payload in first:
        ev = decode(payload)
        assert getattr(ev.data, "plate", None) is None and ev.kind != "camera.face_match"
