"""Broker accounts and topic ACLs: one table, written as Mosquitto's files, read by both brokers.

Each service has its own MQTT account, and each account may touch only its own topics:

- ``simulator`` (the town's devices) publishes events, never alerts; it follows its control
  topic and reports on ``.../status`` and the retained ``.../state``;
- ``ingest`` reads the event stream and announces the alerts it opens;
- ``api`` alone publishes commands to the simulator and reads its answers, and reads the
  stream (the wire view);
- ``operator`` (deployments only: a person or a monitoring probe) reads the stream, the
  alerts and ``$SYS``, and may steer the simulator.

``aqkol up`` makes fresh passwords for the demo accounts on every start, like the demo's
login accounts, and writes three files into ``var/mqtt/`` (0700), each 0600:
``accounts.json`` (name -> password, what the services are given through
``AQKOL_MQTT_URL``), ``passwd`` (Mosquitto's ``$7$`` PBKDF2-SHA512 hashes, made here so no
password is ever on a command line) and ``acl`` (Mosquitto's ``acl_file`` format). A private
Mosquitto reads those two files itself; the embedded amqtt broker reads the same two files
through :mod:`services.broker`'s plugins, which check them as Mosquitto does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services.events.topics import ALERTS, ROOT

Access = Literal["read", "write", "readwrite", "deny"]
CONTROL = "aqkol/control/simulator"
SYS = "$SYS/#"  # the broker's statistics; never prefixed

# role -> (what it is, [(access, topic relative to the prefix)]); deny lines come first
ROLES: dict[str, tuple[str, list[tuple[Access, str]]]] = {
    "simulator": (
        "The simulator (the town's devices) publishes events and nothing else; it may not\n"
        "announce alerts. It follows its control topic (pause, resume, speed, jump, inject)\n"
        "and reports there: acknowledgements on .../status, its retained state on .../state.",
        [
            ("deny", f"{ROOT}/{ALERTS}/#"),
            ("write", f"{ROOT}/#"),
            ("read", CONTROL),
            ("write", f"{CONTROL}/status"),
            ("write", f"{CONTROL}/state"),
        ],
    ),
    "ingest": (
        "The ingest reads the event stream (a shared subscription) and announces the alerts\n"
        "it opens; it may publish nothing else, events least of all.",
        [("read", f"{ROOT}/#"), ("write", f"{ROOT}/{ALERTS}/#")],
    ),
    "api": (
        "The API (the teacher's classroom controls) is the only account that commands the\n"
        "simulator (and tells its devices the policy's edge part); it reads the\n"
        "acknowledgements and the state, and reads the stream for the wire view; it\n"
        "publishes nothing on the stream.",
        [
            ("write", CONTROL),
            ("read", f"{CONTROL}/status"),
            ("read", f"{CONTROL}/state"),
            ("read", f"{ROOT}/#"),
        ],
    ),
    "operator": (
        "The operator (a person at the command center, or a monitoring probe): reads the\n"
        "stream, the alerts and the broker's $SYS statistics, steers the simulator;\n"
        "publishes no events. Deployments only: the demo has no operator account.",
        [("read", f"{ROOT}/#"), ("read", SYS), ("readwrite", "aqkol/control/#")],
    ),
}
DEMO_ROLES = ("simulator", "ingest", "api")
DEPLOY_ROLES = ("simulator", "ingest", "api", "operator")
FOLDER = "mqtt"
ACCOUNTS_FILE = "accounts.json"
HASH_FILE = "passwd"
ACL_FILE = "acl"
PBKDF2_ITERATIONS = 10_000  # the passwords are random: the hash need not be slow


def acl_text(roles: tuple[str, ...] = DEPLOY_ROLES, prefix: str = "") -> str:
    """The ACL of ``roles`` in Mosquitto's ``acl_file`` format (topics under ``prefix``)."""
    out = [
        "# Topic ACLs per account (Mosquitto acl_file format), generated from",
        "# services/mqtt_accounts.py:ROLES; a test checks the deployment's copy against it.",
        "# No line before the first 'user': anonymous clients get nothing.",
    ]
    for name in roles:
        about, grants = ROLES[name]
        out += ["", *(f"# {line}" for line in about.splitlines()), f"user {name}"]
        for access, topic in grants:
            out.append(f"topic {access} {topic if topic.startswith('$') else prefix + topic}")
    return "\n".join(out) + "\n"


def password_line(name: str, password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A line of Mosquitto's password file (``$7$``: PBKDF2-HMAC-SHA512, as mosquitto_passwd)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"{name}:$7${iterations}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches a ``$7$`` hash of Mosquitto's password file."""
    try:
        _, kind, iterations, salt, digest = stored.split("$")
        if kind != "7":
            return False
        mine = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), base64.b64decode(salt), int(iterations)
        )
        return hmac.compare_digest(base64.b64encode(mine).decode(), digest)
    except ValueError:
        return False


def read_password_file(path: Path) -> dict[str, str]:
    """name -> hash of a Mosquitto password file."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, stored = line.strip().partition(":")
            out[name] = stored
    return out


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


@dataclass(frozen=True)
class BrokerAccounts:
    """The demo broker's accounts: passwords (for the services) and the broker's two files."""

    folder: Path
    passwords: dict[str, str]

    @property
    def password_file(self) -> Path:
        return self.folder / HASH_FILE

    @property
    def acl_file(self) -> Path:
        return self.folder / ACL_FILE

    def url(self, name: str, host: str, port: int) -> str:
        """``AQKOL_MQTT_URL`` of account ``name`` (the password never goes on a command line)."""
        return f"mqtt://{name}:{self.passwords[name]}@{host}:{port}"


def make_broker_accounts(
    var_dir: Path, prefix: str = "", roles: tuple[str, ...] = DEMO_ROLES
) -> BrokerAccounts:
    """Fresh passwords for ``roles``, written with their hashes and ACL to ``var_dir/mqtt/``."""
    folder = var_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    passwords = {name: secrets.token_urlsafe(24) for name in roles}
    _write_private(folder / ACCOUNTS_FILE, json.dumps(passwords, indent=1))
    lines = [password_line(n, p) for n, p in passwords.items()]
    _write_private(folder / HASH_FILE, "\n".join(lines) + "\n")
    _write_private(folder / ACL_FILE, acl_text(roles, prefix))
    return BrokerAccounts(folder, passwords)


# -- the ACL, checked as Mosquitto checks it (for the embedded broker) ------------------------


def _matches(pattern: str, topic: str) -> bool:
    """True if ``topic`` (no wildcards) is matched by the filter ``pattern``."""
    p, t = pattern.split("/"), topic.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(p) == len(t)


def _covers(pattern: str, sub: str) -> bool:
    """True if every topic the subscription filter ``sub`` can match is matched by
    ``pattern`` (a wildcard of the subscription needs a wildcard of the ACL)."""
    p, s = pattern.split("/"), sub.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(s):
            return False
        if level == "+":
            if s[i] == "#":
                return False
            continue
        if level != s[i]:
            return False
    return len(p) == len(s)


class Acl:
    """A Mosquitto ``acl_file`` (``user`` and ``topic`` lines), checked per account."""

    def __init__(self, text: str):
        self.rules: dict[str | None, list[tuple[str, str]]] = {None: []}
        user: str | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            if word == "user":
                user = rest.strip()
                self.rules.setdefault(user, [])
            elif word == "topic":
                access, _, topic = rest.strip().partition(" ")
                if access not in ("read", "write", "readwrite", "deny"):
                    access, topic = "readwrite", rest.strip()
                self.rules[user].append((access, topic.strip()))
            else:
                raise ValueError(f"ACL line not understood: {line!r}")

    @classmethod
    def load(cls, path: Path) -> Acl:
        return cls(path.read_text())

    def _grants(self, user: str | None) -> list[tuple[str, str]]:
        return self.rules.get(user, []) if user else self.rules[None]

    def may_publish(self, user: str | None, topic: str) -> bool:
        """May ``user`` publish to ``topic``?"""
        grants = self._grants(user)
        if any(a == "deny" and _matches(t, topic) for a, t in grants):
            return False
        return any(a in ("write", "readwrite") and _matches(t, topic) for a, t in grants)

    def may_receive(self, user: str | None, topic: str) -> bool:
        """May ``user`` be sent a message published on ``topic``?"""
        grants = self._grants(user)
        if any(a == "deny" and _matches(t, topic) for a, t in grants):
            return False
        return any(a in ("read", "readwrite") and _matches(t, topic) for a, t in grants)

    def may_subscribe(self, user: str | None, sub: str) -> bool:
        """May ``user`` subscribe to the filter ``sub`` (``$share/<group>/`` taken off)?"""
        if sub.startswith("$share/"):
            sub = sub.split("/", 2)[2] if sub.count("/") >= 2 else ""
        grants = self._grants(user)
        if not sub or any(a == "deny" and _covers(t, sub) for a, t in grants):
            return False
        return any(a in ("read", "readwrite") and _covers(t, sub) for a, t in grants)
