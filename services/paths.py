"""Paths: names from clients and messages kept inside their folder; private files of var/.

A run id arrives in the simulator's retained state (which anyone who may publish could
forge), a lab result in a dashboard callback, a scenario in a control command: each is a
plain name, one level under its folder, or nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

# the private files of var/ are the contract's (the dashboard reads the shared secret too)
from services.events.keys import private_dir, private_file, write_private_once

__all__ = ["SAFE_NAME", "child", "private_dir", "private_file", "under", "write_private_once"]

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


def under(root: Path | str, path: object) -> Path | None:
    """``path`` if it names ``root`` itself or something below it (links resolved)."""
    if not isinstance(path, str | Path) or not str(path):
        return None
    try:
        real, base = Path(path).resolve(), Path(root).resolve()
    except (OSError, RuntimeError):
        return None
    return Path(path) if real.is_relative_to(base) else None
