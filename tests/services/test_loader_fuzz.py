"""Property-based fuzzing of the files users write: rules, policies and scenarios.

Arbitrary text, and the shipped files with a field removed, replaced or added: each is either
loaded or refused with a one-line error naming the file and the line, never another
exception."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.events.scenarios import ScenarioError, parse_scenario
from services.events.yamldoc import YamlFileError
from services.policy.spec import PolicyError, parse_policy
from services.rules.spec import RuleError, parse_rule

ROOT = Path(__file__).resolve().parents[2]
LOADERS = {
    "rule": (parse_rule, RuleError, sorted((ROOT / "rules").glob("*.yaml"))),
    "policy": (parse_policy, PolicyError, sorted((ROOT / "policies").glob("*.yaml"))),
    "scenario": (parse_scenario, ScenarioError, sorted((ROOT / "scenarios").glob("*.yaml"))),
}
FILE = "fuzzed.yaml"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["12:00", "25:61", "2026-02-30", "2026-01-15T06:30:00+06:00", "off", "~"])
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)


def _load_or_refuse(what: str, text: str) -> None:
    parse, error, _files = LOADERS[what]
    try:
        parse(text, FILE)
    except error as exc:
        msg = str(exc)
        assert "\n" not in msg, msg
        assert msg.startswith(f"{FILE}:"), msg
        assert isinstance(exc.line, int) and exc.line >= 1, msg
        assert exc.reason, msg


@pytest.mark.parametrize("what", LOADERS)
@FAST
@given(text=st.text(max_size=300))
def test_arbitrary_text_is_loaded_or_refused_with_file_and_line(what, text):
    _load_or_refuse(what, text)


@pytest.mark.parametrize("what", LOADERS)
@FAST
@given(data=st.data())
def test_a_shipped_file_with_one_field_broken_is_loaded_or_refused(what, data):
    _parse, _error, files = LOADERS[what]
    path = data.draw(st.sampled_from(files), label="file")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    keys = sorted(doc)
    how = data.draw(st.sampled_from(["replace", "remove", "add", "nested"]), label="how")
    if how == "replace":
        doc[data.draw(st.sampled_from(keys))] = data.draw(yaml_values)
    elif how == "remove":
        del doc[data.draw(st.sampled_from(keys))]
    elif how == "add":
        doc[data.draw(st.text(min_size=1, max_size=12))] = data.draw(yaml_values)
    else:  # inside a list or mapping of the file (incidents, transforms, window, ...)
        inner = [k for k in keys if isinstance(doc[k], list | dict) and doc[k]]
        if not inner:
            return
        k = data.draw(st.sampled_from(inner))
        if isinstance(doc[k], list):
            i = data.draw(st.integers(0, len(doc[k]) - 1))
            item = doc[k][i]
            if isinstance(item, dict) and item:
                item[data.draw(st.sampled_from(sorted(item)))] = data.draw(yaml_values)
            else:
                doc[k][i] = data.draw(yaml_values)
        else:
            doc[k][data.draw(st.sampled_from(sorted(doc[k])))] = data.draw(yaml_values)
    _load_or_refuse(what, yaml.safe_dump(doc, allow_unicode=True))


@pytest.mark.parametrize("what", LOADERS)
def test_hostile_yaml_is_refused_quickly(what):
    deep = "id: x\nwhen: " + "[" * 5000 + "]" * 5000 + "\n"
    indented = "".join(f"{' ' * i}k{i}:\n" for i in range(3000))
    lol = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )  # "billion laughs": 9**9 strings by aliases, if anything expanded them
    tags = "id: !!python/object/apply:os.system ['echo pwned']\n"
    for text in (deep, indented, lol + "id: *i\n", lol + "description: *i\n", tags, "\0\x01"):
        t0 = time.monotonic()
        with pytest.raises(YamlFileError) as err:
            LOADERS[what][0](text, FILE)
        assert "\n" not in str(err.value) and err.value.line is not None, str(err.value)
        assert time.monotonic() - t0 < 10, f"{what} took {time.monotonic() - t0:.1f}s"
