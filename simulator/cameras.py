"""Camera analytics: crowd counts, face matches and object detections, a day at a time.

For each simulated day the people plan gives who passes which camera when
(:func:`simulator.people.camera_passes`); from that, with the cameras' own random stream:

- ``camera.crowd``: every camera, every minute, the people in view during that minute
  (passers-by, pupils lingering at a school gate, shoppers inside the market), counted with
  small misses and double counts;
- ``camera.face_match``: see :mod:`simulator.faces`;
- ``camera.object``: rare detections, mostly false alarms (a shadow, a ski pole "weapon").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from simulator.clock import DAY_MS, MINUTE_MS
from simulator.faces import Enrollment, Recognition
from simulator.geography import TownMap
from simulator.people import (
    AGE_GROUPS,
    DayPlan,
    Passes,
    Population,
    age_group,
    camera_passes,
    child_seq,
    stop_code,
)

MINUTES = DAY_MS // MINUTE_MS
WINDOW_S = 60
COUNT_DETECT = 0.94  # chance a person in view is counted
INSIDE_VIEW = 0.3  # share of the people inside the market/square one overview camera sees
# class, share of detections, share of those that are real, what the real/false ones were
OBJECT_CLASSES = (
    ("abandoned_bag", 0.82, 0.15, "forgotten shopping bag", "shadow or snow heap"),
    ("knife", 0.06, 0.02, "knife", "phone or keys in hand"),
    ("weapon", 0.04, 0.0, "weapon", "ski pole, umbrella or snow shovel"),
    ("fire", 0.08, 0.05, "rubbish fire", "headlights or reflection"),
)


@dataclass
class _DayEvents:
    t: np.ndarray  # event times, sorted
    typ: np.ndarray  # 0 crowd, 1 face, 2 object
    cam: np.ndarray
    a: np.ndarray  # crowd: observed count; face: enrollment index; object: class index
    b: np.ndarray  # crowd: true count;  face: person;  object: is real (0/1)
    c: np.ndarray  # crowd: -;  face: 1 if true match;  object: -
    like: np.ndarray  # likelihood (face, object)


class CameraSystem:
    def __init__(
        self,
        town: TownMap,
        pop: Population,
        watchlist: list[Enrollment],
        recognition: Recognition,
        plan_for: Callable[[int], DayPlan],
        ss: np.random.SeedSequence,
    ):
        self.town, self.pop, self.watchlist = town, pop, watchlist
        self.recognition = recognition
        self.plan_for = plan_for
        self.ss = ss
        self.cameras = town.cameras
        n = len(self.cameras)
        self.offsets = (np.arange(n) * 617) % 3000  # each camera's reporting lag, ms
        place_idx = {p.id: i for i, p in enumerate(town.places)}
        stop_idx = {s.id: i for i, s in enumerate(town.stops)}
        self.gate_place = [-2] * n
        self.inside_place = [-2] * n
        for i, c in enumerate(self.cameras):
            if c.site == "stop":  # riders waiting for the bus stay in view
                self.gate_place[i] = int(stop_code(stop_idx[c.place]))
            if c.site != "place":
                continue
            p = town.places[place_idx[c.place]]
            if (c.x, c.y) == p.entrance:
                self.gate_place[i] = place_idx[c.place]
            else:
                self.inside_place[i] = place_idx[c.place]
        self.face_cam = np.array([c.face for c in self.cameras])
        self.enrolled = np.full(len(pop), -1, dtype=np.int32)
        for k, e in enumerate(watchlist):
            if e.resident is not None:
                self.enrolled[e.resident] = k
        self.fmr = recognition.false_match_rate(pop)
        self.miss = recognition.miss_rate(np.array([c.quality for c in self.cameras]))
        self.age_group = age_group(pop.age)

    def passes(self, day: int) -> Passes:
        """Passes whose closest approach is on ``day``: from that day's plan, and from the
        walks of the day before that went on past midnight."""
        base = day * DAY_MS
        now = camera_passes(self.plan_for(day), self.cameras, self.gate_place)
        before = camera_passes(self.plan_for(day - 1).spill(base), self.cameras, self.gate_place)
        a = now.t_pass < base + DAY_MS
        b = before.t_pass >= base
        return Passes(
            *(
                np.concatenate([getattr(now, f)[a], getattr(before, f)[b]])
                for f in Passes.__dataclass_fields__
            )
        )

    def day_events(self, day: int) -> _DayEvents:
        """Everything the cameras report on one day (computed in full, then windowed)."""
        rng = np.random.default_rng(child_seq(self.ss, day))
        plan = self.plan_for(day)
        spill = self.plan_for(day - 1).spill(day * DAY_MS)
        n_cam = len(self.cameras)
        base = day * DAY_MS
        ps = self.passes(day)
        visit_place = np.concatenate([plan.visit_place, spill.visit_place])
        visit_arrive = np.concatenate([plan.visit_arrive, spill.visit_arrive])
        visit_leave = np.concatenate([plan.visit_leave, spill.visit_leave])

        # --- crowd: people in view per camera and minute
        m_a = (ps.t_in - base) // MINUTE_MS
        m_b = np.minimum((ps.t_out - base) // MINUTE_MS, m_a + 5)
        flat = []
        for k in range(6):
            sel = (m_a + k <= m_b) & (m_a + k < MINUTES) & (m_a + k >= 0)
            flat.append(ps.camera[sel] * MINUTES + m_a[sel] + k)
        counts = np.bincount(np.concatenate(flat), minlength=n_cam * MINUTES).reshape(n_cam, -1)
        for ci, pl in enumerate(self.inside_place):
            if pl < 0:
                continue
            sel = visit_place == pl
            a = np.clip((visit_arrive[sel] - base) // MINUTE_MS, 0, MINUTES)
            b = np.clip((visit_leave[sel] - base) // MINUTE_MS + 1, 0, MINUTES)
            diff = np.bincount(a, minlength=MINUTES + 1) - np.bincount(b, minlength=MINUTES + 1)
            present = np.cumsum(diff)[:MINUTES]
            counts[ci] += rng.binomial(present, INSIDE_VIEW)
        observed = rng.binomial(counts, COUNT_DETECT) + rng.poisson(0.1 + 0.03 * counts)
        cam_ix, minute = np.divmod(np.arange(n_cam * MINUTES), MINUTES)
        crowd_t = base + (minute + 1) * MINUTE_MS + self.offsets[cam_ix]

        # --- face matches: one search per captured face at a recognition camera
        f = np.flatnonzero(self.face_cam[ps.camera])
        person, nf = ps.person[f], len(f)
        captured = rng.random(nf) < self.recognition.capture_rate
        own = self.enrolled[person]
        hit_rate = 1 - self.miss[ps.camera[f]]
        true_hit = captured & (own >= 0) & (rng.random(nf) < hit_rate)
        false_hit = captured & ~true_hit & (rng.random(nf) < self.fmr[person])
        w = len(self.watchlist)
        other = rng.integers(0, max(w - 1, 1), size=nf)
        other = np.where((own >= 0) & (other >= own), other + 1, other) % max(w, 1)
        like = np.where(true_hit, rng.uniform(0.8, 0.99, nf), rng.uniform(0.6, 0.8, nf))
        latency = rng.integers(300, 2500, size=nf)
        hit = (true_hit | false_hit) if w else np.zeros(nf, dtype=bool)
        face_t = ps.t_pass[f] + latency

        # --- objects: rare, more where more people pass
        lam = 3e-5 + 6e-5 * counts
        n_obj = rng.poisson(lam)
        oc, om = np.nonzero(n_obj)
        oc = np.repeat(oc, n_obj[oc, om])
        om = np.repeat(om, n_obj[n_obj > 0])
        no = len(oc)
        shares = np.array([c[1] for c in OBJECT_CLASSES])
        cls = rng.choice(len(OBJECT_CLASSES), size=no, p=shares / shares.sum())
        real = rng.random(no) < np.array([c[2] for c in OBJECT_CLASSES])[cls]
        o_like = np.where(real, rng.uniform(0.75, 0.97, no), rng.uniform(0.5, 0.85, no))
        obj_t = base + om * MINUTE_MS + rng.integers(0, MINUTE_MS, size=no)

        z = np.zeros
        t = np.concatenate([crowd_t, face_t[hit], obj_t])
        typ = np.concatenate(
            [z(len(crowd_t), np.int8), np.ones(hit.sum(), np.int8), np.full(no, 2, np.int8)]
        )
        cam = np.concatenate([cam_ix, ps.camera[f][hit], oc])
        a = np.concatenate([observed.ravel(), np.where(true_hit, own, other)[hit], cls])
        b = np.concatenate([counts.ravel(), person[hit], real.astype(np.int64)])
        c = np.concatenate(
            [z(len(crowd_t), np.int64), true_hit[hit].astype(np.int64), z(no, np.int64)]
        )
        lk = np.concatenate([z(len(crowd_t)), like[hit], o_like])
        order = np.argsort(t, kind="stable")
        return _DayEvents(t[order], typ[order], cam[order], a[order], b[order], c[order], lk[order])

    def stream(self, t_start: int, t_end: int) -> Iterator[tuple]:
        """(t_ms, kind, source, data, (x, y), truth) in time order within [t_start, t_end)."""
        hh = self.town.households
        carry: _DayEvents | None = None  # a face seen just before midnight, reported after
        for day in range(t_start // DAY_MS, (t_end - 1) // DAY_MS + 1):
            ev = self.day_events(day)
            if carry is not None:
                ev = _merge(carry, ev)
            cut = int(np.searchsorted(ev.t, (day + 1) * DAY_MS))
            carry = _take(ev, slice(cut, None))
            ev = _take(ev, slice(0, cut))
            lo, hi = np.searchsorted(ev.t, [t_start, t_end])
            # plain Python numbers, taken once per day rather than per event
            lo, hi = int(lo), int(hi)
            ts, typs, cams = ev.t[lo:hi].tolist(), ev.typ[lo:hi].tolist(), ev.cam[lo:hi].tolist()
            a_s, b_s = ev.a[lo:hi].tolist(), ev.b[lo:hi].tolist()
            for j in range(lo, hi):
                k = j - lo
                cam = self.cameras[cams[k]]
                xy = (cam.x, cam.y)
                typ = typs[k]
                if typ == 0:
                    data = {"count": a_s[k], "window_s": WINDOW_S}
                    yield ts[k], "camera.crowd", cam.id, data, xy, {"true_count": b_s[k]}
                elif typ == 1:
                    e = self.watchlist[int(ev.a[j])]
                    p = int(ev.b[j])
                    data = {
                        "enrollment_id": e.id,
                        "name": e.name,
                        "likelihood": round(float(ev.like[j]), 3),
                        "watchlist": e.watchlist,
                    }
                    truth = {
                        "resident": Population.id(p),
                        "household": hh.id(int(self.pop.household[p])),
                        "true_match": bool(ev.c[j]),
                        "sex": "MF"[int(self.pop.sex[p])],
                        "age_group": AGE_GROUPS[int(self.age_group[p])],
                        "enrollment_id": e.id,
                        "enrolled_resident": None
                        if e.resident is None
                        else Population.id(e.resident),
                    }
                    yield int(ev.t[j]), "camera.face_match", cam.id, data, xy, truth
                else:
                    name, _, _, real_cause, false_cause = OBJECT_CLASSES[int(ev.a[j])]
                    real = bool(ev.b[j])
                    data = {"class_type": name, "likelihood": round(float(ev.like[j]), 3)}
                    truth = {"true_object": real, "cause": real_cause if real else false_cause}
                    yield int(ev.t[j]), "camera.object", cam.id, data, xy, truth


def _take(ev: _DayEvents, sel: slice | np.ndarray) -> _DayEvents:
    return _DayEvents(*(getattr(ev, f)[sel] for f in _DayEvents.__dataclass_fields__))


def _merge(a: _DayEvents, b: _DayEvents) -> _DayEvents:
    both = _DayEvents(
        *(np.concatenate([getattr(a, f), getattr(b, f)]) for f in _DayEvents.__dataclass_fields__)
    )
    return _take(both, np.argsort(both.t, kind="stable"))
