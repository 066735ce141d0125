"""Interface languages: English, Russian and Kazakh, from gettext catalogs read with Babel.

The catalogs are ``dashboard/locales/<lang>/LC_MESSAGES/messages.po``; they are compiled in
memory when first used (Babel's ``read_po`` and ``write_mo``), so the package ships only the
``.po`` sources and nothing can go stale between a source and its compiled file. The msgids
are the English strings themselves. The language is the ``aqkol_lang`` cookie, set by
``/lang/<code>`` (the switch in the navigation) and read on every request, so pages and
callbacks answer in it.
"""

from __future__ import annotations

import gettext
import io
import threading
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


def _(message: str) -> str:
    """``message`` in the current request's language."""
    return translations(current()).gettext(message)


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
