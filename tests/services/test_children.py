"""`aqkol up`'s children do not outlive a supervisor that is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.support import wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's prctl")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (reaped by init later) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
    return True


def test_a_child_dies_when_its_supervisor_is_killed(tmp_path):
    pid_file = tmp_path / "child.pid"
    supervisor = textwrap.dedent(f"""
        import subprocess, sys, time
        from services.children import dies_with_parent
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 preexec_fn=dies_with_parent())
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", supervisor])
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), 30, "the child to start")
        child = int(pid_file.read_text())
        assert _alive(child)
        proc.send_signal(signal.SIGKILL)  # no handler runs: only the kernel can stop the child
        proc.wait(10)
        wait_until(lambda: not _alive(child), 30, "the orphaned child to end")
    finally:
        if proc.poll() is None:
            proc.kill()
