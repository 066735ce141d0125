"""The dashboard's pages as they register themselves, for the tests that walk every page:
an app built in-process on the fake API fills ``dash.page_registry``; no list of pages is
kept anywhere else."""

from __future__ import annotations

import functools

import httpx

from dashboard.api_client import ApiClient
from dashboard.app import create_app
from dashboard.pages import nav_pages
from dashboard.settings import DashboardSettings
from tests.dashboard.fakes import FakeApi


@functools.cache
def registered() -> None:
    settings = DashboardSettings(
        _env_file=None, api_url="http://api.test", secret_key="pages-test-secret-0123456789"
    )
    create_app(settings, api=ApiClient(settings.api_url, transport=httpx.MockTransport(FakeApi())))


def drawn(role: str) -> dict[str, str]:
    """Each page of ``role``'s navigation, in order: its path and what shows it is drawn."""
    registered()
    return {page["path"]: page["drawn"] for page in nav_pages(role)}
