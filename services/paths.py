"""Paths: names from clients and messages kept inside their folder; private files of var/.

A run id arrives in the simulator's retained state (which anyone who may publish could
forge), a lab result in a dashboard callback, a scenario in a control command: each is a
plain name, one level under its folder, or nothing.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

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


def private_dir(path: Path | str) -> Path:
    """A folder only its owner may enter (0700): ``var/`` holds password hashes, the pseudonym
    escrow, and the keys. Created so, and tightened if it was made with the default umask."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_mode & 0o077 and st.st_uid == os.getuid():
        path.chmod(0o700)
    return path


def private_file(path: Path | str) -> None:
    """Make an existing file of ours readable by its owner only (0600)."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_mode & 0o077 and st.st_uid == os.getuid():
        path.chmod(0o600)


def write_private_once(path: Path | str, data: bytes) -> bytes:
    """Write ``data`` to a new 0600 file at ``path`` unless one is there; what it then holds.

    The file is written aside and linked into place, so that processes starting together
    agree on one content (the first one's) and no one ever reads a half-written file.
    """
    path = Path(path)
    if not path.exists():
        private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # someone else won: theirs it is
        finally:
            tmp.unlink()
    private_file(path)
    return path.read_bytes()
