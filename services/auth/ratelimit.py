"""Failed logins limited per account and per address (``limits``, moving windows in memory).

Only failures count, so a class logging in together is never slowed down; an account that
is guessed at is held for a while, and so is an address that guesses at many accounts.
The windows live in the process: each API and dashboard process keeps its own, which is
enough for one command center (a shared store, e.g. Redis, is one ``storage_uri`` away).
"""

from __future__ import annotations

import math
import time

from limits import parse, storage, strategies

PER_ACCOUNT = "5/minute"
PER_ADDRESS = "30/minute"


class LoginLimiter:
    """Counts failed logins; tells how long a name or an address must wait."""

    def __init__(self, per_account: str = PER_ACCOUNT, per_address: str = PER_ADDRESS):
        self._window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._limits = (("account", parse(per_account)), ("address", parse(per_address)))

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        return [("account", username.strip().lower()), ("address", address or "unknown")]

    def wait_s(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: now)."""
        wait = 0.0
        for (scope, limit), (_s, key) in zip(
            self._limits, self._keys(username, address), strict=True
        ):
            if not self._window.test(limit, "login", scope, key):
                reset = self._window.get_window_stats(limit, "login", scope, key).reset_time
                wait = max(wait, reset - time.time(), 1.0)
        return math.ceil(wait)

    def failed(self, username: str, address: str) -> None:
        """Count one failed attempt against the name and the address."""
        for (scope, limit), (_s, key) in zip(
            self._limits, self._keys(username, address), strict=True
        ):
            self._window.hit(limit, "login", scope, key)
