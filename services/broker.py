"""The demo's brokers: embedded amqtt, or a private Mosquitto when it is installed.

Both read the same two files that ``aqkol up`` generates (:mod:`services.mqtt_accounts`):
Mosquitto's password file and ACL. Mosquitto reads them itself; amqtt reads them through the
two plugins below, so an anonymous client, a wrong password and a topic outside an account's
ACL are refused by either broker.

amqtt keeps persistent sessions only for clients that give a user name, so every client of
the project sends one. It speaks MQTT 3.1.1 only and gives up on an unacknowledged QoS 1
delivery after 5 seconds: fine for a laptop demo, and why a classroom that installs
Mosquitto gets it instead.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from services.mqtt_accounts import Acl, password_line, read_password_file, verify_password

log = logging.getLogger(__name__)

INSTALL_MOSQUITTO = (
    "Install Mosquitto for a sturdier classroom broker (persistent sessions, redelivery, "
    "faster jumps): Debian/Ubuntu `sudo apt install mosquitto`, macOS `brew install "
    "mosquitto`, Windows `winget install EclipseFoundation.Mosquitto` (or the installer "
    "from https://mosquitto.org/download/)."
)


class PasswordFileAuth(BaseAuthPlugin):
    """Lets in only a user name of Mosquitto's password file with its password."""

    @dataclass
    class Config:
        password_file: str = ""

    def __init__(self, context) -> None:
        super().__init__(context)
        self.users = read_password_file(Path(self.config.password_file))
        # an unknown name costs as much as a known one: the time tells no account names
        self.dummy = password_line("-", secrets.token_urlsafe(24)).split(":", 1)[1]

    async def authenticate(self, *, session: Session) -> bool | None:
        stored = self.users.get(session.username or "")
        ok = verify_password(session.password or "", stored or self.dummy) and stored is not None
        if not ok:
            log.warning("refused MQTT login for %r", session.username or "(anonymous)")
        return ok


class AclFileCheck(BaseTopicPlugin):
    """Checks every subscribe, publish and delivery against a Mosquitto ACL file."""

    @dataclass
    class Config:
        acl_file: str = ""

    def __init__(self, context) -> None:
        super().__init__(context)
        self.acl = Acl.load(Path(self.config.acl_file))

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action=None
    ) -> bool:
        user = session.username if session else None
        if not topic:
            return False
        if action == Action.SUBSCRIBE:
            ok = self.acl.may_subscribe(user, topic)
        elif action == Action.PUBLISH:
            ok = self.acl.may_publish(user, topic)
        else:
            ok = self.acl.may_receive(user, topic)
        if not ok and action != Action.RECEIVE:
            log.warning("refused %s of %r to %r", action.value, topic, user)
        return ok


def broker_config(
    host: str, port: int, password_file: Path | None = None, acl_file: Path | None = None
) -> dict:
    """amqtt configuration: one TCP listener; accounts and ACL when given, else open."""
    plugins: dict[str, dict] = {}
    if password_file is None:  # `aqkol broker --open`: a user name, no password, no ACL
        plugins["amqtt.plugins.authentication.AnonymousAuthPlugin"] = {"allow_anonymous": False}
    else:
        plugins["services.broker.PasswordFileAuth"] = {"password_file": str(password_file)}
    if acl_file is not None:
        plugins["services.broker.AclFileCheck"] = {"acl_file": str(acl_file)}
    return {"listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}}, "plugins": plugins}


async def serve(
    host: str = "127.0.0.1",
    port: int = 1883,
    password_file: Path | None = None,
    acl_file: Path | None = None,
) -> None:
    """Run the broker until cancelled."""
    broker = Broker(broker_config(host, port, password_file, acl_file))
    await broker.start()
    log.info(
        "embedded MQTT broker on %s:%d (%s)",
        host,
        port,
        "accounts and topic ACL" if password_file else "OPEN: any user name, no password",
    )
    try:
        await asyncio.Event().wait()
    finally:
        await broker.shutdown()


def run(
    host: str = "127.0.0.1",
    port: int = 1883,
    password_file: Path | None = None,
    acl_file: Path | None = None,
) -> None:
    """Run the embedded broker in the foreground."""
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    asyncio.run(serve(host, port, password_file, acl_file))


# -- a private Mosquitto ---------------------------------------------------------------------


def mosquitto_binary() -> str | None:
    """The Mosquitto broker installed here (Debian puts it in /usr/sbin, often not on PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    places = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")
    for path in (f"{d}/mosquitto" for d in places):
        if Path(path).exists():
            return path
    return None


@dataclass
class PrivateMosquitto:
    """A Mosquitto configured for the demo: the generated accounts and ACL, one listener."""

    folder: Path
    host: str
    port: int
    password_file: Path
    acl_file: Path
    binary: str = field(default_factory=lambda: mosquitto_binary() or "mosquitto")

    def config(self) -> str:
        """mosquitto.conf: no anonymous clients, the ACL, a deep queue (see deploy/mosquitto)."""
        return (
            "# Written by `aqkol up` (services/broker.py): the demo's private Mosquitto.\n"
            "per_listener_settings false\n"
            f"listener {self.port} {self.host}\n"
            "allow_anonymous false\n"
            f"password_file {self.password_file.resolve()}\n"
            f"acl_file {self.acl_file.resolve()}\n"
            # sessions live in memory: a demo started again without --keep starts afresh
            "persistence false\n"
            # the default of 1000 queued messages per client DROPS QoS 1 beyond it
            "max_queued_messages 1000000\n"
            "max_queued_bytes 0\n"
            "max_inflight_messages 0\n"
            "max_packet_size 131072\n"
            # as root, Mosquitto would switch to the user 'mosquitto', who may not read var/
            f"user {getpass.getuser()}\n"
            f"log_dest file {(self.folder / 'mosquitto.log').resolve()}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            "connection_messages true\n"
        )

    def command(self) -> list[str]:
        """The command line (a path to the configuration: no secret on it)."""
        conf = self.folder / "mosquitto.conf"
        conf.write_text(self.config())
        conf.chmod(0o600)
        return [self.binary, "-c", str(conf)]

    def start(self) -> subprocess.Popen:
        """Start it (stdout and stderr to its log in the folder)."""
        from services.children import dies_with_parent

        return subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=dies_with_parent(),  # not left running when `aqkol up` is killed
        )
