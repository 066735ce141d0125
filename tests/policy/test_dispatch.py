"""A policy's actions are resolved to steps when it loads: a misspelt one is refused there,
with its file and line, and each one does its own thing to the fields it selects."""

from __future__ import annotations

import textwrap
from typing import get_args

import pytest

from services.policy.apply import ACTIONS, Minimizer
from services.policy.spec import Action, PolicyError, Transform, parse_policy
from tests.policy.test_transforms import GEO, TS, sample

POLICY = "id: p\ntitle: P\ntransforms:\n  - select: {fields: [data.plate]}\n    action: {}\n"


@pytest.mark.parametrize("typo", ["dorp", "Drop", "pseudonymise", "generalise", "retain", ""])
def test_a_misspelt_action_is_refused_at_its_line(typo):
    with pytest.raises(PolicyError) as info:
        parse_policy(POLICY.replace("{}", repr(typo)), "policies/p.yaml")
    assert info.value.line == 5, str(info.value)
    assert "action" in info.value.reason and "pseudonymize" in info.value.reason


def test_an_unvalidated_transform_with_a_misspelt_action_is_refused_when_compiled():
    spec = parse_policy(POLICY.replace("{}", "drop"), "p.yaml")
    bad = Transform.model_construct(**{**dict(spec.transforms[0]), "action": "dorp"})
    with pytest.raises(PolicyError, match="unknown action 'dorp'"):
        Minimizer(spec.model_copy(update={"transforms": [bad]}), b"k")


def test_dropping_the_quasi_category_is_refused_as_it_holds_ts():
    text = "id: p\ntitle: P\ntransforms:\n  - select: {categories: [quasi]}\n    action: drop\n"
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "policies/p.yaml")
    assert info.value.line == 4 and "ts cannot be dropped" in info.value.reason


def test_every_action_of_the_spec_has_a_step():
    assert set(get_args(Action)) == ACTIONS
    assert set(CASES) == ACTIONS


def _policy(transform: str) -> Minimizer:
    text = "id: p\ntitle: P\ntransforms:\n" + textwrap.indent(textwrap.dedent(transform), "  ")
    return Minimizer(parse_policy(text, "p.yaml"), b"test-key")


def _drop(kept, ev):
    assert "plate" not in kept.data and (kept.lat, kept.lon) == (None, None)
    assert kept.data["route_id"] == ev.data.route_id and kept.source == ev.source


def _pseudonymize(kept, ev):
    assert kept.data["plate"].startswith("ps-") and kept.data["plate"] != ev.data.plate
    assert (kept.lat, kept.lon, kept.ts) == (*GEO, TS)


def _generalize(kept, ev):
    assert (kept.lat, kept.lon) != GEO and kept.ts == TS.replace(minute=0, second=0)
    assert kept.data["speed_mps"] == 0 and kept.data["bearing"] == 200.0


def _aggregate(kept, ev):
    assert kept.agg and kept.source.startswith("blk-") and "plate" not in kept.data
    assert kept.ts == TS.replace(minute=30, second=0)


CASES = {
    "drop": ("- select: {fields: [data.plate, geo]}\n  action: drop\n", _drop),
    "pseudonymize": ("- select: {fields: [data.plate]}\n  action: pseudonymize\n", _pseudonymize),
    "generalize": (
        "- select: {fields: [geo, ts, data.bearing]}\n  action: generalize\n"
        "  h3_res: 7\n  minutes: 60\n  round: 100\n",
        _generalize,
    ),
    "aggregate": (
        "- select: {kinds: [vehicle.position]}\n  action: aggregate\n  h3_res: 8\n  minutes: 30\n",
        _aggregate,
    ),
}


@pytest.mark.parametrize("action", sorted(CASES))
def test_each_action_is_dispatched_to_its_own_step(action):
    transform, check = CASES[action]
    m = _policy(transform)
    ev = sample("vehicle.position", bearing=180.0)
    kept = m.apply(ev)
    assert kept is not None
    assert {a for a, _f, _t in m.plans["vehicle.position"].ops} == {action}
    check(kept, ev)
