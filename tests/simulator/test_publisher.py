"""Publishing a town to a real Mosquitto: every event arrives once, the run folder is kept."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

from services.events import decode, subscription
from simulator.publisher import run
from tests.conftest import make_settings
from tests.support import wait_until

pytestmark = pytest.mark.mosquitto


class Collector:
    def __init__(self, port: int, prefix: str):
        self.ids: list[str] = []
        self.bad: list[str] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.prefix = prefix
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_connect = lambda c, *a: c.subscribe(subscription(prefix), qos=1)
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, client, userdata, msg) -> None:
        try:
            event = decode(msg.payload, msg.topic, self.prefix)
        except Exception as exc:
            with self.lock:
                self.bad.append(str(exc))
            return
        with self.lock:
            self.ids.append(event.id)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("processes", [0, 2], ids=["connections", "publishing-processes"])
def test_run_publishes_every_event_once_and_writes_the_run_folder(
    tmp_path: Path, mosquitto_port: int, processes: int
) -> None:
    settings = make_settings(tmp_path, port=mosquitto_port, database_url="sqlite://")
    sub = Collector(mosquitto_port, settings.mqtt_prefix)
    try:
        summary = run(
            settings, seed=3, hours=0.1, speed=None, population_scale=0.1, processes=processes
        )
        wait_until(lambda: len(sub.ids) >= summary.published, 30, "every event at the subscriber")
    finally:
        sub.stop()
    assert summary.published == summary.acked > 500
    run_dir = settings.runs_dir / "seed3-20260115T0630"
    published = (run_dir / "published.ids").read_text().split()
    assert sorted(sub.ids) == sorted(published)
    assert len(set(published)) == len(published) and not sub.bad
    info = orjson.loads((run_dir / "run.json").read_bytes())
    assert info["seed"] == 3 and sum(info["generated_by_kind"].values()) == summary.published
    truth = (run_dir / "truth.jsonl").read_bytes().splitlines()
    assert len(truth) == info["truth_records"] > 0
    assert {orjson.loads(t)["id"] for t in truth} <= set(published)


@pytest.mark.parametrize("processes", [0, 2], ids=["connections", "publishing-processes"])
def test_paced_run_follows_simulated_time(
    tmp_path: Path, mosquitto_port: int, processes: int
) -> None:
    settings = make_settings(tmp_path, port=mosquitto_port, database_url="sqlite://")
    # 90 simulated seconds at 60x: about 1.5 s of wall time
    summary = run(settings, seed=4, hours=0.025, speed=60, population_scale=0.05,
                  run_id="paced", processes=processes)  # fmt: skip
    assert summary.published == summary.acked > 0
    assert 1.3 < summary.seconds < 15  # with the connections (and processes) starting


def test_scenario_run_records_incidents_and_households_in_the_run_folder(
    tmp_path: Path, mosquitto_port: int
) -> None:
    from datetime import datetime

    from services.events.scenarios import load_scenario
    from simulator.clock import AQKOL_TZ

    settings = make_settings(tmp_path, port=mosquitto_port, database_url="sqlite://")
    summary = run(
        settings,
        seed=3,
        hours=0.05,
        speed=None,
        start=datetime(2026, 1, 15, 12, 30, tzinfo=AQKOL_TZ),
        population_scale=0.1,
        scenario=load_scenario("protest"),
    )
    assert summary.published == summary.acked > 0
    run_dir = settings.runs_dir / "protest-seed3-20260115T1230"
    info = orjson.loads((run_dir / "run.json").read_bytes())
    assert info["scenario"]["name"] == "protest" and info["params"]["scenario"] == "protest"
    first = orjson.loads((run_dir / "truth.jsonl").read_bytes().splitlines()[0])
    assert first["kind"] == "incident" and first["type"] == "protest"
    assert first["start"] == "2026-01-15T12:00:00+06:00" and first["activists_attending"]
    households = [orjson.loads(x) for x in (run_dir / "households.jsonl").read_bytes().split()]
    assert len(households) == info["params"]["households"]
    assert sum(info["households_by_insulation"].values()) == len(households)
    assert {"insulation_class", "fuel", "k_kwh_per_degree_day"} <= set(households[0])


@pytest.mark.parametrize("processes", [0, 2], ids=["connections", "publishing-processes"])
def test_pause_and_resume_over_mqtt_lose_nothing(
    tmp_path: Path, mosquitto_port: int, processes: int
) -> None:
    from simulator.publisher import control_status_topic, control_topic

    settings = make_settings(tmp_path, port=mosquitto_port, database_url="sqlite://")
    prefix = settings.mqtt_prefix
    sub = Collector(mosquitto_port, prefix)
    statuses: list[dict] = []
    ctl_ready = threading.Event()
    ctl = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ctl-{uuid.uuid4().hex[:8]}")
    ctl.on_connect = lambda c, *a: c.subscribe(control_status_topic(prefix), qos=1)
    ctl.on_subscribe = lambda *a: ctl_ready.set()
    ctl.on_message = lambda c, u, msg: statuses.append(orjson.loads(msg.payload))
    ctl.connect("127.0.0.1", mosquitto_port)
    ctl.loop_start()
    assert ctl_ready.wait(10)
    result: dict = {}

    def go() -> None:  # 6 simulated minutes at 40x: about 9 s unpaused
        result["summary"] = run(
            settings, seed=5, hours=0.1, speed=40, population_scale=0.05, run_id="ctl",
            processes=processes,
        )  # fmt: skip

    worker = threading.Thread(target=go, daemon=True)
    try:
        worker.start()
        wait_until(lambda: any(s["state"] == "running" for s in statuses), 30, "simulator up")
        wait_until(lambda: len(sub.ids) > 50, 30, "events flowing")

        def cmd(body: dict) -> None:
            ctl.publish(control_topic(prefix), orjson.dumps(body), qos=1).wait_for_publish(5)

        cmd({"command": "pause"})
        wait_until(lambda: any(s.get("command") == "pause" for s in statuses), 10, "pause ack")
        ack = next(s for s in statuses if s.get("command") == "pause")
        assert ack["state"] == "paused"
        at_pause = ack["published"]
        wait_until(lambda: len(sub.ids) >= at_pause, 10, "in-flight events delivered")
        # paused: the flow stays stopped (2 s here is 80 simulated seconds of events)
        stopped = threading.Event()
        assert not stopped.wait(2.0)
        assert len(sub.ids) == at_pause and worker.is_alive()
        cmd({"command": "speed", "value": "max"})
        wait_until(lambda: any(s.get("command") == "speed" for s in statuses), 10, "speed ack")
        assert len(sub.ids) == at_pause  # a new speed does not lift the pause
        cmd({"command": "resume"})
        wait_until(lambda: not worker.is_alive(), 60, "the run to finish after resume")
        summary = result["summary"]
        wait_until(lambda: len(sub.ids) >= summary.published, 30, "every event")
    finally:
        sub.stop()
        ctl.loop_stop()
        ctl.disconnect()
    resumed = next(s for s in statuses if s.get("command") == "resume")
    assert resumed["state"] == "running" and resumed["published"] == at_pause
    assert statuses[-1]["state"] == "finished"
    published = (settings.runs_dir / "ctl" / "published.ids").read_text().split()
    assert summary.published == summary.acked == len(published) > at_pause
    assert sorted(sub.ids) == sorted(published)  # nothing lost, nothing twice


def test_publishing_processes_that_cannot_connect_say_so(tmp_path: Path) -> None:
    from tests.support import free_port

    settings = make_settings(tmp_path, port=free_port(), database_url="sqlite://")
    with pytest.raises(ConnectionError, match=r"refused|CONNACK|connect"):
        run(settings, seed=3, hours=0.01, speed=None, population_scale=0.05, processes=2,
            run_id="nobroker")  # fmt: skip
