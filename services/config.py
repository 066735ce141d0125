"""One settings object, read from the environment (``AQKOL_*``) and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.events.keys import weak_secret

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


class InsecureSettings(ValueError):
    """A missing or default secret outside the demo."""


class Settings(BaseSettings):
    """Configuration shared by every service; the same code runs embedded and deployed."""

    model_config = SettingsConfigDict(env_prefix="AQKOL_", env_file=".env", extra="ignore")

    env: Literal["demo", "production"] = Field(
        default="demo",
        description="demo generates what is missing (keys under var/, SQLite, anonymous "
        "MQTT); production refuses a missing or default secret",
    )
    var_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite under var/ when unset."
    )
    mqtt_url: str = Field(
        default=DEFAULT_MQTT_URL,
        description="mqtt://[user[:password]@]host:port of the broker.",
    )
    mqtt_protocol: Literal["auto", "3.1.1", "5"] = Field(
        default="auto", description="auto tries MQTT 5 and falls back to 3.1.1 (amqtt)."
    )
    mqtt_prefix: str = Field(
        default="", description="Optional namespace before aqkol/v1, e.g. 'class7/'."
    )
    ingest_client_id: str = "aqkol-ingest"
    ingest_batch_size: int = Field(default=1000, ge=1, le=50_000)
    ingest_batch_seconds: float = Field(default=0.25, gt=0, le=4.0)
    ingest_queue_size: int = Field(default=20_000, ge=100)
    ingest_writer_process: bool = Field(
        default=True,
        description="write in a child process while the next batch is decoded and minimized "
        "(uses a second core)",
    )
    api_url: str = "http://127.0.0.1:8000"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8050
    dashboard_refresh_ms: int = Field(default=2000, ge=250)
    dashboard_threads: int = Field(
        default=16, ge=1, le=256, description="dashboard: waitress worker threads (a class)"
    )
    lab_quick: bool = Field(
        default=True,
        description="aqkol up: run the quick lab experiment in the background when the Lab "
        "has no result yet",
    )
    class_url: str | None = Field(
        default=None,
        description="dashboard: the address students open (aqkol up --lan sets it); shown "
        "with its QR code to teachers",
    )
    runs_dir: Path = Path("runs")
    lab_results: Path | None = Field(
        default=None,
        description="API: the lab's results folders, served to the Lab page (default: runs/lab "
        "of the project, where `aqkol lab run` writes)",
    )
    policy: str = Field(
        default="none", description="Policy in force until one is switched at run time"
    )
    policies_dir: Path | None = Field(
        default=None, description="Folder of policies (*.yaml); default: policies/ of the project"
    )
    pseudonym_key: str | None = Field(
        default=None, description="Secret key of pseudonyms; default: generated in var/"
    )
    policy_pinned: bool = Field(
        default=False, description="ingest: apply AQKOL_POLICY always (a comparison lane)"
    )
    compare_api_url: str | None = Field(
        default=None, description="dashboard: a second API (a policy lane) shown side by side"
    )
    compare_policy: str | None = Field(default=None, description="the lane's policy (label)")
    rules_dir: Path | None = Field(
        default=None, description="Folder of alert rules (*.yaml); default: rules/ of the project"
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs login tokens and dashboard sessions; default: var/secret.key, "
        "generated on first use (set it when the API runs without a var folder of its own)",
    )
    token_minutes: int = Field(default=720, ge=1, le=7 * 24 * 60, description="login lifetime")
    student_token_minutes: int = Field(
        default=120, ge=1, le=7 * 24 * 60, description="a student's login lifetime (a lesson)"
    )
    login_failures_per_account: str = Field(
        default="5/minute",
        description="failed logins allowed per account from one client (then HTTP 429)",
    )
    login_failures_per_address: str = Field(
        default="30/minute", description="failed logins allowed per client address"
    )
    login_failures_per_account_total: str = Field(
        default="60/minute",
        description="failed logins allowed per account from all clients but loopback",
    )
    tls_cert: Path | None = Field(
        default=None, description="API and dashboard serve HTTPS with this certificate (PEM)"
    )
    tls_key: Path | None = Field(default=None, description="the certificate's private key (PEM)")
    behind_proxy: bool = Field(
        default=False,
        description="the dashboard is served behind one trusted reverse proxy (TLS): take the "
        "client address and scheme from its X-Forwarded-For/-Proto",
    )
    api_docs: bool | None = Field(
        default=None,
        description="serve /docs and /openapi.json (default: in the demo, not in production)",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="API: largest request body (then HTTP 413)"
    )
    preview_max_events: int = Field(
        default=200_000, ge=1, description="rule preview: events replayed at most"
    )
    preview_seconds: float = Field(
        default=10.0, gt=0, description="rule preview: replay time at most (then cut short)"
    )
    preview_per_user: int = Field(
        default=1, ge=1, description="rule previews one user may run at a time (then 429)"
    )
    preview_total: int = Field(
        default=2, ge=1, description="rule previews running at a time for everyone (then 429)"
    )
    app_db_password: str | None = Field(
        default=None,
        description="the deployment's application database role's password (the migration "
        "creates the role with it; the services connect with it)",
        repr=False,
    )
    register_file: Path | None = Field(
        default=None, description="Sensor register (YAML); default: the one shipped"
    )

    @model_validator(mode="after")
    def _no_default_secret(self) -> Settings:
        """Outside the demo, refuse every secret that is set but weak (missing ones: at use)."""
        if self.env != "production":
            return self
        checks = {
            "AQKOL_SECRET_KEY": self.secret_key.get_secret_value() if self.secret_key else None,
            "AQKOL_PSEUDONYM_KEY": self.pseudonym_key,
            "AQKOL_APP_DB_PASSWORD": self.app_db_password,
            "the password in AQKOL_MQTT_URL": MqttTarget.parse(self.mqtt_url).password,
            "the password in AQKOL_DATABASE_URL": (
                urlsplit(self.database_url).password if self.database_url else None
            ),
        }
        for name, value in checks.items():
            if value is not None and (why := weak_secret(value)):
                raise InsecureSettings(f"AQKOL_ENV=production refuses {name}: {why}")
        return self

    def require_secret(self, name: str, value: str | None) -> None:
        """Refuse to run without ``name`` in production (the demo generates it instead)."""
        if self.env == "production" and (why := weak_secret(value)):
            raise InsecureSettings(f"AQKOL_ENV=production needs {name}: {why}")

    @property
    def effective_database_url(self) -> str:
        """The configured database, or a SQLite file under ``var_dir`` (the demo only)."""
        if self.database_url:
            return self.database_url
        if self.env == "production":
            raise InsecureSettings("AQKOL_ENV=production needs AQKOL_DATABASE_URL")
        return f"sqlite:///{(self.var_dir / 'aqkol.db').resolve()}"

    @property
    def mqtt(self) -> MqttTarget:
        """The broker address parsed from ``mqtt_url``."""
        return MqttTarget.parse(self.mqtt_url)


class MqttTarget:
    """Host, port and credentials of a broker."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None):
        self.host, self.port, self.username, self.password = host, port, username, password

    @classmethod
    def parse(cls, url: str) -> MqttTarget:
        """Parse ``mqtt://user:pass@host:port``; the port defaults to 1883."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} in {url!r}")
        return cls(
            parts.hostname or "127.0.0.1", parts.port or 1883, parts.username, parts.password
        )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings``)."""
    return Settings()
