"""Pinned dependencies: every install (make demo, make test, the image) comes from a lock file
with every version pinned and every file's hash, and the lock is what the tests run on.

Fails when a dependency is added to pyproject.toml without ``make lock``."""

from __future__ import annotations

import importlib.util
import re
import tomllib

from packaging.requirements import Requirement

from tests.deploy.compose import DOCKERFILE, ROOT

LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"


def _audit():
    spec = importlib.util.spec_from_file_location("audit", ROOT / ".ci" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _name(n: str) -> str:
    return re.sub(r"[-_.]+", "-", n).lower()


def test_every_dependency_is_pinned_with_hashes():
    audit = _audit()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for lock, wanted in (
        (LOCK, project["dependencies"]),
        (DEV_LOCK, project["dependencies"] + project["optional-dependencies"]["dev"]),
    ):
        pins = audit.lock_pins(lock)
        for spec in wanted:
            req = Requirement(spec)
            version = pins.get(_name(req.name))
            assert version is not None, f"{req.name} is not in {lock.name}: run `make lock`"
            assert req.specifier.contains(version, prereleases=True), (
                f"{lock.name} pins {req.name}=={version}, pyproject asks {req.specifier}: "
                "run `make lock`"
            )
        text = lock.read_text()
        # each pin carries its hashes (pip installs with --require-hashes)
        blocks = re.split(r"(?m)^(?=[A-Za-z0-9])", text)
        for block in blocks:
            if "==" in block.split("\n", 1)[0]:
                assert "--hash=sha256:" in block, block.split("\n", 1)[0]


def test_the_two_locks_agree_and_the_venv_is_the_lock():
    assert _audit().lock_problems() == []


def test_every_install_comes_from_the_lock():
    make = (ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r $(LOCK)" in make  # make demo
    assert "--require-hashes --no-deps -r $(DEV_LOCK)" in make  # make test
    assert re.search(r"(?m)^lock:", make)
    for line in re.findall(r"(?m)^\t.*pip install.*(?:-e \.|-r ).*$", make):
        assert "--no-deps" in line, line  # nothing resolved outside the lock
    docker = DOCKERFILE.read_text()
    assert "pip install --require-hashes --no-deps -r requirements.lock" in docker
    for line in re.findall(r"(?m)^RUN .*pip install.*$", docker):
        assert "--no-deps" in line, line  # nothing resolved outside the lock
