"""Failed logins limited per account and client, per client, and per account (in the database).

Only failures count, so a class logging in together is never slowed down. The limits are
keyed so that no student can lock another person out:

- an account guessed at from one client is held for that client only (5 a minute): a
  student typing ``teacher`` at their own machine holds ``teacher`` at that machine;
- a client guessing at many accounts is held (30 a minute);
- an account guessed at from many clients is held too (60 a minute), except from the
  machine the command center runs on (loopback): the teacher can always log in there.

The client is the real one: the dashboard, which asks the API on the browser's behalf,
forwards the browser's address in a header signed with a key only it and the API share
(a forged or stale one is ignored). The counts live in the database, so every API process
of a deployment (and every restart) shares them. Keys are stored hashed, never as names or
addresses, and rows older than the longest window are deleted.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
from datetime import UTC, datetime, timedelta

from limits import parse
from sqlalchemy import Engine, delete, func, insert, select

from services.events.keys import client_signature
from services.store.models import login_failures

PER_ACCOUNT = "5/minute"  # one account from one client
PER_ADDRESS = "30/minute"  # one client, any accounts
PER_ACCOUNT_TOTAL = "60/minute"  # one account, any clients but loopback
CLIENT_HEADER = "x-aqkol-client"
CLIENT_MAX_AGE_S = 60


def is_loopback(address: str) -> bool:
    """Whether ``address`` is this machine (the teacher's)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _digest(scope: str, key: str) -> str:
    return hashlib.blake2b(f"{scope}\x00{key}".encode(), digest_size=16).hexdigest()


class LoginLimiter:
    """Counts failed logins in the database; tells how long an attempt must wait."""

    def __init__(
        self,
        engine: Engine,
        per_account: str = PER_ACCOUNT,
        per_address: str = PER_ADDRESS,
        per_account_total: str = PER_ACCOUNT_TOTAL,
    ):
        self.engine = engine
        self._limits = {
            "account-client": parse(per_account),
            "client": parse(per_address),
            "account": parse(per_account_total),
        }
        self._keep = timedelta(seconds=max(i.get_expiry() for i in self._limits.values()))
        self._swept = 0.0

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        name, client = username.strip().lower(), address or "unknown"
        keys = [("account-client", f"{name}|{client}"), ("client", client)]
        if not is_loopback(client):
            keys.append(("account", name))
        return [(scope, _digest(scope, key)) for scope, key in keys]

    def wait_s(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: now)."""
        now = datetime.now(UTC)
        wait = 0.0
        with self.engine.connect() as conn:
            for scope, key in self._keys(username, address):
                limit = self._limits[scope]
                window = timedelta(seconds=limit.get_expiry())
                c = login_failures.c
                # the amount-th newest failure in the window: when it leaves, one more may try
                nth = conn.execute(
                    select(c.at)
                    .where(c.key == key, c.at > now - window)
                    .order_by(c.at.desc())
                    .offset(limit.amount - 1)
                    .limit(1)
                ).scalar()
                if nth is not None:
                    wait = max(wait, (nth + window - now).total_seconds(), 1.0)
        return math.ceil(wait)

    def failed(self, username: str, address: str) -> None:
        """Count one failed attempt against each key."""
        now = datetime.now(UTC)
        rows = [{"key": key, "at": now} for _scope, key in self._keys(username, address)]
        with self.engine.begin() as conn:
            conn.execute(insert(login_failures), rows)
            if time.monotonic() - self._swept > 60:
                self._swept = time.monotonic()
                conn.execute(delete(login_failures).where(login_failures.c.at < now - self._keep))

    def count(self) -> int:
        """Failures on record (for tests and the curious)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(login_failures)).scalar_one()


def forwarded_client(key: str, header: str | None, now: float | None = None) -> str | None:
    """The browser's address from a signed header, if the signature holds and is fresh."""
    if not header:
        return None
    try:
        address, at_s, mac = header.split(";")
        at = int(at_s)
        ipaddress.ip_address(address)
    except ValueError:
        return None
    if abs((now or time.time()) - at) > CLIENT_MAX_AGE_S:
        return None
    good = client_signature(key, address, at).rsplit(";", 1)[1]
    return address if hmac.compare_digest(good, mac) else None
