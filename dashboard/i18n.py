"""Interface languages: English, Russian and Kazakh, from gettext catalogs read with Babel.

The catalogs are ``dashboard/locales/<lang>/LC_MESSAGES/messages.po``; they are compiled in
memory when first used (Babel's ``read_po`` and ``write_mo``), so the package ships only the
``.po`` sources and nothing can go stale between a source and its compiled file. The msgids
are the English strings themselves. The language is the ``aqkol_lang`` cookie, set by
``/lang/<code>`` (the switch in the navigation) and read on every request, so pages and
callbacks answer in it.

Strings are marked for extraction (``babel.cfg``; ``make messages``) by three functions:
``_("text")`` translates now, ``ngettext("one", "many", n)`` picks the plural form of the
language for ``n``, and ``N_("text")`` only marks a string kept in a table (a page name, a
column title) to be translated where it is shown, with ``_(table[key])``.

With ``AQKOL_I18N_MISSES`` set to a file, every string asked for in Russian or Kazakh that
the catalog does not translate is appended to it (``lang<TAB>msgid``), so that a test can
walk every page and fail on a string missing from a catalog.
"""

from __future__ import annotations

import gettext
import io
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import flask
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES = {"en": "English", "ru": "Русский", "kk": "Қазақша"}
DEFAULT = "en"
COOKIE = "aqkol_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

_lock = threading.Lock()
_catalogs: dict[str, gettext.NullTranslations] = {}


def po_path(lang: str) -> Path:
    """The catalog source of a language."""
    return LOCALES / lang / "LC_MESSAGES" / "messages.po"


def read_catalog(lang: str) -> Any:
    """The Babel catalog of a language (for tests and tools)."""
    with open(po_path(lang), "rb") as f:
        return read_po(f, locale=lang)


def translations(lang: str) -> gettext.NullTranslations:
    """The compiled translations of a language (cached)."""
    with _lock:
        found = _catalogs.get(lang)
        if found is not None:
            return found
    if lang not in LANGUAGES or not po_path(lang).exists():
        compiled: gettext.NullTranslations = gettext.NullTranslations()
    else:
        buf = io.BytesIO()
        write_mo(buf, read_catalog(lang))
        buf.seek(0)
        compiled = gettext.GNUTranslations(buf)
    with _lock:
        _catalogs[lang] = compiled
    return compiled


def current() -> str:
    """The language of the current request (the cookie), English outside a request."""
    if not flask.has_request_context():
        return DEFAULT
    lang = flask.request.cookies.get(COOKIE, DEFAULT)
    return lang if lang in LANGUAGES else DEFAULT


MISSES_ENV = "AQKOL_I18N_MISSES"
_miss_lock = threading.Lock()


def _missed(lang: str, message: str) -> None:
    """Record a string the catalog of ``lang`` does not translate (only when asked to)."""
    path = os.environ.get(MISSES_ENV)
    if not path or lang == DEFAULT or not message.strip():
        return
    line = f"{lang}\t{message}".replace("\n", "\\n") + "\n"
    with _miss_lock, open(path, "a", encoding="utf-8") as f:
        f.write(line)


def _(message: str) -> str:
    """``message`` in the current request's language."""
    lang = current()
    text = translations(lang).gettext(message)
    if text is message:  # gettext hands back the msgid itself when it has no translation
        _missed(lang, message)
    return text


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a countable phrase for ``n`` in the current language (Russian has three
    forms, Kazakh two, English two); format it with ``n`` afterwards."""
    lang = current()
    text = translations(lang).ngettext(singular, plural, n)
    if text is singular or text is plural:
        _missed(lang, singular)
    return text


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (it is translated where it is
    shown, with ``_()``, in the language of that request)."""
    return message


def page_title(message: str) -> Any:
    """A page's browser title for ``dash.register_page``, translated per request."""

    def title(**_path: Any) -> str:
        return _(message)

    return title


PLOTLY_UI = (  # the chart tool bar's tooltips, as plotly.js words them (its locale dictionary)
    N_("Download plot as a PNG"),
    N_("Download plot"),
    N_("Zoom"),
    N_("Pan"),
    N_("Box Select"),
    N_("Lasso Select"),
    N_("Zoom in"),
    N_("Zoom out"),
    N_("Autoscale"),
    N_("Reset axes"),
    N_("Reset view"),
    N_("Toggle Spike Lines"),
    N_("Show closest data on hover"),
    N_("Compare data on hover"),
    N_("Toggle show closest data on hover"),
    N_("Share chart..."),
    N_("Double-click to zoom back out"),
)


def graph_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A ``dcc.Graph`` config with plotly.js speaking the current language: its tool bar's
    tooltips from the catalogs, and numbers, days and months from Babel's CLDR data."""
    lang = current()
    if lang == DEFAULT:
        return dict(config)
    from babel.dates import get_day_names, get_month_names
    from babel.numbers import get_decimal_symbol, get_group_symbol

    days = get_day_names("wide", locale=lang)  # Monday is 0; plotly starts on Sunday
    short = get_day_names("abbreviated", locale=lang)
    months = get_month_names("wide", context="stand-alone", locale=lang)
    short_months = get_month_names("abbreviated", context="stand-alone", locale=lang)
    locale = {
        "dictionary": {message: _(message) for message in PLOTLY_UI},
        "format": {
            "days": [days[(i + 6) % 7] for i in range(7)],
            "shortDays": [short[(i + 6) % 7] for i in range(7)],
            "months": [months[i] for i in range(1, 13)],
            "shortMonths": [short_months[i] for i in range(1, 13)],
            "date": "%d.%m.%Y",
            "decimal": get_decimal_symbol(lang),
            "thousands": get_group_symbol(lang),
        },
    }
    return {**config, "locale": lang, "locales": {lang: locale}}


def rule_text(rule: Mapping[str, Any] | None, field: str = "title") -> str:
    """A rule's ``title`` or ``description`` in the current language: the file's
    ``translations`` block when it has one for it, else its English text."""
    if not rule:
        return ""
    own = rule.get("translations") or {}
    return (own.get(current()) or {}).get(field) or rule.get(field) or ""


def alert_title(alert: Mapping[str, Any]) -> str:
    """An alert's title in the current language: the engine writes ``<rule title>: <key>``
    in English, so the rule's translated title replaces that prefix."""
    title = alert.get("title") or alert.get("rule") or _("alert")
    if current() == DEFAULT or not alert.get("rule"):
        return title
    from dashboard import context  # the app's API client (context imports this module)

    rule = context.current().api.rule_texts().get(alert["rule"])
    english, own = (rule or {}).get("title"), rule_text(rule)
    if english and own and own != english and title.startswith(english):
        return own + title[len(english) :]
    return title


def _back() -> str:
    """The page the switch was clicked on (the referrer, if it is this site), else ``/``."""
    ref = urlsplit(flask.request.referrer or "")
    if ref.netloc != flask.request.host or not ref.path.startswith("/"):
        return "/"
    return ref.path + (f"?{ref.query}" if ref.query else "")


def install(server: flask.Flask) -> None:
    """Add ``/lang/<code>``: remember the language, go back to the page it was chosen on."""

    @server.get("/lang/<code>")
    def _switch(code: str) -> Any:
        if code not in LANGUAGES:
            flask.abort(404)
        response = flask.redirect(_back())
        response.set_cookie(
            COOKIE,
            code,
            max_age=COOKIE_MAX_AGE,
            samesite="Lax",
            httponly=True,
            secure=flask.request.is_secure,
        )
        return response
