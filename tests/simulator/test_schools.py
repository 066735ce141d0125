"""School attendance: registers per class and day; cold keeps children of cold homes away."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import numpy as np
import orjson

from services.events import decode, topic_for
from simulator.clock import AQKOL_TZ
from simulator.model import Town
from simulator.people import camera_passes

MONDAY = datetime(2026, 1, 5, tzinfo=AQKOL_TZ)


def test_a_month_of_registers_shows_cold_days_empty_classrooms() -> None:
    town = Town(seed=3, start=MONDAY, kinds={"school.attendance", "env.reading"})
    truth: dict[str, dict] = {}
    events = list(town.events(24 * 28, truth=lambda r: truth.__setitem__(r["id"], r)))
    temp: dict[str, list[float]] = defaultdict(list)
    absent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    poor: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    good: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        d = e["data"]
        if e["kind"] == "env.reading":
            temp[e["ts"][:10]].append(d["temperature_c"])
            continue
        decode(orjson.dumps(e), topic_for(e["kind"], e["source"]))
        assert d["present"] + d["absent"] == d["enrolled"] <= 30
        assert datetime.fromisoformat(e["ts"]).weekday() < 5
        # an hour into the class's shift: 09:00 for the first, 14:00 for the second
        assert e["ts"][11:15] == ("09:0", "14:0")[truth[e["id"]]["shift"] - 1]
        t = truth[e["id"]]
        absent[d["date"]][0] += d["absent"]
        absent[d["date"]][1] += d["enrolled"]
        assert len(t["absent_residents"]) == d["absent"]
        for acc, cls in ((poor, "poor"), (good, "good")):
            acc[d["date"]][0] += t["absent_by_insulation"][cls]
            acc[d["date"]][1] += t["enrolled_by_insulation"][cls]
    days = sorted(absent)
    assert len(days) == 20  # four school weeks
    assert len({(e["data"]["class_id"]) for e in events if "class_id" in e["data"]}) > 80
    # from the published data alone: the colder the day, the more absences
    t_mean = np.array([np.mean(temp[d]) for d in days])
    rate = np.array([absent[d][0] / absent[d][1] for d in days])
    assert np.ptp(t_mean) > 8
    r = float(np.corrcoef(t_mean, rate)[0, 1])
    assert r < -0.6
    # significant: Pearson's t with n - 2 = 18 degrees of freedom beyond the two-sided
    # 1 % critical value (2.878), so an analyst would not put it down to chance
    t_stat = r * np.sqrt((len(days) - 2) / (1 - r * r))
    assert t_stat < -2.878
    # the ground truth says why: children from poorly insulated homes stay away
    cold = t_mean < np.median(t_mean)
    poor_rate = np.array([poor[d][0] / poor[d][1] for d in days])
    good_rate = np.array([good[d][0] / good[d][1] for d in days])
    assert poor_rate[cold].mean() > 1.5 * poor_rate[~cold].mean()
    assert poor_rate[cold].mean() - poor_rate[~cold].mean() > 3 * (
        good_rate[cold].mean() - good_rate[~cold].mean()
    )


def test_absent_pupils_stay_home() -> None:
    town = Town(seed=1, population_scale=0.3)
    absent = set(town.schools.absent_residents(0).tolist())
    assert absent
    plan = town.plan(0)
    assert not absent & set(plan.legs.person.tolist())
    assert all(plan.away_start[p] == -1 for p in absent)
    passes = camera_passes(plan, town.map.cameras, [-2] * len(town.map.cameras))
    assert not absent & set(passes.person.tolist())
