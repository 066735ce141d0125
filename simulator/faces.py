"""Simulated face recognition: a watch list and published error rates, no face model.

Each time a person passes a recognition camera, the camera may capture a usable face
(``capture_rate``, cf. NIST IR 8173: identification in video ranges from ~60% to >99% by
quality) and search it against the watch list:

- a watch-listed person is matched to their own entry unless the search misses: the miss
  rate runs from 0.40 at the poorest to 0.05 at the best camera image quality (or a fixed
  ``true_match_rate``) (likelihood 0.80-0.99);
- anyone may be matched wrongly to a random entry (likelihood 0.60-0.80) with a false-positive
  identification rate of about ``fpir`` per search (NIST FRVT 1:N reports miss rates at
  FPIR = 0.003), ``female_fp_ratio`` times higher for women than for men (NIST IR 8280:
  2-5x), and somewhat higher for children and the elderly.

Watch lists: "wanted" and "missing" are the lawful uses the sandbox models; "activist" is a
list of MISUSE, kept so that students see what the same machinery does to people listed
for their opinions (as reported in Kazakhstan, see CONTEXT.md). It is labelled as such
wherever it appears.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.names import NameMaker
from simulator.people import AGE_GROUPS, ROLE_PUPIL, ROLE_RETIREE, Population, age_group

# list -> (entries, of which residents of Aqkol)
WATCHLIST_SIZES: dict[str, tuple[int, int]] = {
    "wanted": (6, 2),
    "missing": (3, 1),
    "activist": (5, 4),  # MISUSE demo: a list of people watched for their opinions
}


@dataclass(frozen=True)
class Enrollment:
    """One watch-list entry (ONVIF EnrollmentID)."""

    id: str
    name: str
    watchlist: str  # "wanted", "missing" or "activist" (the misuse demo)
    resident: int | None  # index in the town's population, None if not living in Aqkol
    sex: int  # 0 = male, 1 = female
    age_group: str


def build_watchlist(
    pop: Population,
    rng: np.random.Generator,
    sizes: dict[str, tuple[int, int]] | None = None,
) -> list[Enrollment]:
    """A small synthetic watch list; some entries are residents who walk the town.

    ``sizes``: list -> (entries, of which residents of Aqkol), every list of
    :data:`WATCHLIST_SIZES` in its order (default: those sizes)."""
    sizes = WATCHLIST_SIZES if sizes is None else sizes
    if list(sizes) != list(WATCHLIST_SIZES):
        raise ValueError(f"watch-list sizes are given for {', '.join(WATCHLIST_SIZES)}, in order")
    for wl, (size, residents) in sizes.items():
        if not 0 <= residents <= size:
            raise ValueError(f"watch list {wl!r}: {residents} residents of {size} entries")
    names = NameMaker(rng)
    taken: set[int] = set()
    out: list[Enrollment] = []
    adult = (pop.age >= 18) & (pop.age < 65)
    for wl, (size, residents) in sizes.items():
        if wl == "wanted":
            pool = np.flatnonzero(adult & (pop.role != ROLE_RETIREE))
        elif wl == "missing":
            pool = np.flatnonzero((pop.role == ROLE_PUPIL) & (pop.age >= 9))  # a missing child
        else:
            pool = np.flatnonzero(adult & (pop.age >= 20) & (pop.age <= 55))
        pool = np.array([i for i in pool if int(i) not in taken])
        chosen = (
            rng.choice(pool, size=min(residents, len(pool)), replace=False) if len(pool) else []
        )
        for k in range(size):
            if k < len(chosen):
                r = int(chosen[k])
                taken.add(r)
                sex = int(pop.sex[r])
                group = AGE_GROUPS[int(age_group(pop.age[r]))]
                resident: int | None = r
            else:
                sex = int(rng.random() < (0.25 if wl == "wanted" else 0.5))
                group = "18-64"
                resident = None
            eid = f"wl-{len(out) + 1:03d}"
            out.append(Enrollment(eid, names.name(bool(sex)), wl, resident, sex, group))
    return out


@dataclass(frozen=True)
class Recognition:
    """Error rates of the simulated recognition (see the module docstring)."""

    fpir: float = 0.003  # false matches per search, population average (about)
    female_fp_ratio: float = 3.0  # women vs men (NIST IR 8280: 2-5x)
    child_fp_factor: float = 1.5
    elderly_fp_factor: float = 1.3
    capture_rate: float = 0.7  # a searchable face per pass of a recognition camera
    # 1 - FNIR for a captured watch-listed face; None: from the camera's image quality
    true_match_rate: float | None = None
    miss_rate_best: float = 0.05  # FNIR at image quality 1
    miss_rate_worst: float = 0.40  # FNIR at image quality 0

    def miss_rate(self, quality: np.ndarray | float) -> np.ndarray:
        """Miss rate (FNIR) of a captured watch-listed face at cameras of ``quality`` (0-1)."""
        q = np.clip(np.asarray(quality, dtype=float), 0, 1)
        if self.true_match_rate is not None:
            return np.full(q.shape, 1 - self.true_match_rate)
        return self.miss_rate_worst - (self.miss_rate_worst - self.miss_rate_best) * q

    def false_match_rate(self, pop: Population) -> np.ndarray:
        """Per-search false-match probability for each resident."""
        male = self.fpir * 2 / (1 + self.female_fp_ratio)
        rate = np.where(pop.sex == 1, male * self.female_fp_ratio, male)
        group = age_group(pop.age)
        rate = np.where(group <= 1, rate * self.child_fp_factor, rate)
        rate = np.where(group == 3, rate * self.elderly_fp_factor, rate)
        return np.clip(rate, 0, 1)
