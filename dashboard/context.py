"""What pages and callbacks need from the running app: the settings and the API clients."""

from __future__ import annotations

from dataclasses import dataclass, field

import dash

from dashboard.api_client import ApiClient
from dashboard.settings import DashboardSettings
from dashboard.shared import SharedView
from dashboard.votes import VoteBook

_ATTR = "aqkol"


@dataclass(frozen=True)
class DashboardContext:
    """Per-app state, attached to the Dash app so that two apps in one process stay apart."""

    settings: DashboardSettings
    api: ApiClient
    compare: ApiClient | None = None  # a policy lane's API, shown beside the main one
    shared: SharedView = field(default_factory=SharedView)  # one view per tick for a class
    votes: VoteBook = field(default_factory=lambda: VoteBook(None))  # on the dilemma cards


def attach(app: dash.Dash, context: DashboardContext) -> None:
    """Give an app its context."""
    setattr(app, _ATTR, context)


def current() -> DashboardContext:
    """The context of the app serving the current request or callback."""
    return getattr(dash.get_app(), _ATTR)
