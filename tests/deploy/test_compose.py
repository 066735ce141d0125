"""docker-compose.yml, proved without a Docker engine: validated, then each service's own
command run here with its compose environment, against the deployment's own Mosquitto
configuration (accounts from the environment, topic ACLs) and a fresh PostgreSQL."""

from __future__ import annotations

import getpass
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from dashboard.settings import DashboardSettings
from services.auth.tokens import secret
from services.config import InsecureSettings, Settings
from services.events.keys import WEAK_SECRETS
from services.store.db import make_engine
from services.store.models import rule_status
from tests.deploy.compose import (
    DOCKERFILE,
    ENV_EXAMPLE,
    ROOT,
    Compose,
    InterpolationError,
    Local,
    image_env,
    load,
    read_env_file,
)
from tests.support import free_port, missing, mosquitto_binary, stored_ids, wait_until

MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
ENTRYPOINT = ROOT / "deploy" / "mosquitto" / "entrypoint.sh"


def _strong_env() -> dict[str, str]:
    """.env.example with every placeholder replaced, as the operator is told to."""
    env = read_env_file(ENV_EXAMPLE)
    return {k: secrets.token_urlsafe(24) if "change-me" in v else v for k, v in env.items()}


def _ingests(compose: Compose) -> list[str]:
    return [n for n, s in compose.services.items() if "ingest" in (s.command or [])]


def test_the_compose_file_is_valid_and_deploys_what_the_issue_asks():
    compose = load(_strong_env())
    services = compose.services
    assert {"mosquitto", "postgres", "migrate", "api", "dashboard", "simulator"} <= set(services)
    assert services["migrate"].command == ["alembic", "upgrade", "head"]
    assert any(t == "/var/lib/postgresql/data" for _s, t in services["postgres"].mounts())

    workers = _ingests(compose)
    assert len(workers) >= 2
    ids = set()
    for name in workers:
        svc = services[name]
        assert svc.command[:4] == ["aqkol", "ingest", "--share", "ingest"]
        env = svc.env()
        assert env["AQKOL_MQTT_PROTOCOL"] == "5"  # shared subscriptions are MQTT 5
        ids.add(env["AQKOL_INGEST_CLIENT_ID"])  # a fixed id: the session outlives restarts
        assert svc.depends_on["mosquitto"].condition == "service_healthy"
        assert svc.depends_on["migrate"].condition == "service_completed_successfully"
    assert len(ids) == len(workers), "two workers with one client id would evict each other"
    for name in workers:  # the simulator waits for every worker's subscription
        assert services["simulator"].depends_on[name].condition == "service_healthy"
    assert "--factory" in services["api"].command and services["api"].command[0] == "uvicorn"
    assert services["dashboard"].command[0] == "gunicorn"
    assert services["dashboard"].command[-1] == "dashboard.app:server"
    for web in ("api", "dashboard"):
        assert int(services[web].env()["WEB_CONCURRENCY"]) >= 2
    for name, svc in services.items():
        if name not in ("migrate", "simulator"):
            assert svc.healthcheck is not None, f"{name} has no healthcheck"
        if svc.build:
            assert svc.env()["AQKOL_ENV"] == "production", name

    conf = MOSQUITTO_CONF.read_text()
    assert re.search(r"(?m)^allow_anonymous false$", conf)
    assert int(re.search(r"(?m)^max_queued_messages (\d+)$", conf)[1]) >= 100_000
    docker = DOCKERFILE.read_text()
    assert len(re.findall(r"(?m)^FROM ", docker)) >= 2, "multi-stage"
    user = re.findall(r"(?m)^USER (\S+)", docker)
    assert user and user[-1] not in ("root", "0")


def _mount(svc, volume: str) -> str | None:
    return next((spec.split(":", 1)[1] for spec in svc.volumes if spec.split(":")[0] == volume),
                None)  # fmt: skip


def test_each_service_has_its_own_account_and_shares_what_it_reads():
    """The findings of issue 16 on the compose file, each checked here."""
    env = _strong_env()
    compose = load(env)
    services = compose.services
    image = image_env()

    def setting(name: str, key: str) -> str | None:
        return {**image, **services[name].env()}.get(key)

    # the API gets its own MQTT account (the classroom controls), and waits for the broker
    api_url = setting("api", "AQKOL_MQTT_URL")
    assert api_url and api_url.startswith(f"mqtt://api:{env['MQTT_API_PASSWORD']}@mosquitto:")
    assert services["api"].depends_on["mosquitto"].condition == "service_healthy"
    users = {n: (setting(n, "AQKOL_MQTT_URL") or "").split("://")[-1].split(":")[0]
             for n in services if services[n].build}  # fmt: skip
    assert users["simulator"] == "simulator" and users["api"] == "api"
    assert all(users[w] == "ingest" for w in _ingests(compose))
    # the rules the API saves are the rules every ingest reads
    rules_dir = setting("api", "AQKOL_RULES_DIR")
    assert rules_dir and _mount(services["api"], "rules") == rules_dir
    for name in _ingests(compose):
        assert setting(name, "AQKOL_RULES_DIR") == rules_dir
        assert _mount(services[name], "rules") == f"{rules_dir}:ro"
    # the teacher's ground truth: what the simulator writes is where the API reads it
    runs = setting("api", "AQKOL_RUNS_DIR")
    assert _mount(services["simulator"], "simulator-runs") == setting("simulator", "AQKOL_RUNS_DIR")
    assert _mount(services["api"], "simulator-runs") == f"{runs}:ro"
    # plain MQTT only on this machine by default; the TLS listener's port is published
    ports = services["mosquitto"].ports
    assert "127.0.0.1:1883:1883" in ports and "8883:8883" in ports
    # no password on a command line (`ps` shows them to everyone on the machine)
    for name, svc in services.items():
        lines = [*(svc.command or []), *(svc.entrypoint or [])]
        if svc.healthcheck:
            lines += svc.healthcheck.test
        for line in lines:
            assert " -P " not in line and "PASSWORD" not in line, (name, line)
    script = ENTRYPOINT.read_text()
    assert "mosquitto_passwd -b" not in script and "mosquitto_passwd" in script


def test_every_placeholder_secret_is_refused_at_start(tmp_path, monkeypatch):
    """Each account's placeholder from .env.example, left in: every service that holds it
    (the broker's entrypoint, each Aqkol service) refuses to start."""
    example = read_env_file(ENV_EXAMPLE)
    placeholders = {k: v for k, v in example.items() if "change-me" in v}
    assert {"MQTT_SIMULATOR_PASSWORD", "MQTT_INGEST_PASSWORD", "MQTT_API_PASSWORD",
            "MQTT_OPERATOR_PASSWORD", "POSTGRES_PASSWORD", "AQKOL_SECRET_KEY",
            "AQKOL_PSEUDONYM_KEY"} <= set(placeholders)  # fmt: skip
    if shutil.which("mosquitto_passwd") is None:
        missing("mosquitto_passwd (apt-get install mosquitto)")
    # entrypoint.sh refuses the same words as the services
    words = re.search(r'weak_words="([^"]*)"', ENTRYPOINT.read_text())[1].split()
    assert sorted(words) == sorted(WEAK_SECRETS)
    image = image_env()
    for key, placeholder in placeholders.items():
        env = {**_strong_env(), key: placeholder}
        compose = load(env)
        holders = [n for n, svc in compose.services.items()
                   if any(placeholder in str(v) for v in svc.env().values())]  # fmt: skip
        refused_by = []
        for name in holders:
            svc = compose.services[name]
            if name == "mosquitto":
                rc, err = _entrypoint(tmp_path / key, compose, env)
                assert rc != 0 and key in err, (key, rc, err)
                refused_by.append(name)
            elif svc.build:
                with monkeypatch.context() as m:
                    for k in list(os.environ):
                        if k.startswith("AQKOL_"):
                            m.delenv(k)
                    for k, v in {**image, **svc.env()}.items():
                        m.setenv(k, v)
                    # the dashboard reads its own settings (the same variables)
                    own = DashboardSettings if name == "dashboard" else Settings
                    with pytest.raises((ValidationError, InsecureSettings)):
                        own(_env_file=None)
                refused_by.append(name)
        assert refused_by, f"nothing refuses the placeholder {key}"
    rc, err = _entrypoint(tmp_path / "strong", load(_strong_env()), _strong_env())
    assert rc == 0, err  # and good secrets pass


def _entrypoint(scratch: Path, compose: Compose, env: dict[str, str]) -> tuple[int, str]:
    """Run the broker's entrypoint.sh here up to the broker (replaced by `true`)."""
    local = Local(scratch, {"mosquitto": ("127.0.0.1", {1883: 1883})}, "postgresql://x/y")
    res = subprocess.run(
        ["/bin/sh", str(ENTRYPOINT)],
        env=local.env(compose, "mosquitto", {"MOSQUITTO_BIN": "true"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return res.returncode, res.stderr


def test_the_compose_file_refuses_to_start_without_the_secrets():
    env = _strong_env()
    del env["MQTT_INGEST_PASSWORD"]
    with pytest.raises(InterpolationError, match="MQTT_INGEST_PASSWORD"):
        load(env)


def test_no_placeholder_secret_is_accepted_outside_the_demo(tmp_path):
    example = read_env_file(ENV_EXAMPLE)
    base = {"_env_file": None, "var_dir": tmp_path}
    for field, key in (
        ("secret_key", "AQKOL_SECRET_KEY"),
        ("pseudonym_key", "AQKOL_PSEUDONYM_KEY"),
    ):
        placeholder = example[key]
        with pytest.raises(ValidationError, match=key):
            Settings(**base, env="production", **{field: placeholder})
        Settings(**base, **{field: placeholder})  # the demo takes anything
        Settings(**base, env="production", **{field: secrets.token_urlsafe(24)})
    for key in ("MQTT_INGEST_PASSWORD", "POSTGRES_PASSWORD"):
        pw = example[key]
        with pytest.raises(ValidationError, match="password"):
            Settings(
                **base,
                env="production",
                mqtt_url=f"mqtt://ingest:{pw}@mosquitto:1883",
                database_url=f"postgresql://aqkol:{pw}@postgres/aqkol",
            )
    production = Settings(**base, env="production")
    with pytest.raises(InsecureSettings, match="AQKOL_SECRET_KEY"):
        secret(production)  # the demo would generate one in var/
    with pytest.raises(InsecureSettings, match="AQKOL_DATABASE_URL"):
        _ = production.effective_database_url  # no SQLite fallback in production
    assert not (tmp_path / "secret.key").exists()


# -- the deployment run here ----------------------------------------------------------------


class Deployment:
    """The compose file's services started here, one by one."""

    def __init__(self, scratch: Path, env: dict[str, str], db_url: str):
        self.env = env
        self.compose = load(env)
        self.ports = {"mosquitto": free_port(), "mosquitto-tls": free_port(), "api": free_port(),
                      "dashboard": free_port()}  # fmt: skip
        hosts = {
            "mosquitto": (
                "127.0.0.1",
                {1883: self.ports["mosquitto"], 8883: self.ports["mosquitto-tls"]},
            ),
            "api": ("127.0.0.1", {8000: self.ports["api"]}),
            "dashboard": ("127.0.0.1", {8050: self.ports["dashboard"]}),
        }
        self.local = Local(scratch, hosts, db_url)
        self.scratch = scratch
        self.procs: dict[str, object] = {}
        # Docker fills a new named volume with what the image holds at its mount point
        copied = re.findall(r"(?m)^COPY (?:--chown=\S+ )?(\w+) \1$", DOCKERFILE.read_text())
        for svc in self.compose.services.values():
            for source, target in svc.mounts():
                folder = target.removeprefix("/app/")
                dest = scratch / "volumes" / source
                if svc.build and folder in copied and not dest.exists():
                    shutil.copytree(ROOT / folder, dest)

    def start(self, service: str, **kw: object):
        proc = self.local.start(self.compose, service, **kw)
        self.procs[service] = proc
        return proc

    def wait_healthy(self, service: str, timeout: float = 90) -> None:
        proc = self.procs[service]

        def ok() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"{service} exited ({proc.returncode}):\n{self.local.log(service)}"
                )
            return self.local.healthy(self.compose, service)

        wait_until(ok, timeout, f"{service} to be healthy", interval=0.5)

    def run_to_end(self, service: str, timeout: float = 120) -> None:
        proc = self.start(service)
        try:
            rc = proc.wait(timeout)
        except Exception:
            raise AssertionError(f"{service} did not finish:\n{self.local.log(service)}") from None
        assert rc == 0, f"{service} exited {rc}:\n{self.local.log(service)}"

    def start_mosquitto(self, extra_env: dict[str, str] | None = None) -> None:
        """The deployment's entrypoint.sh, mosquitto.conf and acl, remapped to here."""
        binary = mosquitto_binary()
        if binary is None:
            missing("Mosquitto (apt-get install mosquitto)")
        if shutil.which("mosquitto_sub") is None:  # the broker's healthcheck runs it
            missing("mosquitto_sub (apt-get install mosquitto-clients)")
        if shutil.which("mosquitto_passwd") is None:  # entrypoint.sh builds the accounts
            missing("mosquitto_passwd (apt-get install mosquitto)")
        local, compose = self.local, self.compose
        conf = MOSQUITTO_CONF.read_text()
        conf = re.sub(r"(?m)^listener 1883$", f"listener {self.ports['mosquitto']} 127.0.0.1", conf)
        # as root Mosquitto would switch to the user 'mosquitto', which may not write here
        conf = re.sub(r"(?m)^user mosquitto$", f"user {getpass.getuser()}", conf)
        conf = re.sub(r"/mosquitto/\S+", lambda m: local.path(compose, "mosquitto", m[0]), conf)
        for d in re.findall(r"(?m)^(?:persistence_location|password_file) (\S+)", conf):
            Path(d if d.endswith("/") else os.path.dirname(d)).mkdir(parents=True, exist_ok=True)
        path = self.scratch / "mosquitto.conf"
        path.write_text(conf)
        extra = {"MOSQUITTO_CONF": str(path), "MOSQUITTO_BIN": binary, **(extra_env or {})}
        self.start("mosquitto", extra_env=extra)
        self.wait_healthy("mosquitto", 30)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except Exception:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture
def deployment(tmp_path, postgres_url) -> Iterator[Deployment]:
    env = _strong_env()
    env.update(AQKOL_SIM_SPEED="max", AQKOL_SIM_HOURS="0.08", AQKOL_SIM_SEED="31")
    d = Deployment(tmp_path, env, postgres_url)
    try:
        d.start_mosquitto()
        yield d
    finally:
        d.stop_all()


def _client(d: Deployment, user: str | None, password: str | None) -> tuple[mqtt.Client, object]:
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"acl-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    if user is not None:
        c.username_pw_set(user, password)
    result = {}
    c.on_connect = lambda _c, _u, _f, rc, _p: result.setdefault("connect", rc)
    c.on_publish = lambda _c, _u, mid, rc, _p: result.setdefault(mid, rc)
    c.connect("127.0.0.1", d.ports["mosquitto"])
    c.loop_start()
    wait_until(lambda: "connect" in result, 10, f"CONNACK for {user}")
    return c, result


def _publish_refused(d: Deployment, user: str, topic: str) -> bool:
    """True if the broker answers ``user``'s QoS 1 publish to ``topic`` with Not authorized."""
    c, result = _client(d, user, d.env[f"MQTT_{user.upper()}_PASSWORD"])
    try:
        assert not result["connect"].is_failure, f"{user} could not log in: {result['connect']}"
        mid = c.publish(topic, b"{}", qos=1).mid
        wait_until(lambda: mid in result, 10, f"PUBACK for {user} on {topic}")
        return result[mid] == "Not authorized"
    finally:
        c.disconnect()
        c.loop_stop()


def test_the_deployment_broker_refuses_what_a_role_may_not_do(deployment):
    d = deployment
    for user, password in ((None, None), ("simulator", "wrong-password-for-sure")):
        c, result = _client(d, user, password)
        c.loop_stop()
        assert result["connect"].is_failure, f"{user or 'anonymous'} was let in"
    assert _publish_refused(d, "simulator", "aqkol/v1/alerts/large-group")
    assert _publish_refused(d, "ingest", "aqkol/v1/env.reading/env-0001")
    assert _publish_refused(d, "operator", "aqkol/v1/env.reading/env-0001")
    assert _publish_refused(d, "operator", "aqkol/v1/alerts/large-group")
    assert not _publish_refused(d, "simulator", "aqkol/v1/env.reading/env-0001")
    assert not _publish_refused(d, "ingest", "aqkol/v1/alerts/large-group")
    # only the API commands the simulator; the simulator reports its state
    assert not _publish_refused(d, "api", "aqkol/control/simulator")
    assert _publish_refused(d, "api", "aqkol/v1/env.reading/env-0001")
    assert _publish_refused(d, "ingest", "aqkol/control/simulator")
    assert _publish_refused(d, "simulator", "aqkol/control/simulator")
    assert not _publish_refused(d, "simulator", "aqkol/control/simulator/state")
    assert _publish_refused(d, "api", "aqkol/control/simulator/state")
    # no certificate in .env: no TLS listener
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", d.ports["mosquitto-tls"]), timeout=2).close()


def test_the_optional_tls_listener_takes_the_same_accounts(tmp_path, postgres_url):
    """With a certificate named in .env, the broker also listens with TLS on 8883."""
    if shutil.which("openssl") is None:
        missing("openssl (apt-get install openssl)")
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(certs / "server.key"), "-out", str(certs / "server.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    d = Deployment(tmp_path / "d", _strong_env(), postgres_url)
    try:
        d.start_mosquitto({"MQTT_TLS_CERTFILE": str(certs / "server.crt"),
                           "MQTT_TLS_KEYFILE": str(certs / "server.key")})  # fmt: skip

        def login(user: str, password: str) -> object:
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            c.tls_set(ca_certs=str(certs / "server.crt"), cert_reqs=ssl.CERT_REQUIRED)
            c.username_pw_set(user, password)
            result: dict[str, object] = {}
            c.on_connect = lambda _c, _u, _f, rc, _p: result.setdefault("rc", rc)
            c.connect("127.0.0.1", d.ports["mosquitto-tls"])
            c.loop_start()
            try:
                wait_until(lambda: "rc" in result, 15, f"a CONNACK over TLS for {user}")
            finally:
                c.disconnect()
                c.loop_stop()
            return result["rc"]

        assert not login("simulator", d.env["MQTT_SIMULATOR_PASSWORD"]).is_failure
        assert login("simulator", "a-wrong-password-long-enough").is_failure
    finally:
        d.stop_all()


def test_the_compose_services_run_here_and_store_every_event_once(deployment, postgres_url):
    d = deployment
    d.run_to_end("migrate")
    workers = _ingests(d.compose)
    for name in workers:
        d.start(name)
    d.start("api")
    for name in workers:
        d.wait_healthy(name)
    d.start("dashboard")
    d.run_to_end("simulator", timeout=180)
    runs = list((d.scratch / "volumes" / "simulator-runs").glob("*/published.ids"))
    assert len(runs) == 1, runs
    published = runs[0].read_text().split()
    assert len(published) > 1000
    wait_until(lambda: len(stored_ids(postgres_url)) >= len(published), 120, "every event stored")
    stored = stored_ids(postgres_url)
    assert sorted(stored) == sorted(published)  # none lost, none twice
    d.wait_healthy("api")
    d.wait_healthy("dashboard")
    with make_engine(postgres_url).connect() as conn:
        evaluated = dict(
            conn.execute(
                select(rule_status.c.worker, func.sum(rule_status.c.evaluations)).group_by(
                    rule_status.c.worker
                )
            ).all()
        )
    clients = {d.compose.services[n].env()["AQKOL_INGEST_CLIENT_ID"] for n in workers}
    assert set(evaluated) == clients and all(evaluated.values()), evaluated  # both had a share
