"""`aqkol up` starts its own broker with generated accounts and an ACL: a private Mosquitto
when the binary is installed, amqtt otherwise. Each path, end to end: events stored (the
simulator's account publishes, the ingest's reads), the teacher's pause acknowledged (the
API's account commands the simulator, the supervisor restarts the town on a reset),
anonymous and guessed logins refused, and no MQTT password on any command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psutil
import pytest

from tests.support import free_port, missing, mosquitto_binary, stop, wait_until


def _up(folder: Path, broker: str) -> tuple[subprocess.Popen, int, int]:
    mqtt_port, api = free_port(), free_port()
    env = {
        **os.environ,
        "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "AQKOL_API_PORT": str(api),
        "AQKOL_DASHBOARD_PORT": str(free_port()),
        "AQKOL_VAR_DIR": str(folder / "var"),
        "AQKOL_RUNS_DIR": str(folder / "runs"),
        "AQKOL_LAB_QUICK": "false",  # no background lab run here
    }
    env.pop("AQKOL_DATABASE_URL", None)
    cmd = [sys.executable, "-m", "services.cli", "up", "--embedded-broker", "--broker", broker,
           "--speed", "120", "--hours", "2"]  # fmt: skip
    with open(folder / "up.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, api, mqtt_port


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_up_runs_its_broker_with_accounts_and_an_acl(broker, tmp_path):
    if broker == "mosquitto" and mosquitto_binary() is None:
        missing("Mosquitto (apt-get install mosquitto)")
    proc, api_port, mqtt_port = _up(tmp_path, broker)
    api = f"http://127.0.0.1:{api_port}"
    log = tmp_path / "up.log"
    var = tmp_path / "var"
    headers: dict[str, str] = {}

    def stored() -> int:
        if proc.poll() is not None:
            raise AssertionError(log.read_text()[-3000:])
        try:
            if not headers:
                demo = json.loads((var / "demo-accounts.json").read_text())
                r = httpx.post(f"{api}/auth/token", data={"username": "teacher",
                               "password": demo["teacher"]["password"]})  # fmt: skip
                r.raise_for_status()
                headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            return httpx.get(f"{api}/stats", headers=headers, timeout=2).json()["events"]
        except (OSError, httpx.HTTPError, ValueError, KeyError):
            return 0

    try:
        wait_until(stored, 120, "the first events stored", interval=0.5)
        text = log.read_text()
        if broker == "mosquitto":
            assert "private Mosquitto" in text
        else:
            assert "embedded amqtt" in text

        # a student on the LAN with no account, or a guessed one, cannot steer the town
        for user, password in ((None, None), ("api", "guess"), ("teacher", "guess")):
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
            if user:
                c.username_pw_set(user, password)
            answer: dict[str, object] = {}
            c.on_connect = lambda _c, _u, _f, rc, _p, a=answer: a.setdefault("rc", rc)
            c.connect("127.0.0.1", mqtt_port)
            c.loop_start()
            wait_until(lambda a=answer: "rc" in a, 15, "a CONNACK")
            c.loop_stop()
            assert answer["rc"].is_failure, f"{user or 'anonymous'} was let in"

        # the teacher's control goes through the API's account and is acknowledged
        r = httpx.post(f"{api}/classroom/pause", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["ack"]["command"] == "pause"
        r = httpx.post(f"{api}/classroom/resume", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        # a reset: the supervisor hears it (as the simulator) and starts the town over
        r = httpx.post(f"{api}/classroom/reset", headers=headers, timeout=30)
        assert r.status_code == 200, r.text

        def run_id() -> str:
            try:
                r = httpx.get(f"{api}/classroom/status", headers=headers, timeout=5)
                return str(r.json().get("run_id"))
            except (httpx.HTTPError, ValueError):
                return ""

        wait_until(lambda: "reset1" in run_id(), 120, "the town started over", interval=0.5)

        # no MQTT password on a command line (`ps` shows them to every user of the machine)
        passwords = json.loads((var / "mqtt" / "accounts.json").read_text()).values()
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 5
        for child in children:
            line = " ".join(child.cmdline())
            assert not any(p in line for p in passwords), line
            if broker == "mosquitto" and "mosquitto" in line:
                assert line.split()[0].endswith("mosquitto")

        # the ingest dies: the town is down, and `up` says which part and exits non-zero
        ingest = next(
            c for c in psutil.Process(proc.pid).children() if c.cmdline()[3:4] == ["ingest"]
        )
        ingest.kill()
        wait_until(lambda: proc.poll() is not None, 120, "aqkol up to stop", interval=0.5)
        assert proc.returncode != 0
        assert "ingest exited with code -9; stopping" in " ".join(log.read_text().split())
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    finally:
        stop(proc)


def test_up_asked_for_mosquitto_where_there_is_none_says_how_to_install_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import services.broker
    from services.cli import app

    monkeypatch.setattr(services.broker, "mosquitto_binary", lambda: None)
    env = {
        "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",
        "AQKOL_API_PORT": str(free_port()),
        "AQKOL_DASHBOARD_PORT": str(free_port()),
        "AQKOL_VAR_DIR": str(tmp_path / "var"),
    }
    result = CliRunner().invoke(app, ["up", "--embedded-broker", "--broker", "mosquitto"], env=env)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    for how in ("apt install mosquitto", "brew install mosquitto", "winget install"):
        assert how in text, text
    assert not (tmp_path / "var" / "mqtt").exists()  # nothing started, nothing written
