"""The dashboard's settings, read from the environment (``AQKOL_*``) and ``.env``.

The same variable names as the services' settings (services/config.py), so a deployment's
environment configures both unchanged; only what the dashboard uses is read here. The
dashboard shares one thing with the API besides its address: the secret, from which both
derive the keys of the session cookie and of the signed browser address.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.events.keys import demo_secret, derive_key, weak_secret


class InsecureDashboard(ValueError):
    """A missing or weak secret outside the demo."""


class DashboardSettings(BaseSettings):
    """What the dashboard needs: where the API is, how it is served, and the shared secret."""

    model_config = SettingsConfigDict(env_prefix="AQKOL_", env_file=".env", extra="ignore")

    env: Literal["demo", "production"] = Field(
        default="demo",
        description="demo generates the secret under var/; production refuses a missing or "
        "weak one",
    )
    var_dir: Path = Path("var")
    api_url: str = "http://127.0.0.1:8000"
    compare_api_url: str | None = Field(
        default=None, description="a second API (a policy lane) shown side by side"
    )
    compare_policy: str | None = Field(default=None, description="the lane's policy (label)")
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8050
    dashboard_refresh_ms: int = Field(default=2000, ge=250)
    dashboard_threads: int = Field(
        default=16, ge=1, le=256, description="waitress worker threads (a class)"
    )
    class_url: str | None = Field(
        default=None,
        description="the address students open (aqkol up --lan sets it); shown with its QR "
        "code to teachers",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="the API's secret (AQKOL_SECRET_KEY); default: var/secret.key, shared "
        "with an API on this machine",
    )
    tls_cert: Path | None = Field(
        default=None, description="serve HTTPS with this certificate (PEM); the API's too"
    )
    tls_key: Path | None = Field(default=None, description="the certificate's private key (PEM)")
    behind_proxy: bool = Field(
        default=False,
        description="served behind one trusted reverse proxy (TLS): take the client address "
        "and scheme from its X-Forwarded-For/-Proto",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="largest callback body (then HTTP 413)"
    )

    @model_validator(mode="after")
    def _no_weak_secret(self) -> DashboardSettings:
        """Outside the demo, refuse a secret that is set but weak (a missing one: at use)."""
        value = self.secret_key.get_secret_value() if self.secret_key else None
        if self.env == "production" and value is not None and (why := weak_secret(value)):
            raise InsecureDashboard(f"AQKOL_ENV=production refuses AQKOL_SECRET_KEY: {why}")
        return self

    def secret(self) -> str:
        """``AQKOL_SECRET_KEY``, or in the demo ``var_dir/secret.key`` (created at first use,
        the same file the API reads)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.env == "production":
            raise InsecureDashboard("AQKOL_ENV=production needs AQKOL_SECRET_KEY: it is not set")
        return demo_secret(self.var_dir)

    def derived_secret(self, purpose: str) -> str:
        """A key for one purpose, derived from the secret as the API derives it."""
        return derive_key(self.secret(), purpose)


@lru_cache
def get_settings() -> DashboardSettings:
    """The process's settings (cached; tests build their own)."""
    return DashboardSettings()
