"""Is the claimed insulation-attendance finding still discoverable under a policy?

Smart Aqkol claimed that children from poorly insulated homes miss school more. The
registers (``school.attendance``) are counts per class, with no pupil in them, so an
analyst can only link a class to homes through the school: pupils go to the nearest
school (the simulator assigns them so, as a catchment would), so the homes around a
school are its pupils' homes. From what a policy keeps, the analyst

1. ranks the homes by heating: gas per degree-day of each household's series (degree-days
   from the kept air temperature; on one day they are the same for every home, so the
   ranking needs no temperature), keeps the homes heated by gas (the others cook with it
   and heat otherwise), and calls the top third of them poorly insulated;
2. gives each home to its nearest school (the school's place is the register's ``geo``)
   and each school the share of its heated homes that are poorly insulated;
3. regresses each class's absence rate on its school's share (an ecological regression,
   Goodman 1953: with shares from 0 to 1, the slope is the absence of children from
   poorly insulated homes minus that of the others) and tests the slope one-sided at the
   level the regressor varies: the schools (see :func:`school_test`).

The regressor is a school's share: it takes one value per school, so the classes of a
school are not independent observations of it. Treating them so (``linregress`` over
class-days, kept as ``insulation_p_naive`` for comparison) overstates the evidence, and so
do errors clustered by school when there are only three (``insulation_p_cluster``). With
the town's three schools the school-level test has one degree of freedom: it can show a
gap only when the three schools line up almost exactly, and cannot tell a modest gap
from the schools' other differences; under three schools it gives no p at all.

The finding is ``found`` when the slope is positive at p < 0.05 (school level). It is
NaN/False when the policy removed the link: no registers, no household gas series
(readings summed per block keep no home's heating), or no place for the homes or the
schools. The truth's gap (poor minus good, from who was really absent) is reported beside
it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from services.events.geo import to_xy
from services.events.town import DAY_MS
from services.lab.registry import register

HEATING_BASE_C = 15.5  # the usual heating base (simulator/gas.py uses the same)
HEATED_SHARE_OF_MEDIAN = 0.25  # a series under this share of the median is not gas-heated
POOR_QUANTILE = 2 / 3  # the top third of the heated homes by gas per degree-day
LOCAL_OFFSET_MS = 6 * 3_600_000
NAN = float("nan")


def _nothing(truth_gap: float) -> dict[str, float]:
    return {
        "insulation_gap_pp": NAN,
        "insulation_p": NAN,
        "insulation_p_cluster": NAN,
        "insulation_p_naive": NAN,
        "insulation_found": 0.0,
        "insulation_classes": 0.0,
        "insulation_schools": 0.0,
        "insulation_gap_true_pp": truth_gap,
    }


def school_test(x: np.ndarray, y: np.ndarray, school: np.ndarray) -> dict[str, float]:
    """Slope of ``y`` (class absence) on ``x`` (its school's share), in percentage points,
    and three one-sided p-values for it:

    - ``p``: at the regressor's level, the schools: their mean absence regressed on their
      share (statsmodels WLS, weighted by classes), Student's t on schools - 2 degrees of
      freedom (NaN under three schools);
    - ``p_cluster``: class-level OLS with errors clustered by school (t on schools - 1
      degrees of freedom). With three clusters these errors are known to be far too small
      (Cameron, Gelbach and Miller 2008): reported to show it, not used;
    - ``p_naive``: every class taken as independent (``linregress``)."""
    # the two estimators, not statsmodels.api (which imports every model and plot: 0.3 s)
    from statsmodels.regression.linear_model import OLS, WLS
    from statsmodels.tools.tools import add_constant

    naive = stats.linregress(x, y, alternative="greater")
    per = pd.DataFrame({"x": x, "y": y, "s": school}).groupby("s")
    level = per.agg(x=("x", "first"), y=("y", "mean"), n=("y", "size"))
    schools = len(level)
    p = p_cluster = NAN
    if schools >= 3 and np.ptp(level["x"].to_numpy()) > 0:
        fit = WLS(level["y"], add_constant(level["x"]), weights=level["n"]).fit()
        t = float(fit.params.iloc[1] / fit.bse.iloc[1]) if fit.bse.iloc[1] > 0 else NAN
        p = float(stats.t.sf(t, schools - 2)) if np.isfinite(t) else NAN
        codes = pd.factorize(school)[0]
        cl = OLS(y, add_constant(x)).fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
        tc = float(cl.tvalues[1])
        p_cluster = float(stats.t.sf(tc, schools - 1)) if np.isfinite(tc) else NAN
    return {
        "gap_pp": 100.0 * float(naive.slope),
        "p": p,
        "p_cluster": p_cluster,
        "p_naive": float(naive.pvalue),
        "schools": float(schools),
    }


def _date(t_ms: np.ndarray) -> np.ndarray:
    return (t_ms + LOCAL_OFFSET_MS) // DAY_MS


def degree_days(env: pd.DataFrame) -> pd.Series:
    """Degree-days per local day (index: days since 1970) from kept air temperatures."""
    if env.empty or "temperature_c" not in env:
        return pd.Series(dtype=float)
    t = pd.to_numeric(env["temperature_c"], errors="coerce")
    mean = t.groupby(_date(env["t_ms"].to_numpy(np.int64))).mean()
    return (HEATING_BASE_C - mean).clip(lower=0.0)


def home_heating(gas: pd.DataFrame, env: pd.DataFrame) -> pd.DataFrame:
    """Per household series and local day: x, y, gas per reading and degree-day, heated,
    poor (the top third of the day's heated series)."""
    g = gas[~gas["agg"].astype(bool)] if "agg" in gas else gas
    g = g.dropna(subset=["lat", "lon"])
    if g.empty or "m3" not in g:
        return pd.DataFrame(columns=["series", "day", "x", "y", "rate", "heated", "poor"])
    series = g["household"] if "household" in g else g["source"]
    df = pd.DataFrame(
        {
            "series": series.to_numpy(),
            "day": _date(g["t_ms"].to_numpy(np.int64)),
            "lat": g["lat"].to_numpy(float),
            "lon": g["lon"].to_numpy(float),
            "m3": pd.to_numeric(g["m3"], errors="coerce").to_numpy(float),
        }
    )
    h = df.groupby(["series", "day"]).agg(
        lat=("lat", "first"), lon=("lon", "first"), rate=("m3", "mean")
    )
    h = h.reset_index()
    dd = degree_days(env)
    per_dd = h["day"].map(dd).fillna(1.0).where(lambda v: v > 0, 1.0)
    h["rate"] = h["rate"] / per_dd.to_numpy()
    med = h.groupby("day")["rate"].transform("median")
    h["heated"] = h["rate"] > HEATED_SHARE_OF_MEDIAN * med
    cut = h[h["heated"]].groupby("day")["rate"].quantile(POOR_QUANTILE)
    h["poor"] = h["heated"] & (h["rate"] > h["day"].map(cut))
    xy = np.array([to_xy(a, b) for a, b in zip(h["lat"], h["lon"], strict=True)])
    h["x"], h["y"] = (xy[:, 0], xy[:, 1]) if len(xy) else ([], [])
    return h[["series", "day", "x", "y", "rate", "heated", "poor"]]


def true_gap(truths: list[dict[str, Any]]) -> float:
    """Absence of pupils from poorly insulated homes minus that of well insulated ones, in
    percentage points, from the registers' truth (who was really absent)."""
    a = {"poor": 0, "good": 0}
    n = {"poor": 0, "good": 0}
    for t in truths:
        for c in a:
            a[c] += int(t.get("absent_by_insulation", {}).get(c, 0))
            n[c] += int(t.get("enrolled_by_insulation", {}).get(c, 0))
    if not n["poor"] or not n["good"]:
        return NAN
    return 100.0 * (a["poor"] / n["poor"] - a["good"] / n["good"])


def insulation_attendance(
    attendance: pd.DataFrame,
    gas: pd.DataFrame,
    env: pd.DataFrame | None = None,
    truths: list[dict[str, Any]] | None = None,
    alpha: float = 0.05,
) -> dict[str, float]:
    """From kept registers, gas readings and temperatures: the measured absence gap (poorly
    insulated minus the others, percentage points), its one-sided p, whether it is found
    (gap > 0 at p < ``alpha``), the classes used, and the truth's gap (see the module)."""
    truth_gap = true_gap(truths or [])
    env = env if env is not None else pd.DataFrame()
    need = {"enrolled", "absent", "lat", "lon"}
    if attendance.empty or not need <= set(attendance) or gas.empty:
        return _nothing(truth_gap)
    reg = attendance.dropna(subset=["lat", "lon"])
    reg = reg[pd.to_numeric(reg["enrolled"], errors="coerce") > 0]
    homes = home_heating(gas, env)
    homes = homes[homes["heated"]]
    if reg.empty or homes.empty:
        return _nothing(truth_gap)
    # a school is its register's place: registers at the same point are one school
    place = reg["lat"].round(6).astype(str) + "," + reg["lon"].round(6).astype(str)
    schools = reg.assign(place=place).groupby("place")[["lat", "lon"]].first()
    sxy = np.array([to_xy(a, b) for a, b in zip(schools["lat"], schools["lon"], strict=True)])
    d2 = (homes["x"].to_numpy()[:, None] - sxy[None, :, 0]) ** 2 + (
        homes["y"].to_numpy()[:, None] - sxy[None, :, 1]
    ) ** 2
    nearest = schools.index.to_numpy()[d2.argmin(axis=1)]
    share = pd.Series(homes["poor"].to_numpy(float)).groupby(nearest).mean()
    x = place.map(share).to_numpy(float)
    y = (pd.to_numeric(reg["absent"], errors="coerce") / pd.to_numeric(reg["enrolled"])).to_numpy(
        float
    )
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0:
        out = _nothing(truth_gap)
        out["insulation_classes"] = float(len(x))
        return out
    r = school_test(x, y, place.to_numpy()[ok])
    return {
        "insulation_gap_pp": r["gap_pp"],
        "insulation_p": r["p"],
        "insulation_p_cluster": r["p_cluster"],
        "insulation_p_naive": r["p_naive"],
        "insulation_found": float(r["gap_pp"] > 0 and r["p"] < alpha),
        "insulation_classes": float(len(x)),
        "insulation_schools": r["schools"],
        "insulation_gap_true_pp": truth_gap,
    }


NAMES = tuple(
    f"insulation_{k}"
    for k in ("gap_pp", "p", "p_cluster", "p_naive", "found", "classes", "schools", "gap_true_pp")
)


@register("insulation", NAMES, inputs=("kept",))
def measure(ctx: Any) -> None:
    f = ctx.frames
    raw = ctx.raw.get("school.attendance")
    ids = [] if raw is None else [ctx.day.events[i][0] for i in raw["orig"]]
    att = [ctx.day.truths.get(eid, {}) for eid in ids]
    got = insulation_attendance(
        f.get("school.attendance", ctx.empty),
        f.get("gas.reading", ctx.empty),
        f.get("env.reading", ctx.empty),
        att,
    )
    for k, v in got.items():
        ctx.put(k, v)
