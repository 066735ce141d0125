"""What the lab says a policy keeps of faces, against the real Minimizer's output."""

from __future__ import annotations

import pandas as pd

from services.lab.store import face_view, minimizer
from services.lab.traces import face_traces
from services.policy.active import PolicyBook

CAMERAS = pd.DataFrame(
    {
        "id": ["cam-1", "cam-2", "cam-3"],
        "x": [0.0, 30.0, 2000.0],
        "y": [0.0, 0.0, 0.0],
        "face": [1, 1, 0],
    }
)


def _view(pid: str):
    return face_view(minimizer(PolicyBook().spec(pid)), CAMERAS)


def test_face_view_of_the_shipped_policies():
    none = _view("none")
    assert none.identity == "clear" and none.everyone and none.minutes is None
    assert len(set(none.loc.values())) == 3
    gdpr = _view("gdpr-minimal")
    assert gdpr.identity == "pseudonym" and gdpr.salt == "daily"
    assert gdpr.minutes == 15 and gdpr.h3_res == 9
    # geo is coarsened, but the camera id stays in `source`: each camera is still apart
    assert len(set(gdpr.loc.values())) == 3
    assert not _view("edge-counts").stores_identities
    ai = _view("eu-ai-act")
    assert ai.watchlists == {"missing", "wanted"} and not ai.everyone


def test_face_traces_follow_the_view():
    h = 3_600_000
    s = pd.DataFrame(
        {
            "person": ["a", "a", "b", "b"],
            "camera": ["cam-1", "cam-3", "cam-2", "cam-1"],
            "t_ms": [0, h, 25 * h, 26 * h],
        }
    )
    t = face_traces(s, CAMERAS, _view("none"), capture_rate=1.0)
    assert list(t["camera"]) == ["cam-1", "cam-2", "cam-1"]  # cam-3 recognizes no faces
    assert t["unit"].nunique() == 2
    daily = face_traces(s.assign(person="a"), CAMERAS, _view("gdpr-minimal"), capture_rate=1.0)
    assert daily["unit"].nunique() == 2  # one pseudonym a day
    coarse = face_traces(s, CAMERAS, _view("none"), h3_res=7, capture_rate=1.0)
    assert coarse["loc"].nunique() == 1  # cameras 30 m apart share a cell at resolution 7
    assert face_traces(s, CAMERAS, _view("edge-counts"), capture_rate=1.0).empty
    listed = face_traces(s, CAMERAS, _view("eu-ai-act"), listed={"b"}, capture_rate=1.0)
    assert set(listed["person"]) == {"b"}


def test_apply_policy_shortcuts_change_nothing(tiny_day):
    """The lab's fast path keeps exactly what the Minimizer keeps, event by event."""
    from services.lab.store import _as_event, apply_policy

    for pid in ("none", "gdpr-minimal", "edge-counts", "eu-ai-act", "dp-heatmaps"):
        spec = PolicyBook().spec(pid)
        fast = apply_policy(tiny_day.events, minimizer(spec))
        m = minimizer(spec)
        slow = [
            (i, k)
            for i, ev in enumerate(tiny_day.events)
            if (k := m.apply(_as_event(ev))) is not None
        ]
        assert fast == slow, pid


def test_incidents_are_judged_in_the_policys_pseudonyms(tiny_day):
    """A leak alert under a pseudonymizing policy carries the meter's pseudonym: the truth's
    incident is rewritten with the same pseudonym, so the alert counts as finding it."""
    from services.lab.store import _as_event
    from services.rules.replay import in_pseudonyms

    m = minimizer(PolicyBook().spec("gdpr-minimal"))
    gas = next(ev for ev in tiny_day.events if ev[1] == "gas.reading")
    kept = m.apply(_as_event(gas))
    inc = {
        "type": "gas_leak",
        "start": gas[3].isoformat(),
        "meter": gas[2],
        "enrollment_id": "wl-001",
    }
    (out,) = in_pseudonyms([inc], m)
    assert out["meter"] == kept.source != gas[2]
    assert out["enrollment_id"].startswith("ps-")
    none = minimizer(PolicyBook().spec("none"))
    assert in_pseudonyms([inc], none) == [inc]  # nothing pseudonymized: unchanged


def test_the_forked_rule_replay_gives_the_values_of_one_process(tiny_day):
    """evaluate() replays the rules in two forked processes (each applying the policy to the
    kinds its rules read) while it runs the attacks; one process, one step after the other,
    gives the same rows, alert scores included, and the collector is on again after."""
    import gc

    from services.lab.evaluate import _replay_groups, evaluate

    spec = PolicyBook().spec("gdpr-minimal")
    from services.rules.book import RuleBook

    groups = _replay_groups(RuleBook().rules, minimizer(spec), tiny_day)
    assert len(groups) == 2 and not set.intersection(*({r.id for r in g} for g in groups))
    forked = evaluate(tiny_day, spec, seed=3, alert_cache=False, concurrent=True)
    here = evaluate(tiny_day, spec, seed=3, alert_cache=False, concurrent=False)
    assert forked == here
    assert {r["rule"] for r in forked if r["metric"] == "alert_alerts"} == {
        r.id for g in groups for r in g
    }
    assert gc.isenabled()
