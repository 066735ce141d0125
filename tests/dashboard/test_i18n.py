"""Interface languages: every interface string has a Russian and a Kazakh translation."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir

import dashboard
from dashboard import i18n, rules_views, views
from dashboard.api_client import ApiClient
from dashboard.app import create_app
from services.config import Settings
from tests.dashboard.fakes import PASSWORD, FakeApi

DASHBOARD = Path(dashboard.__file__).resolve().parent
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")


def interface_strings() -> set[str]:
    """Every string the interface translates: the ``_()`` calls, the situation room's TEXT,
    the page names and the page headings."""
    found = {
        msg
        for _f, _l, msg, _c, _x in extract_from_dir(
            str(DASHBOARD), method_map=[("**.py", "python")]
        )
        if isinstance(msg, str)
    }
    found |= set(views.TEXT.values())
    found |= {rules_views.TEXT[k] for k in ("heading", "list_title", "editor_title",
                                            "alerts_title", "page_name")}  # fmt: skip
    found |= {"Situation room", "Transparency", "Wall", "Dilemmas", "Wire"}
    return found


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_every_interface_string_is_translated(lang):
    catalog = i18n.read_catalog(lang)
    translated = {m.id: m.string for m in catalog if m.id}
    missing = sorted(s for s in interface_strings() if not translated.get(s))
    assert missing == [], f"{lang}: {len(missing)} untranslated, e.g. {missing[:5]}"
    for msgid, text in translated.items():  # the same {placeholders}, or format() breaks
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(text)), msgid
        assert re.search("[а-яА-ЯәғқңөұүһіӘҒҚҢӨҰҮҺІ]", text) or not re.search("[a-z]{3}", msgid)


def test_the_catalogs_hold_the_same_msgids():
    ids = {lang: {m.id for m in i18n.read_catalog(lang) if m.id} for lang in i18n.LANGUAGES}
    assert ids["en"] == ids["ru"] == ids["kk"]


def test_the_switch_sets_a_cookie_and_goes_back_to_the_page():
    settings = Settings(
        _env_file=None, api_url="http://api.test", secret_key="i18n-test-secret-0123456789"
    )
    app = create_app(
        settings, api=ApiClient(settings.api_url, transport=httpx.MockTransport(FakeApi()))
    )
    client = app.server.test_client()
    client.post("/auth/login", data={"username": "teacher", "password": PASSWORD, "next": "/"})
    r = client.get("/lang/kk", headers={"Referer": "http://localhost/rules?rule=x"})
    assert r.status_code == 302 and r.headers["location"] == "/rules?rule=x"
    assert "aqkol_lang=kk" in r.headers["set-cookie"]
    r = client.get("/lang/kk", headers={"Referer": "https://evil.example/"})
    assert r.headers["location"] == "/"  # never back to another site
    assert client.get("/lang/xx").status_code == 404
    with app.server.test_request_context(headers={"Cookie": "aqkol_lang=ru"}):
        assert i18n.current() == "ru" and i18n._("Pause") == "Пауза"
    with app.server.test_request_context(headers={"Cookie": "aqkol_lang=zz"}):
        assert i18n.current() == "en" and i18n._("Pause") == "Pause"
