"""Dependency audit: pip-audit over the lock files (every pinned version, for every platform
the lock serves), after checking that the lock and the installed .venv agree.

    .venv/bin/python .ci/audit.py

Checks, in order:
1. requirements.lock (what `make demo` and the Dockerfile install) pins every package the
   same as requirements-dev.lock (what `make test` installs), so one audit covers both;
2. every distribution of aqkol[dev]'s installed closure is the version the lock pins (an
   audit of the lock is then an audit of what runs);
3. pip-audit on the dev lock's pins: fails on a known vulnerability, and (``--strict``) on a
   dependency the service could not audit, so an audit that did not happen never passes as
   a clean one. A finding that cannot be fixed yet goes in IGNORED with the reason (passed
   to pip-audit as ``--ignore-vuln``).

``--if-reachable`` (what ``.ci/run`` passes): when neither vulnerability service answers
(PyPI's per-release JSON and OSV; machines with only a package mirror reach neither), say
loudly that no audit was done and exit 0 instead of failing every run for want of a network;
checks 1 and 2 still run. A service that answers runs the strict audit, and any finding fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

# vulnerability id -> why it is accepted for now (none at the time of writing)
IGNORED: dict[str, str] = {}
ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
_PIN = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)(?:\s*;\s*([^\\\n]+))?", re.M
)


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


def lock_pins(path: Path) -> dict[str, str]:
    """Normalized name -> version of every pin of a lock file that applies here (a universal
    lock may pin a package twice, e.g. one version per range of Python, by marker)."""
    return {
        _name(n): v
        for n, v, marker in _PIN.findall(path.read_text())
        if not marker.strip() or Marker(marker.strip()).evaluate()
    }


def lock_problems() -> list[str]:
    """Where the two lock files disagree, or the installed closure differs from the lock."""
    dev, run = lock_pins(DEV_LOCK), lock_pins(LOCK)
    out = [f"{LOCK.name} pins {n}=={v}, {DEV_LOCK.name} {dev.get(n)}"
           for n, v in run.items() if dev.get(n) != v]  # fmt: skip
    for name, version in closure().items():
        if dev.get(name) != version:
            out.append(f".venv has {name}=={version}, {DEV_LOCK.name} pins {dev.get(name)} "
                       "(make lock, or make .venv/.installed-dev)")  # fmt: skip
    return out


def reachable() -> str | None:
    """The first vulnerability service that answers, or None."""
    import httpx

    probes = {
        "pypi": "https://pypi.org/pypi/pip/24.0/json",
        "osv": "https://api.osv.dev/v1/vulns/PYSEC-2023-228",
    }
    for name, url in probes.items():
        try:
            if httpx.get(url, timeout=10).status_code == 200:
                return name
        except httpx.HTTPError:
            continue
    return None


def main() -> int:
    problems = lock_problems()
    if problems:
        print("the lock and the installed packages disagree:\n  " + "\n  ".join(problems))
        return 1
    if "--if-reachable" in sys.argv:
        service = reachable()
        if service is None:
            print("DEPENDENCY AUDIT NOT DONE: no vulnerability service (PyPI JSON, OSV) answers "
                  "from this machine; run .ci/audit.py where one does", flush=True)  # fmt: skip
            return 0
        print(f"vulnerability service reachable: {service}", flush=True)
    pins = lock_pins(DEV_LOCK)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    cmd = [sys.executable, "-m", "pip_audit", "-r", f.name, "--no-deps", "--disable-pip",
           "--strict", "--progress-spinner", "off"]  # fmt: skip
    for vuln in IGNORED:
        cmd += ["--ignore-vuln", vuln]
    print(f"auditing {len(pins)} pinned distributions of {DEV_LOCK.name}", flush=True)
    try:
        return subprocess.run(cmd).returncode
    finally:
        Path(f.name).unlink()


if __name__ == "__main__":
    sys.exit(main())
