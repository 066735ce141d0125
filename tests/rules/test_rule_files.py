"""Rule files: refused with file, line and reason; the last good version stays in force."""

from __future__ import annotations

import os
import textwrap
import time

import pytest

from services.rules.book import RuleBook
from services.rules.spec import RuleError, parse_rule
from tests.rules.conftest import STARTER

GOOD = """\
id: big-crowd
title: Big crowd
severity: major
purpose: public_safety
kinds: [camera.crowd]
when: data.count > 40
"""


def refused(text: str) -> RuleError:
    with pytest.raises(RuleError) as info:
        parse_rule(textwrap.dedent(text), "rules/x.yaml")
    return info.value


def test_every_starter_rule_loads():
    book = RuleBook(STARTER)
    assert book.errors() == []
    ids = {r.id for r in book.rules}
    assert ids >= {
        "large-group", "weapon-detected", "watchlist-wanted", "watchlist-missing",
        "watchlist-activist", "gas-leak", "bus-delayed", "cold-home", "camera-offline",
    }  # fmt: skip
    assert next(r for r in book.rules if r.id == "watchlist-activist").spec.misuse


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (GOOD.replace("major", "urgent"), 3, "severity"),
        (GOOD.replace("camera.crowd", "camera.crowds"), 5, "unknown event kind 'camera.crowds'"),
        (GOOD.replace("data.count > 40", "data.cnt > 40"), 6, "has no field 'cnt'"),
        (GOOD.replace("data.count > 40", "data.count >"), 6, "Syntax error"),
        (GOOD.replace("data.count > 40", "count > 40"), 6, "unknown name 'count'"),
        (GOOD.replace("id: big-crowd\n", ""), 1, "missing 'id'"),
        (GOOD + "colour: red\n", 7, "colour: unknown field"),
        (GOOD + "for_minutes: 5\nin_a_row: 3\n", 1, "not both"),
        (GOOD + "where:\n  place: atlantis\n", 8, "unknown place 'atlantis'"),
        (GOOD + "detects: [alien_landing]\n", 7, "unknown incident type"),
        ("id: big\ntitle: [unclosed\nseverity: major\n", 3, "not valid YAML"),
        ("", 1, "empty"),
    ],
)
def test_a_broken_rule_is_refused_with_its_line_and_reason(text, line, words):
    err = refused(text)
    assert err.file == "rules/x.yaml"
    assert err.line == line, str(err)
    assert words in err.reason
    assert str(err).startswith(f"rules/x.yaml:{line}: ")


def test_an_error_inside_a_multi_line_expression_points_at_its_own_line():
    text = GOOD.replace(
        "when: data.count > 40\n", "when: |\n  data.count > 40 &&\n  data.window_s >=\n"
    )
    err = refused(text)
    assert err.line == 8 and "column" in err.reason


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("x" * 2100, "characters long"),
        ("(" * 40 + "1" + ")" * 40 + " > 0", "nests deeper"),
        (
            "[1,2].map(a, [1,2].map(b, [1,2].map(c, 1))).size() > 0",
            "at most one list macro",
        ),
        ("data.count ** 99999999 > 1", "Syntax error"),
        ("__import__('os').system('true') == 0", "unknown function '__import__'"),
        ("data.__class__ == 1", "has no field '__class__'"),
        ("'a' * 1000000000 == 'b'", None),  # compiles; refused at evaluation (no overload)
    ],
)
def test_hostile_expressions_are_refused_or_bounded(expr, words):
    text = GOOD.replace("when: data.count > 40", "when: |\n  " + expr.replace("'", '"'))
    if words is None:
        parse_rule(text, "x.yaml")
        return
    with pytest.raises(RuleError) as info:
        parse_rule(text, "x.yaml")
    assert words in info.value.reason


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    st = path.stat()  # a new mtime even within the filesystem's time granularity
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000 * int(time.time() % 7 + 1)))


def test_the_book_reloads_a_saved_file_and_keeps_the_last_good_version(tmp_path):
    f = tmp_path / "big-crowd.yaml"
    _write(f, GOOD)
    book = RuleBook(tmp_path)
    assert [r.spec.when for r in book.rules] == ["data.count > 40"]
    _write(f, GOOD.replace("40", "50"))
    assert book.refresh() is True
    assert [r.spec.when for r in book.rules] == ["data.count > 50"]
    _write(f, GOOD.replace("data.count > 40", "data.count >"))  # saved half-written
    assert book.refresh() is False
    assert [r.spec.when for r in book.rules] == ["data.count > 50"]  # still in force
    (err,) = book.errors()
    assert err.file == str(f) and err.line == 6
    f.unlink()
    assert book.refresh() is True and book.rules == []


def test_two_files_with_one_id_are_refused(tmp_path):
    _write(tmp_path / "a.yaml", GOOD)
    _write(tmp_path / "b.yaml", GOOD)
    book = RuleBook(tmp_path)
    assert [r.file for r in book.rules] == [str(tmp_path / "a.yaml")]
    assert "already used by a.yaml" in str(book.errors()[0])


def test_saving_through_the_book_validates_first(tmp_path):
    book = RuleBook(tmp_path)
    with pytest.raises(RuleError):
        book.save("big-crowd", GOOD.replace("40", "forty"))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuleError, match="not 'other'"):
        book.save("other", GOOD)
    book.save("big-crowd", GOOD)
    assert [r.id for r in book.rules] == ["big-crowd"]
