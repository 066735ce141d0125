"""The simulator's classroom commands over a real Mosquitto, through the API's own link: its
retained state for a late listener, jump (fast-forward), inject, refusals, pause."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import orjson
import pytest

from services.classroom.link import SimulatorLink
from simulator.publisher import run
from tests.conftest import make_settings
from tests.support import wait_until

pytestmark = pytest.mark.mosquitto


def test_commands_are_acknowledged_and_the_state_is_retained(tmp_path, mosquitto_port):
    settings = make_settings(tmp_path, port=mosquitto_port, database_url="sqlite://")
    result: dict = {}

    def go() -> None:  # 40 simulated minutes at 30x, unless jumped
        result["summary"] = run(
            settings, seed=5, hours=0.67, speed=30, population_scale=0.05, run_id="cls"
        )

    worker = threading.Thread(target=go, daemon=True)
    worker.start()
    link = SimulatorLink(settings)  # connects after the simulator: reads the retained state
    try:
        state = wait_until(lambda: link.current(1) or None, 30, "the retained state")
        assert state["run_id"] == "cls" and state["state"] == "running" and state["speed"] == 30
        wait_until(lambda: (link.current() or {}).get("sim_time"), 30, "a simulated time")
        now = datetime.fromisoformat(link.current()["sim_time"])
        target = now + timedelta(minutes=15)
        ack = link.send({"command": "jump", "to": target.isoformat()})
        assert ack is not None and ack["command"] == "jump"
        wait_until(
            lambda: datetime.fromisoformat(link.current()["sim_time"]) >= target,
            30, "the jump to arrive",
        )  # fmt: skip
        assert link.current()["state"] == "running" and link.current()["jump_to"] is None
        bad = link.send({"command": "jump", "to": "12:00"})  # the API adds the date, not it
        assert bad is not None and bad["state"] == "error" and "UTC offset" in bad["error"]
        unknown = link.send({"command": "inject", "scenario": "no-such-scenario"})
        assert unknown is not None and unknown["state"] == "error"
        ack = link.send({"command": "inject", "scenario": "gas-leak"})
        assert ack is not None and ack["scenario"] == "gas-leak"
        wait_until(lambda: link.current()["injected"] == ["gas-leak"], 60, "the injection")
        truth = tmp_path / "runs" / "cls" / "truth.jsonl"

        def injected() -> list[dict]:  # the truth file is flushed every second
            lines = truth.read_bytes().splitlines()
            return [orjson.loads(x) for x in lines if b'"injected"' in x]

        injected = wait_until(injected, 10, "the injected incident in the truth")
        assert [r["type"] for r in injected] == ["gas_leak"]
        assert injected[0]["start"] > now.isoformat()
        assert link.send({"command": "pause"})["state"] == "paused"
        late = SimulatorLink(settings)  # a dashboard opened now sees the pause, not a guess
        try:
            assert wait_until(lambda: late.current(1), 10, "state")["state"] == "paused"
        finally:
            late.close()
        link.send({"command": "speed", "value": "max"})
        link.send({"command": "resume"})
        worker.join(120)
        assert not worker.is_alive()
        wait_until(lambda: link.current()["state"] == "finished", 10, "finished")
    finally:
        link.close()
    assert result["summary"].published == result["summary"].acked > 0
