"""The supervisor of `aqkol up` names a child that ends, stops the rest, and kills a child
that will not stop. Children here are small Python processes (the real town's children are
covered by tests/test_up_broker.py, which kills the ingest of a running `aqkol up`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services.supervisor import ChildExited, Supervisor, SupervisorError
from tests.support import wait_until

PY = (sys.executable, "-c")
FOREVER = "import time\nwhile True: time.sleep(0.1)"


def _sup(**kw) -> Supervisor:
    return Supervisor(dict(os.environ), command=PY, **kw)


def test_a_child_that_ends_is_named_with_its_exit_code():
    sup = _sup()
    try:
        sup.launch("api", FOREVER)
        ingest = sup.launch("ingest", "import sys; sys.exit(3)")
        ingest.proc.wait(60)
        died = sup.failed()
        assert isinstance(died, ChildExited)
        assert (died.name, died.code) == ("ingest", 3)
        assert str(died) == "ingest exited with code 3"
    finally:
        sup.stop_all()


def test_the_simulator_may_finish_its_hours_but_not_crash():
    sup = _sup()
    try:
        sup.launch("simulator", "pass").proc.wait(60)
        assert sup.failed() is None  # exit 0: its hours are published, the town serves on
        sup.stop("simulator")
        sup.launch("simulator", "raise SystemExit(1)").proc.wait(60)
        died = sup.failed()
        assert died is not None and died.name == "simulator" and died.code == 1
    finally:
        sup.stop_all()


def test_waiting_for_a_child_that_dies_names_it_and_what_was_awaited():
    sup = _sup()
    try:
        sup.launch("ingest", "raise SystemExit(2)")
        with pytest.raises(ChildExited, match="ingest exited with code 2 while waiting for the"):
            sup.wait_for(lambda: False, 60, "the ingest to subscribe", interval=0.05)
    finally:
        sup.stop_all()


def test_waiting_past_the_deadline_is_an_error_naming_what_was_awaited():
    sup = _sup()
    with pytest.raises(SupervisorError, match="timed out after 0s waiting for the API"):
        sup.wait_for(lambda: False, 0.2, "the API", interval=0.05)


def test_stop_all_stops_every_child_and_kills_one_that_ignores_sigterm(tmp_path: Path):
    started = tmp_path / "started"
    stubborn = (
        "import signal, time, pathlib\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(started)!r}).touch()\n"
        "while True: time.sleep(0.1)"
    )
    sup = _sup()
    a = sup.launch("api", FOREVER)
    b = sup.launch("dashboard", stubborn)
    wait_until(started.exists, 60, "the stubborn child to ignore SIGTERM")
    sup.stop_all(timeout=1)
    assert a.proc.returncode == -signal.SIGTERM
    assert b.proc.returncode == -signal.SIGKILL


CHECK_ACCOUNT = "import os, sys; sys.exit(os.environ['AQKOL_MQTT_URL'] != os.environ['EXPECT'])"


def test_a_childs_broker_account_comes_through_its_environment_not_its_command_line():
    sup = Supervisor(
        dict(os.environ),
        {"simulate": "mqtt://simulator:not-the-secret@127.0.0.1:1"},
        command=(sys.executable, "-c", CHECK_ACCOUNT),
    )
    child = sup.launch(
        "simulator", "simulate", extra={"EXPECT": "mqtt://simulator:not-the-secret@127.0.0.1:1"}
    )
    assert child.proc.wait(60) == 0
    assert "not-the-secret" not in " ".join(map(str, child.proc.args))


def test_a_stopped_child_is_forgotten_so_a_reset_can_start_it_again():
    sup = _sup()
    try:
        sup.launch("simulator", FOREVER)
        sup.stop("simulator")
        assert sup.pids() == {}
        assert sup.failed() is None  # stopped on purpose: not a failure
        sup.launch("simulator", FOREVER)
        assert list(sup.pids()) == ["simulator"]
    finally:
        sup.stop_all()


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_children_die_with_a_killed_supervisor(tmp_path: Path):
    pid_file = tmp_path / "child.pid"
    script = (
        "import os, sys, time\n"
        "from services.supervisor import Supervisor\n"
        "sup = Supervisor(dict(os.environ), command=(sys.executable, '-c'))\n"
        "c = sup.launch('api', 'import time\\nwhile True: time.sleep(0.1)')\n"
        f"open({str(pid_file)!r}, 'w').write(str(c.proc.pid))\n"
        "while True: time.sleep(0.1)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    wait_until(lambda: pid_file.exists() and pid_file.read_text(), 60, "the child started")
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait(30)

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        # a zombie until init reaps it is gone too
        return Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"

    wait_until(gone, 60, "the child to die with its supervisor")
