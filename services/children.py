"""Child processes that do not outlive their supervisor.

`aqkol up` starts a broker, ingests, an API, a dashboard and a simulator. When the supervisor
is killed outright (SIGKILL, an out-of-memory kill, a test's last resort) it cannot stop them,
and an orphaned town keeps publishing and holding ports. On Linux each child asks the kernel
for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``); elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _ask_for_sigterm_on_parent_death() -> None:  # runs in the child, before exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux's libc: the child just lives on
        pass


def dies_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen`` (None where the platform has no such call)."""
    return _ask_for_sigterm_on_parent_death if sys.platform.startswith("linux") else None
