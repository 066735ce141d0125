"""A page is one file plus its catalog entries: what its ``dash.register_page`` declares
(name, title, order, who sees it, what shows it drawn) is all the navigation, the languages
and the browser tests need; no list of pages is kept anywhere else."""

from __future__ import annotations

import re

import dash
import flask
import pytest
from dash import html

from dashboard import app as dashboard_app
from dashboard import i18n
from dashboard.i18n import N_
from tests.dashboard.pages import drawn, registered

CYRILLIC = re.compile("[а-яА-ЯёЁәғқңөұүһіӘҒҚҢӨҰҮҺІ]")
ROLES = tuple(dashboard_app.ROLES)
EXTRA = "tests.dashboard.extra_page"


@pytest.fixture(scope="module")
def server() -> flask.Flask:
    registered()
    return dash.get_app().server


def _nav(server: flask.Flask, role: str | None, lang: str = "en") -> list[tuple[str, str]]:
    """(href, text) of each link of the navigation ``role`` is shown, in ``lang``."""
    with server.test_request_context(headers={"Cookie": f"{i18n.COOKIE}={lang}"}):
        if role is not None:
            flask.session.update(token="t", username=role, role=role)
        nav = dashboard_app._navigation()
    return [(link.href, link.children) for link in nav.children]


def test_every_page_declares_what_the_navigation_and_the_browser_tests_need(server):
    pages = list(dash.page_registry.values())
    assert {p["path"] for p in pages} >= {"/", "/rules", "/lab", "/dilemmas", "/login"}
    orders = [p["order"] for p in pages]
    assert all(isinstance(o, int) for o in orders) and len(set(orders)) == len(orders), orders
    for page in pages:
        assert set(page.get("roles") or ROLES) <= set(ROLES), page["path"]
        if page.get("nav", True):
            assert isinstance(page.get("drawn"), str) and page["drawn"], page["path"]


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_every_page_name_and_title_is_translated_in_each_catalog(server, lang):
    catalog = i18n.read_catalog(lang)
    with server.test_request_context(headers={"Cookie": f"{i18n.COOKIE}={lang}"}):
        for page in dash.page_registry.values():
            entry = catalog.get(page["name"])
            assert entry is not None and entry.string, (lang, page["name"])
            assert CYRILLIC.search(i18n._(page["name"])), (lang, page["name"])
            assert CYRILLIC.search(page["title"]()), (lang, page["path"])


@pytest.mark.parametrize("role", [None, *ROLES])
def test_the_navigation_is_the_registered_pages_in_their_declared_order(server, role):
    shown = _nav(server, role, "ru")
    expected = sorted(
        (p for p in dash.page_registry.values() if p.get("nav", True)), key=lambda p: p["order"]
    )
    assert [href for href, _text in shown] == [p["relative_path"] for p in expected]
    assert all(CYRILLIC.search(text) for _href, text in shown), shown
    if role is not None:
        assert list(drawn(role)) == [p["path"] for p in expected]


def test_a_new_page_needs_only_its_registration(server):
    """A page registered with an order and roles (here the teacher's only) takes its place in
    the navigation of those roles, translated, and in the browser tests' walk."""
    dash.register_page(
        EXTRA,
        path="/extra",
        name=N_("Lab"),  # a name the catalogs hold
        title=i18n.page_title(N_("Aqkol · privacy lab")),
        order=15,
        roles=("teacher",),
        drawn="#extra",
        layout=html.Div(id="extra"),
    )
    try:
        teacher = _nav(server, "teacher", "ru")
        hrefs = [href for href, _text in teacher]
        assert hrefs.index("/extra") == hrefs.index("/dilemmas") + 1  # order 15: after 10
        assert CYRILLIC.search(dict(teacher)["/extra"])
        for role in (None, "student", "analyst", "auditor"):
            assert "/extra" not in [href for href, _text in _nav(server, role)], role
        assert drawn("teacher")["/extra"] == "#extra" and "/extra" not in drawn("student")
    finally:
        dash.page_registry.pop(EXTRA)
