"""The supervisor of `aqkol up`: it starts the town's processes, watches them, and stops them.

Each child is a named process (``broker``, ``ingest``, ``api``, ``dashboard``,
``simulator``, a policy lane's ``ingest P`` and ``api P``). A child that ends while the
town runs is a failure, named: the supervisor stops the others and `aqkol up` exits
non-zero with the child's name and exit code, so a classroom script, a service manager or
CI sees the town is down. The one exception is a child whose work has an end (the
simulator, once its hours are published): exit code 0 is its normal end and the rest keeps
serving what was stored.

Each child dies with the supervisor (``PR_SET_PDEATHSIG`` on Linux,
:func:`services.children.dies_with_parent`), so a supervisor that is killed leaves no town
running behind it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.children import dies_with_parent

STOP_S = 10.0  # how long a child has to stop after SIGTERM before it is killed


class SupervisorError(Exception):
    """The town cannot go on: a child ended, or did not become ready in time."""


class ChildExited(SupervisorError):
    """A child ended when it should not have."""

    def __init__(self, name: str, code: int, waiting_for: str | None = None):
        self.name, self.code, self.waiting_for = name, code, waiting_for
        during = f" while waiting for {waiting_for}" if waiting_for else ""
        super().__init__(f"{name} exited with code {code}{during}")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    may_finish: bool = False  # exit code 0 is the normal end of its work


class Supervisor:
    """The children of one `aqkol up`.

    ``launch(name, *args)`` runs ``python -m services.cli *args`` with the supervisor's
    environment, plus the broker account of the command (``accounts``: command -> MQTT URL
    carrying the account, so a password never appears on a command line) and ``extra``.
    ``env`` is kept, not copied: what the caller adds to it reaches the later launches.
    """

    def __init__(
        self,
        env: dict[str, str],
        accounts: Mapping[str, str] | None = None,
        *,
        finishing: frozenset[str] = frozenset({"simulator"}),
        command: tuple[str, ...] = (sys.executable, "-m", "services.cli"),
    ):
        self.env = env
        self.accounts = dict(accounts or {})
        self.finishing = finishing
        self.command = command
        self.children: list[Child] = []

    # starting
    def launch(self, name: str, *args: str, extra: Mapping[str, str] | None = None) -> Child:
        """Start ``aqkol ARGS`` as the child ``name``."""
        account = {"AQKOL_MQTT_URL": self.accounts[args[0]]} if args[0] in self.accounts else {}
        env = {**self.env, **account, **(extra or {})}
        proc = subprocess.Popen([*self.command, *args], env=env, preexec_fn=dies_with_parent())
        return self.adopt(name, proc)

    def adopt(self, name: str, proc: subprocess.Popen) -> Child:
        """Watch a process started elsewhere (the private Mosquitto) as the child ``name``."""
        child = Child(name, proc, may_finish=name in self.finishing)
        self.children.append(child)
        return child

    # watching
    def failed(self) -> ChildExited | None:
        """The first child that ended when it should not have, if any."""
        for child in self.children:
            code = child.proc.poll()
            if code is not None and not (child.may_finish and code == 0):
                return ChildExited(child.name, code)
        return None

    def wait_for(
        self, cond: Callable[[], bool], seconds: float, what: str, interval: float = 0.2
    ) -> None:
        """Until ``cond()`` holds; a child that ends meanwhile, or the deadline, is an error
        (:class:`ChildExited`, :class:`SupervisorError`) naming what was awaited."""
        end = time.monotonic() + seconds
        while not cond():
            for child in self.children:
                code = child.proc.poll()
                if code is not None:
                    raise ChildExited(child.name, code, what)
            if time.monotonic() > end:
                raise SupervisorError(f"timed out after {seconds:.0f}s waiting for {what}")
            time.sleep(interval)

    # stopping
    def stop(self, name: str, timeout: float = 15.0) -> None:
        """Stop the children called ``name`` (SIGTERM, then SIGKILL after ``timeout``) and
        forget them: a reset starts them again."""
        for child in [c for c in self.children if c.name == name]:
            _terminate(child.proc, timeout)
            self.children.remove(child)

    def stop_all(self, timeout: float = STOP_S) -> None:
        """Stop every child, the last started first (the simulator before the ingest that
        stores what it sent, the broker last)."""
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.terminate()
        for child in self.children:
            _terminate(child.proc, timeout)

    def pids(self) -> dict[str, int]:
        """The running children's process ids, by name."""
        return {c.name: c.proc.pid for c in self.children if c.proc.poll() is None}


def _terminate(proc: subprocess.Popen, timeout: float) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
