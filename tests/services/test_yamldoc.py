"""The YAML loader under hostile files: work linear in the text, whatever the aliases say."""

from __future__ import annotations

import pytest

from services.events import yamldoc
from services.events.yamldoc import YamlFileError
from services.rules.spec import RuleError, parse_rule


def alias_bomb(levels: int) -> str:
    """Nested aliases, nine of the level below per level, then one invalid date."""
    lines = ["a: &a [x,x,x,x,x,x,x,x,x]"]
    names = "abcdefghijklmnop"
    for i in range(1, levels):
        n, below = names[i], names[i - 1]
        lines.append(f"{n}: &{n} [" + ",".join([f"*{below}"] * 9) + "]")
    return "\n".join([*lines, "z: 2026-02-30", ""])


@pytest.fixture
def constructions(monkeypatch):
    """Counts scalar constructions; fails the test once they pass what the text holds."""
    calls = {"n": 0}
    real = yamldoc._Loader.construct_object

    def counted(self, node, deep=False):
        calls["n"] += 1
        if calls["n"] > 10_000:  # the text holds a few hundred values at most
            raise AssertionError("the loader walks the expansion of the aliases")
        return real(self, node, deep)

    monkeypatch.setattr(yamldoc._Loader, "construct_object", counted)
    return calls


def test_the_alias_bomb_is_refused_in_work_linear_in_its_text(constructions):
    text = alias_bomb(9)  # 9**9 = 387 million values once expanded
    assert len(text.encode()) <= 400
    with pytest.raises(RuleError) as err:
        parse_rule(text, "editor")
    assert "aliases expand" in err.value.reason and err.value.line is not None
    assert constructions["n"] < 1_000


def test_an_invalid_value_after_aliases_is_found_visiting_each_node_once(constructions):
    text = alias_bomb(5)  # 59,049 values: under the cap, so the date is what is wrong
    with pytest.raises(YamlFileError) as err:
        yamldoc.compose(text, "f.yaml")
    assert err.value.line == 6 and "day is out of range" in err.value.reason
    assert constructions["n"] < 1_000


def test_a_recursive_alias_is_a_plain_error_not_a_hang():
    with pytest.raises(YamlFileError):
        yamldoc.parse_model("a: &a [*a, 2026-02-30]\n", "f.yaml", yamldoc.BaseModel)
