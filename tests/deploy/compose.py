"""Read docker-compose.yml as Compose would, and run its services as local processes.

There is no Docker engine on the test machines. So the file is parsed (PyYAML, with YAML
anchors and merge keys as Compose reads them), interpolated from an environment the way
the Compose Specification says (``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``,
``$$``), and checked by pydantic models of the parts of the Compose Specification this
deployment relies on (we do not vendor the compose-spec JSON schema). Each service's own
command then runs here, with its compose environment plus the image's ``ENV`` lines from
the Dockerfile, its container paths mapped to a scratch folder and the service
hostnames (``mosquitto``, ``postgres``, ``api``) rewritten to this machine's ports.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    """A ``${VAR:?message}`` whose variable is unset, as ``docker compose`` refuses it."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Substitute variables in every string of ``value`` (Compose Specification rules)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name = m["braced"] or m["named"]
        op, arg = m["op"], m["arg"] or ""
        current = env.get(name)
        empty = current is None or (op is not None and op.startswith(":") and current == "")
        if op in ("-", ":-"):
            return arg if empty else current  # type: ignore[return-value]
        if op in ("?", ":?"):
            if empty:
                raise InterpolationError(f"{name}: {arg or 'required'}")
            return current  # type: ignore[return-value]
        if op in ("+", ":+"):
            return "" if empty else arg
        return current or ""

    return _VAR.sub(sub, value)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blank lines skipped)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


# -- the parts of the Compose Specification this deployment relies on -----------------------


class Healthcheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    test: list[str] | str
    interval: str | None = None
    timeout: str | None = None
    retries: int | None = Field(default=None, ge=1)
    start_period: str | None = None

    @field_validator("test")
    @classmethod
    def _form(cls, v: list[str] | str) -> list[str] | str:
        if isinstance(v, list) and (not v or v[0] not in ("CMD", "CMD-SHELL", "NONE")):
            raise ValueError("a list test starts with CMD, CMD-SHELL or NONE")
        return v


class Dependency(BaseModel):
    model_config = ConfigDict(extra="forbid")
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"]
    restart: bool | None = None
    required: bool | None = None


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str | None = None
    build: str | dict[str, Any] | None = None
    command: list[str] | str | None = None
    entrypoint: list[str] | str | None = None
    environment: dict[str, str | int | float | bool | None] | list[str] = Field(
        default_factory=dict
    )
    env_file: str | list[str] | None = None
    volumes: list[str] = Field(default_factory=list)
    ports: list[str] = Field(default_factory=list)
    depends_on: dict[str, Dependency] | list[str] = Field(default_factory=dict)
    healthcheck: Healthcheck | None = None
    restart: Literal["no", "always", "on-failure", "unless-stopped"] | None = None
    user: str | None = None
    working_dir: str | None = None
    deploy: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _runs_something(self) -> Service:
        if not (self.image or self.build):
            raise ValueError("a service needs an image or a build")
        return self

    def env(self) -> dict[str, str]:
        """The environment as strings (Compose accepts a map or KEY=VALUE items)."""
        if isinstance(self.environment, list):
            return dict(item.split("=", 1) for item in self.environment)
        return {k: "" if v is None else str(v) for k, v in self.environment.items()}

    def mounts(self) -> list[tuple[str, str]]:
        """(source, container path) of each volume: a named volume or a ./host path."""
        out = []
        for spec in self.volumes:
            parts = spec.split(":")
            if len(parts) < 2:
                raise ValueError(f"volume {spec!r}: want source:target[:mode]")
            out.append((parts[0], parts[1]))
        return out


class Compose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    services: dict[str, Service]
    volumes: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    networks: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _references(self) -> Compose:
        for name, svc in self.services.items():
            deps = svc.depends_on
            for dep, how in deps.items() if isinstance(deps, dict) else []:
                if dep not in self.services:
                    raise ValueError(f"{name} depends on {dep}, which is not a service")
                if how.condition == "service_healthy" and self.services[dep].healthcheck is None:
                    raise ValueError(f"{name} waits for {dep} to be healthy; it has no healthcheck")
            for source, _target in svc.mounts():
                if not source.startswith((".", "/")) and source not in self.volumes:
                    raise ValueError(f"{name} mounts volume {source!r}, not declared at the top")
        return self


def load(env: dict[str, str], path: Path = COMPOSE_FILE) -> Compose:
    """The compose file, interpolated from ``env`` and validated."""
    raw = yaml.safe_load(path.read_text())
    raw = {k: v for k, v in raw.items() if not k.startswith("x-")}  # extension fields
    return Compose.model_validate(interpolate(raw, env))


def image_env(path: Path = DOCKERFILE) -> dict[str, str]:
    """The ``ENV`` of the Dockerfile's last stage (what every service of the image starts with)."""
    stages = re.split(r"(?m)^FROM ", path.read_text())
    text = stages[-1].replace("\\\n", " ")
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                k, _, v = item.partition("=")
                if k != "PATH":  # the image's venv on PATH: here, the test's own
                    out[k] = v
    return out


# -- running a service here ---------------------------------------------------------------


class Local:
    """Where the services' names, ports and container paths are on this machine."""

    def __init__(self, scratch: Path, hosts: dict[str, tuple[str, dict[int, int]]], db_url: str):
        self.scratch = scratch
        self.hosts = hosts  # service -> (host, {container port: local port})
        self.db_url = db_url  # the test's own PostgreSQL database replaces postgres's

    def ports(self, service: str) -> dict[int, int]:
        return self.hosts.get(service, ("127.0.0.1", {}))[1]

    def path(self, compose: Compose, service: str, container_path: str) -> str:
        """A container path of ``service`` as a path here (mounts, then private, then code)."""
        for source, target in sorted(compose.services[service].mounts(), key=lambda m: -len(m[1])):
            if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
                base = (
                    ROOT / source if source.startswith(".") else self.scratch / "volumes" / source
                )
                rest = container_path[len(target) :].lstrip("/")
                return str(base / rest) if rest else str(base)
        for private in ("/tmp", "/app/var", "/app/runs", "/mosquitto"):
            if container_path == private or container_path.startswith(private + "/"):
                return str(self.scratch / service / container_path.lstrip("/"))
        if container_path == "/app" or container_path.startswith("/app/"):
            return str(ROOT / container_path[len("/app/") :])
        return container_path

    def rewrite(self, compose: Compose, service: str, value: str) -> str:
        """Hostnames, ports, listen addresses and container paths of one string, made local."""
        value = re.sub(r"postgresql://[^\s\"']+", lambda _m: self.db_url, value)
        for host, (local, ports) in self.hosts.items():
            value = re.sub(
                rf"(?<=[/@]){host}:(\d+)",
                lambda m, local=local, ports=ports: f"{local}:{ports.get(int(m[1]), m[1])}",
                value,
            )
        value = value.replace("0.0.0.0", "127.0.0.1")
        for container, local in self.ports(service).items():
            value = re.sub(rf"(?<![\d.]){container}(?!\d)", str(local), value)
        return re.sub(
            r"(?<![\w.])/(?:tmp|app|mosquitto|deploy)(?:/[\w.\-]*)*",
            lambda m: self.path(compose, service, m[0]),
            value,
        )

    def argv(self, compose: Compose, service: str, args: list[str] | str) -> list[str]:
        """A command of the compose file as a local argv (the venv's programs for the image's)."""
        if isinstance(args, str):
            args = shlex.split(args)
        args = [self.rewrite(compose, service, a) for a in args]
        venv_bin = Path(sys.executable).parent
        if (venv_bin / args[0]).exists():
            args[0] = str(venv_bin / args[0])
        return args

    def env(self, compose: Compose, service: str, extra: dict[str, str] | None = None) -> dict:
        """The service's environment: the image's ENV, then the compose file's, made local."""
        svc = compose.services[service]
        base = image_env() if svc.build else {}
        merged = {**base, **svc.env()}
        local = {k: self.rewrite(compose, service, v) for k, v in merged.items()}
        local.update(extra or {})  # already local paths: not rewritten
        keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "CI") if k in os.environ}
        keep["PATH"] = f"{Path(sys.executable).parent}:{keep.get('PATH', '')}"
        return {**keep, **local}

    def start(
        self,
        compose: Compose,
        service: str,
        extra_env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> subprocess.Popen:
        """Run the service's entrypoint + command (or ``args``) here; output to its log."""
        svc = compose.services[service]
        command = args or [*_as_list(svc.entrypoint), *_as_list(svc.command)]
        (self.scratch / service).mkdir(parents=True, exist_ok=True)
        log = open(self.scratch / f"{service}.log", "wb")  # noqa: SIM115
        return subprocess.Popen(
            self.argv(compose, service, command),
            env=self.env(compose, service, extra_env),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def healthy(self, compose: Compose, service: str) -> bool:
        """Run the service's healthcheck here, as Docker would inside the container."""
        check = compose.services[service].healthcheck
        assert check is not None, f"{service} has no healthcheck"
        test = check.test
        if isinstance(test, str):
            argv = ["/bin/sh", "-c", test]
        elif test[0] == "CMD-SHELL":
            argv = ["/bin/sh", "-c", test[1]]
        else:
            argv = test[1:]
        argv = self.argv(compose, service, argv)
        if argv[0] == "python":
            argv[0] = sys.executable
        res = subprocess.run(
            argv, env=self.env(compose, service), cwd=ROOT, capture_output=True, timeout=30
        )
        return res.returncode == 0

    def log(self, service: str) -> str:
        path = self.scratch / f"{service}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _as_list(v: list[str] | str | None) -> list[str]:
    if v is None:
        return []
    return shlex.split(v) if isinstance(v, str) else list(v)
