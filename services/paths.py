"""Paths: names from clients and messages kept inside their folder.

A run id arrives in the simulator's retained state (which anyone who may publish could
forge), a lab result in a dashboard callback, a scenario in a control command: each is a
plain name, one level under its folder, or nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

# the private files of var/ are the contract's (services/events/keys.py): the dashboard reads
# the shared secret too

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def child(root: Path | str, name: object) -> Path | None:
    """``root/name`` when ``name`` is one plain name (no separator, no ``..``) that stays
    under ``root`` once links are resolved; None otherwise."""
    if not isinstance(name, str) or not SAFE_NAME.match(name) or ".." in name:
        return None
    root = Path(root)
    path = root / name
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        return None
    return path if inside else None
