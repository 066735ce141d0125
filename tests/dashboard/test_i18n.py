"""Interface languages: every string the dashboard shows has a Russian and a Kazakh translation
(no string missing from a catalog, none left empty or fuzzy, plural forms as the language has
them), counts and dates are written the way each language writes them, and rules carry their
titles in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

import dashboard
from dashboard import fmt, i18n, rules_views, views
from dashboard.api_client import ApiClient
from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from services.rules.spec import RuleError, parse_rule
from tests.dashboard.fakes import PASSWORD, FakeApi

DASHBOARD = Path(dashboard.__file__).resolve().parent
REPO = DASHBOARD.parent
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
CYRILLIC = re.compile("[а-яА-ЯёЁәғқңөұүһіӘҒҚҢӨҰҮҺІ]")
PLURALS = {"en": 2, "ru": 3, "kk": 2}  # CLDR: ru one/few/many, kk one/other
NBSP = "\xa0"


def extracted() -> dict[str | tuple[str, ...], list[str]]:
    """Every string of the dashboard marked for translation, as ``make messages`` extracts it
    (babel.cfg's mapping, the keywords ``_``, ``ngettext`` and ``N_``), with where it is."""
    with open(REPO / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found: dict[str | tuple[str, ...], list[str]] = {}
    for file, line, msg, _comments, _ctx in extract_from_dir(
        str(REPO), method_map, options_map, keywords=keywords
    ):
        if msg:
            found.setdefault(msg, []).append(f"{file}:{line}")
    return found


@pytest.fixture(scope="module")
def strings() -> dict[str | tuple[str, ...], list[str]]:
    return extracted()


def test_the_extraction_finds_the_dashboard_strings(strings):
    # the mapping covers every part: pages, figures, errors, the formatting, plural forms
    files = {w.split(":")[0] for where in strings.values() for w in where}
    for part in ("pages/transparency.py", "pages/lab.py", "pages/login.py", "figures.py", "fmt.py",
                 "api_client.py", "transparency_views.py", "views.py"):  # fmt: skip
        assert any(f.endswith(part) for f in files), part
    assert "Lab" in strings and "Lake" in strings  # a page name, the map legend
    assert ("{n} alert", "{n} alerts") in strings
    assert set(views.TEXT.values()) <= set(strings)
    assert set(rules_views.TEXT.values()) <= set(strings)


def test_every_marked_literal_is_extracted(strings):
    # the extractor skips some places (a call inside an f-string): such a string would never
    # reach a catalog, so every literal _() / ngettext() / N_() of the source must be found
    import ast

    markers = {"_", "N_", "ngettext"}
    skipped = []
    for path in sorted(DASHBOARD.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in markers):
                continue
            args = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if not args or not isinstance(args[0], str):
                continue
            msgid = tuple(args[:2]) if node.func.id == "ngettext" else args[0]
            if msgid not in strings:
                skipped.append(f"{path.name}:{node.lineno}: {msgid!r}")
    assert skipped == [], skipped


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_every_string_is_in_the_catalog_translated_and_not_fuzzy(lang, strings):
    catalog = i18n.read_catalog(lang)
    assert catalog.num_plurals == PLURALS[lang], catalog.plural_forms
    problems = []
    for msgid, where in sorted(strings.items(), key=str):
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        entry = catalog.get(key)
        if entry is None:
            problems.append(f"missing: {msgid!r} ({where[0]})")
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        if isinstance(msgid, tuple) != isinstance(entry.id, tuple):
            problems.append(f"plural in the code but not in the catalog, or back: {msgid!r}")
            continue
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if isinstance(msgid, tuple) and len(forms) != PLURALS[lang]:
            problems.append(f"{len(forms)} plural forms, not {PLURALS[lang]}: {msgid!r}")
        if not all(forms):
            problems.append(f"untranslated: {msgid!r} ({where[0]})")
            continue
        english = msgid[-1] if isinstance(msgid, tuple) else msgid
        for form in forms:  # the same {placeholders}, or format() breaks
            if sorted(PLACEHOLDER.findall(form)) != sorted(PLACEHOLDER.findall(english)):
                problems.append(f"placeholders differ: {msgid!r} -> {form!r}")
            words = PLACEHOLDER.sub("", english)
            if re.search("[a-z]{3}", words) and not CYRILLIC.search(form):
                problems.append(f"left in English: {msgid!r} -> {form!r}")
    assert problems == [], f"{lang}: {len(problems)} problems:\n" + "\n".join(problems[:30])


def test_no_catalog_has_fuzzy_or_empty_entries_and_all_hold_the_same_msgids():
    ids = {}
    for lang in i18n.LANGUAGES:
        catalog = i18n.read_catalog(lang)
        ids[lang] = {m.id for m in catalog if m.id}
        assert not [m.id for m in catalog if m.id and m.fuzzy], lang
        if lang != i18n.DEFAULT:
            empty = [m.id for m in catalog if m.id and not all(m.string or ("",))]
            assert empty == [], f"{lang}: {empty[:5]}"
    assert ids["en"] == ids["ru"] == ids["kk"]


def _app():
    settings = DashboardSettings(
        _env_file=None, api_url="http://api.test", secret_key="i18n-test-secret-0123456789"
    )
    return create_app(
        settings, api=ApiClient(settings.api_url, transport=httpx.MockTransport(FakeApi()))
    )


def _in(app, lang: str):
    return app.server.test_request_context(headers={"Cookie": f"{i18n.COOKIE}={lang}"})


def test_every_page_name_in_the_navigation_comes_from_the_catalogs():
    import dash

    app = _app()
    names = [p["name"] for p in dash.page_registry.values()]
    assert "Lab" in names and "Rules" in names
    for lang in ("ru", "kk"):
        with _in(app, lang):
            for name in names:
                assert CYRILLIC.search(i18n._(name)), (lang, name)


def test_plural_forms_follow_each_language():
    app = _app()
    shown = {}
    for lang in ("en", "ru", "kk"):
        with _in(app, lang):
            shown[lang] = [
                i18n.ngettext("{n} alert", "{n} alerts", n).format(n=n) for n in (1, 3, 5, 11, 21)
            ]
    assert shown["en"] == ["1 alert", "3 alerts", "5 alerts", "11 alerts", "21 alerts"]
    assert shown["ru"] == ["1 тревога", "3 тревоги", "5 тревог", "11 тревог", "21 тревога"]
    assert shown["kk"] == ["1 дабыл", "3 дабыл", "5 дабыл", "11 дабыл", "21 дабыл"]


def test_numbers_and_dates_are_written_per_language():
    app = _app()
    ts = "2026-01-15T01:30:12Z"  # 07:30:12 in Aqkol (UTC+6), a Thursday
    with _in(app, "en"):
        assert fmt.count(12345) == "12,345" and fmt.number(4.5) == "4.5"
        assert fmt.clock(ts) == "Thu 15 Jan 2026 07:30:12"
        assert fmt.delay(180) == "3 min late"
    with _in(app, "ru"):
        assert fmt.count(12345) == f"12{NBSP}345" and fmt.number(4.5) == "4,5"
        assert fmt.day(ts) == "чт 15 янв. 2026"
        assert fmt.delay(180) == "опаздывает на 3 мин" and fmt.delay(-90) == "раньше на 2 мин"
    with _in(app, "kk"):
        assert fmt.count(12345) == f"12{NBSP}345" and fmt.number(0.0123) == "0,0123"
        assert fmt.day(ts).endswith("2026") and "қаң" in fmt.day(ts)
        assert fmt.occupancy("FULL") == "толы"


def test_the_switch_sets_a_cookie_and_goes_back_to_the_page():
    app = _app()
    client = app.server.test_client()
    client.post("/auth/login", data={"username": "teacher", "password": PASSWORD, "next": "/"})
    r = client.get("/lang/kk", headers={"Referer": "http://localhost/rules?rule=x"})
    assert r.status_code == 302 and r.headers["location"] == "/rules?rule=x"
    assert "aqkol_lang=kk" in r.headers["set-cookie"]
    r = client.get("/lang/kk", headers={"Referer": "https://evil.example/"})
    assert r.headers["location"] == "/"  # never back to another site
    assert client.get("/lang/xx").status_code == 404
    with _in(app, "ru"):
        assert i18n.current() == "ru" and i18n._("Pause") == "Пауза"
    with _in(app, "zz"):
        assert i18n.current() == "en" and i18n._("Pause") == "Pause"


def test_a_string_missing_from_the_catalog_is_recorded_when_asked(tmp_path, monkeypatch):
    misses = tmp_path / "misses.tsv"
    monkeypatch.setenv(i18n.MISSES_ENV, str(misses))
    app = _app()
    with _in(app, "kk"):
        assert i18n._("Pause") == "Үзіліс"
        assert i18n._("Not in any catalog") == "Not in any catalog"
    with _in(app, "en"):
        i18n._("Also not in any catalog")  # English is the msgid itself: no miss
    assert misses.read_text(encoding="utf-8") == "kk\tNot in any catalog\n"


# -- rules in the viewer's language ----------------------------------------------------------

RULE = """\
id: large-group
title: Large group
severity: major
purpose: public_safety
kinds: [camera.crowd]
when: data.count > 40
translations:
  ru:
    title: Большая группа людей
"""


def test_a_rule_carries_its_title_per_language_and_an_unknown_language_is_refused():
    rule = parse_rule(RULE + "  kk:\n    title: Үлкен топ\n", "large-group.yaml")
    assert rule.spec.text("kk")["title"] == "Үлкен топ"
    assert rule.spec.text("ru")["description"] == ""  # the file's own, where not translated
    with pytest.raises(RuleError) as refused:
        parse_rule(RULE + "  de:\n    title: Große Gruppe\n", "large-group.yaml")
    assert str(refused.value).startswith("large-group.yaml:10: translations.de: unknown language")
    with pytest.raises(RuleError, match=r"large-group.yaml:10: translations.ru.titel"):
        parse_rule(RULE + "    titel: typo\n", "large-group.yaml")
    # not a mapping at all (found by the loader fuzzer): refused at its line, not a crash
    broken = RULE[: RULE.index("translations:")] + "translations: [null]\n"
    with pytest.raises(RuleError, match=r"large-group.yaml:\d+: translations: .*dictionary"):
        parse_rule(broken, "large-group.yaml")


def test_every_starter_rule_has_its_title_and_description_in_ru_and_kk():
    for path in sorted((REPO / "rules").glob("*.yaml")):
        spec = parse_rule(path.read_text(encoding="utf-8"), path.name).spec
        for lang in ("ru", "kk"):
            text = spec.translations[lang]
            assert text.title and CYRILLIC.search(text.title), (path.name, lang)
            assert text.description and CYRILLIC.search(text.description), (path.name, lang)


def test_rule_and_alert_titles_show_in_the_viewers_language(monkeypatch):
    from dashboard import context

    rule = {"id": "large-group", "title": "Large group",
            "translations": {"ru": {"title": "Большая группа людей"}}}  # fmt: skip
    alert = {"rule": "large-group", "title": "Large group: cam-07 (52)"}
    app = _app()
    # what GET /rules gives (the client keeps it a minute); a fake: the API is not under test
    monkeypatch.setattr(context.current().api, "rule_texts", lambda: {"large-group": rule})
    with _in(app, "ru"):
        assert i18n.rule_text(rule) == "Большая группа людей"
        assert i18n.alert_title(alert) == "Большая группа людей: cam-07 (52)"
    with _in(app, "kk"):
        assert i18n.rule_text(rule) == "Large group"  # no Kazakh title: the English one
        assert i18n.alert_title(alert) == "Large group: cam-07 (52)"
    with _in(app, "en"):
        assert i18n.alert_title(alert) == "Large group: cam-07 (52)"


def test_the_map_legend_is_in_the_viewers_language_and_cached_per_language():
    from dashboard import figures
    from tests.dashboard.fakes import ALERTS, LATEST, TOWN

    app = _app()
    legends = {}
    for lang in ("en", "ru", "kk", "en"):  # the town layer is cached: once per language
        with _in(app, lang):
            fig = figures.town_map(TOWN, None, LATEST, ALERTS)
            legends[lang] = {t.name for t in fig.data} | {
                t.legendgrouptitle.text for t in fig.data if t.legendgrouptitle.text
            }
    assert {"Lake", "Town", "Live"} <= legends["en"]
    assert {"Озеро", "Город", "В эфире"} <= legends["ru"]
    assert {"Көл", "Қала", "Тікелей"} <= legends["kk"]
    assert any(n.startswith("Автобусы (") for n in legends["ru"])
    assert any(n.startswith("Активные тревоги (") for n in legends["ru"])
