"""The dashboard's own settings: the same variables as the services', the same secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dashboard.settings import DashboardSettings, InsecureDashboard
from services.auth import tokens
from services.config import Settings


def test_a_deployments_environment_configures_the_dashboard_unchanged(monkeypatch):
    env = {
        "AQKOL_API_URL": "http://api:8000",
        "AQKOL_COMPARE_API_URL": "http://lane:8001",
        "AQKOL_COMPARE_POLICY": "gdpr-minimal",
        "AQKOL_DASHBOARD_PORT": "8443",
        "AQKOL_DASHBOARD_REFRESH_MS": "1500",
        "AQKOL_CLASS_URL": "http://192.0.2.7:8050/",
        "AQKOL_BEHIND_PROXY": "true",
        "AQKOL_MAX_BODY_BYTES": "65536",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ours, theirs = DashboardSettings(_env_file=None), Settings(_env_file=None)
    for name in DashboardSettings.model_fields:
        assert getattr(ours, name) == getattr(theirs, name), name


def test_the_dashboard_derives_the_apis_keys_from_the_shared_demo_secret(tmp_path):
    dash = DashboardSettings(_env_file=None, var_dir=tmp_path)
    api = Settings(_env_file=None, var_dir=tmp_path)
    for purpose in ("client-address", "dashboard-session"):  # whichever starts first
        assert dash.derived_secret(purpose) == tokens.derived_secret(api, purpose)
    chosen = "a-chosen-secret-of-the-deployment-0123"
    assert DashboardSettings(_env_file=None, secret_key=chosen).derived_secret(
        "client-address"
    ) == tokens.derived_secret(Settings(_env_file=None, secret_key=chosen), "client-address")


def test_production_refuses_a_weak_or_missing_secret(tmp_path):
    with pytest.raises(ValidationError, match="AQKOL_SECRET_KEY"):
        DashboardSettings(_env_file=None, env="production", secret_key="changeme-placeholder-value")
    with pytest.raises(InsecureDashboard, match="AQKOL_SECRET_KEY"):
        DashboardSettings(_env_file=None, env="production", var_dir=tmp_path).secret()
    assert not (tmp_path / "secret.key").exists()  # the demo would generate one
