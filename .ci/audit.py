"""Dependency audit: pip-audit over the project's own dependencies (aqkol[dev] and what they
pull in, at the versions installed in .venv), not over whatever else the venv holds.

    .venv/bin/python .ci/audit.py

Fails on a known vulnerability, and (``--strict``) on a dependency the service could not
audit, so an audit that did not happen never passes as a clean one. A finding that cannot be
fixed yet goes in IGNORED with the reason (passed to pip-audit as ``--ignore-vuln``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

# vulnerability id -> why it is accepted for now (none at the time of writing)
IGNORED: dict[str, str] = {}


def _name(n: str) -> str:
    return re.sub(r"[-_.]+", "-", n).lower()


def closure(root: str = "aqkol", extras: tuple[str, ...] = ("dev",)) -> dict[str, str]:
    """Installed name -> version of ``root[extras]`` and everything it requires."""
    seen: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement whose marker left it out on this platform
        key = _name(dist.metadata["Name"])
        first = key not in seen
        seen[key] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            env_ok = any(
                req.marker is None or req.marker.evaluate({"extra": e}) for e in ("", *wanted)
            )
            if env_ok and (first or wanted):
                todo.append((req.name, tuple(req.extras)))
    seen.pop("aqkol", None)  # the project itself is not on PyPI
    return dict(sorted(seen.items()))


def main() -> int:
    pins = closure()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(f"{n}=={v}\n" for n, v in pins.items()))
    cmd = [sys.executable, "-m", "pip_audit", "-r", f.name, "--no-deps", "--disable-pip",
           "--strict", "--progress-spinner", "off"]  # fmt: skip
    for vuln in IGNORED:
        cmd += ["--ignore-vuln", vuln]
    print(f"auditing {len(pins)} distributions (aqkol[dev] and its dependencies)", flush=True)
    try:
        return subprocess.run(cmd).returncode
    finally:
        Path(f.name).unlink()


if __name__ == "__main__":
    sys.exit(main())
