"""The demo broker, tried as a student on the classroom's network would: without an account,
with a guessed password, and with a service's account on topics that are not its own.

Both brokers the demo may start (embedded amqtt, a private Mosquitto) read the same generated
password file and ACL, and each test runs against both. On the old demo broker (amqtt with
any user name, no password, no ACL) every one of these exploits worked.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from services.broker import PrivateMosquitto
from services.mqtt_accounts import (
    DEPLOY_ROLES,
    Acl,
    BrokerAccounts,
    acl_text,
    make_broker_accounts,
    verify_password,
)
from tests.support import free_port, missing, mosquitto_binary, stop, wait_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
EVENT = "aqkol/v1/env.reading/env-0001"
ALERT = "aqkol/v1/alerts/large-group"
CONTROL = "aqkol/control/simulator"
STATE = "aqkol/control/simulator/state"


class Broker:
    def __init__(self, kind: str, port: int, accounts: BrokerAccounts):
        self.kind, self.port, self.accounts = kind, port, accounts


@pytest.fixture(params=["amqtt", "mosquitto"])
def broker(request, tmp_path) -> Iterator[Broker]:
    accounts = make_broker_accounts(tmp_path / "var")
    port = free_port()
    if request.param == "amqtt":
        cmd = [sys.executable, "-m", "services.cli", "broker", "--port", str(port),
               "--password-file", str(accounts.password_file),
               "--acl-file", str(accounts.acl_file)]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        binary = mosquitto_binary()
        if binary is None:
            missing("Mosquitto (apt-get install mosquitto)")
        proc = PrivateMosquitto(
            accounts.folder, "127.0.0.1", port, accounts.password_file, accounts.acl_file, binary
        ).start()
    try:
        wait_port(port, proc)
        yield Broker(request.param, port, accounts)
    finally:
        stop(proc)


class Client:
    """A paho client (3.1.1, as the demo's services and amqtt speak) that records what it gets."""

    def __init__(self, broker: Broker, user: str | None, password: str | None = None):
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"try-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        if user is not None:
            self.c.username_pw_set(user, password)
        self.lock = threading.Lock()
        self.connack: object = None
        self.granted: list[list[object]] = []
        self.got: list[tuple[str, bytes]] = []
        self.c.on_connect = lambda _c, _u, _f, rc, _p: setattr(self, "connack", rc)
        self.c.on_subscribe = lambda _c, _u, _m, codes, _p: self.granted.append(list(codes))
        self.c.on_message = lambda _c, _u, msg: self._got(msg)
        self.c.connect("127.0.0.1", broker.port, keepalive=30)
        self.c.loop_start()
        wait_until(lambda: self.connack is not None, 15, f"a CONNACK for {user}")

    @classmethod
    def of(cls, broker: Broker, role: str) -> Client:
        client = cls(broker, role, broker.accounts.passwords[role])
        assert not client.connack.is_failure, f"{role} could not log in: {client.connack}"
        return client

    def _got(self, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.got.append((msg.topic, msg.payload))

    def subscribe(self, topic: str) -> bool:
        """Subscribe; True if the broker granted it."""
        n = len(self.granted)
        self.c.subscribe(topic, qos=1)
        wait_until(lambda: len(self.granted) > n, 15, f"a SUBACK for {topic}")
        return not self.granted[n][0].is_failure

    def publish(self, topic: str, payload: bytes) -> None:
        # a refused QoS 1 publish is acknowledged and dropped (3.1.1 has no refusal code)
        self.c.publish(topic, payload, qos=1).wait_for_publish(10)

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [p for _t, p in self.got]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _refused(client: Client) -> bool:
    client.close()
    return client.connack.is_failure


def test_an_anonymous_client_is_refused(broker):
    assert _refused(Client(broker, None))
    # the old demo broker let in any user name without a password
    assert _refused(Client(broker, "student"))
    assert _refused(Client(broker, "ingest"))


def test_a_wrong_password_is_refused(broker):
    assert _refused(Client(broker, "api", "a-guess-from-the-back-row"))
    assert _refused(Client(broker, "simulator", broker.accounts.passwords["ingest"]))
    ok = Client.of(broker, "ingest")
    ok.close()


def _delivered(broker: Broker, listener: str, topic: str, allowed: str, refused: list[str]):
    """Each ``refused`` account publishes to ``topic`` first, then ``allowed`` does; returns
    what the ``listener`` account received once the allowed message is there."""
    sub = Client.of(broker, listener)
    try:
        assert sub.subscribe(topic)
        for role in refused:
            c = Client.of(broker, role)
            c.publish(topic, f"forged by {role}".encode())
            c.close()
        c = Client.of(broker, allowed)
        c.publish(topic, f"from {allowed}".encode())
        c.close()
        wait_until(lambda: f"from {allowed}".encode() in sub.payloads(), 15, "the real message")
        return sub.payloads()
    finally:
        sub.close()


def test_only_the_api_commands_the_simulator(broker):
    got = _delivered(broker, "simulator", CONTROL, "api", ["ingest", "simulator"])
    assert got == [b"from api"]


def test_only_the_simulator_publishes_events(broker):
    got = _delivered(broker, "ingest", EVENT, "simulator", ["api", "ingest"])
    assert got == [b"from simulator"]


def test_only_the_ingest_announces_alerts(broker):
    got = _delivered(broker, "ingest", ALERT, "ingest", ["simulator", "api"])
    assert got == [b"from ingest"]


def test_only_the_simulator_reports_its_state(broker):
    got = _delivered(broker, "api", STATE, "simulator", ["ingest", "api"])
    assert got == [b"from simulator"]


def test_an_account_reads_only_its_own_topics(broker):
    """The simulator's account asks for everything: it gets its control topic, not the
    stream (amqtt refuses such a subscription, Mosquitto grants it and delivers nothing
    outside the ACL). (The API's account reads the stream, for the wire view.)"""
    sim = Client.of(broker, "simulator")
    try:
        for topic in ("#", "aqkol/v1/#", "aqkol/+/simulator/#"):
            sim.subscribe(topic)
        assert sim.subscribe(CONTROL)
        other = Client.of(broker, "simulator")
        other.publish(EVENT, b"an event")
        other.close()
        api = Client.of(broker, "api")
        api.publish(CONTROL, b"a command")
        api.close()
        wait_until(lambda: b"a command" in sim.payloads(), 15, "the command")
        assert b"an event" not in sim.payloads()
    finally:
        sim.close()


def test_the_accounts_are_private_files_and_hold_no_password_in_clear(tmp_path):
    accounts = make_broker_accounts(tmp_path / "var", prefix="class7/")
    assert stat.S_IMODE(accounts.folder.stat().st_mode) == 0o700
    for name in ("accounts.json", "passwd", "acl"):
        assert stat.S_IMODE((accounts.folder / name).stat().st_mode) == 0o600, name
    stored = json.loads((accounts.folder / "accounts.json").read_text())
    assert stored == accounts.passwords and set(stored) == {"simulator", "ingest", "api"}
    hashes = (accounts.folder / "passwd").read_text()
    for name, password in stored.items():
        assert password not in hashes and len(password) >= 24
        line = next(x for x in hashes.splitlines() if x.startswith(f"{name}:"))
        assert verify_password(password, line.split(":", 1)[1])
        assert not verify_password(password + "x", line.split(":", 1)[1])
    acl = Acl.load(accounts.acl_file)  # the prefix is in the ACL
    assert acl.may_publish("simulator", "class7/" + EVENT)
    assert not acl.may_publish("simulator", EVENT)
    again = make_broker_accounts(tmp_path / "var")
    assert set(again.passwords.values()).isdisjoint(stored.values())  # new every start


def test_the_deployment_acl_is_the_generated_one():
    deployed = (ROOT / "deploy" / "mosquitto" / "acl").read_text()
    assert deployed == acl_text(DEPLOY_ROLES), (
        "deploy/mosquitto/acl differs from services/mqtt_accounts.py:ROLES; regenerate it: "
        "python -c 'from services.mqtt_accounts import acl_text; print(acl_text(), end=\"\")'"
        " > deploy/mosquitto/acl"
    )
