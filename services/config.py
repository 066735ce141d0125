"""One settings object, read from the environment (``AQKOL_*``) and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


class Settings(BaseSettings):
    """Configuration shared by every service; the same code runs embedded and deployed."""

    model_config = SettingsConfigDict(env_prefix="AQKOL_", env_file=".env", extra="ignore")

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
        default=True, description="decode and write in a child process (uses a second core)"
    )
    api_url: str = "http://127.0.0.1:8000"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8050
    dashboard_refresh_ms: int = Field(default=2000, ge=250)
    runs_dir: Path = Path("runs")
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
    login_failures_per_account: str = Field(
        default="5/minute", description="failed logins allowed per account (then HTTP 429)"
    )
    login_failures_per_address: str = Field(
        default="30/minute", description="failed logins allowed per client address"
    )
    register_file: Path | None = Field(
        default=None, description="Sensor register (YAML); default: the one shipped"
    )

    @property
    def effective_database_url(self) -> str:
        """The configured database, or a SQLite file under ``var_dir``."""
        if self.database_url:
            return self.database_url
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
