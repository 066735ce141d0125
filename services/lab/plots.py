"""Plots of an experiment's tidy results: the privacy-utility frontier, unicity by points.

The tables behind them are pure functions (:func:`frontier_table`, :func:`unicity_table`):
means over seeds with their 95% intervals (Student's t) and the number of seeds and of
people behind each point. The figures are written as PNG
(matplotlib, Agg) and HTML (plotly, with plotly.js embedded: they open offline); every line
or point has its own colour and marker, error bars show the intervals, and the unicity
plot carries the reference points of de Montjoye et al. (2013). The Lab page's figures and
tables are written as JSON beside the results (:func:`write_page_json`), for the API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.utils import PlotlyJSONEncoder

from services.events.labfiles import FIGURE_SUFFIX, TABLE_SUFFIX

PARAMS = ["h3_res", "time_bucket_min", "epsilon", "salt", "k_min", "retention_days"]


def params_of(df: pd.DataFrame) -> list[str]:
    """The cell parameters of a results table: the lab's, then the swept town parameters."""
    from simulator.model import TOWN_PARAMETERS

    return [
        *(p for p in PARAMS if p in df.columns),
        *(c for c in df.columns if c in TOWN_PARAMETERS),
    ]


# Okabe-Ito colours (distinguishable with colour-blindness) and a marker each
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
PLOTLY_MARKERS = {"o": "circle", "s": "square", "^": "triangle-up", "D": "diamond",
                  "v": "triangle-down", "P": "cross", "X": "x", "*": "star"}  # fmt: skip
# de Montjoye et al., Sci. Rep. 3:1376 (2013): 1.5 million people, antennas, hourly
PAPER_POINTS = [(2, 0.50), (4, 0.95)]
PAPER_LABEL = "de Montjoye 2013 (1.5M people, antennas, hourly)"


def style(i: int) -> tuple[str, str]:
    """The colour and marker of the ``i``-th line (7 colours, 8 markers: no two of the
    first 56 alike)."""
    return COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]


def label(row: pd.Series | dict) -> str:
    """A short name of a cell's parameters beyond the policy (``res 8, 60 min``)."""
    parts = []
    get = row.get
    if pd.notna(get("h3_res")):
        parts.append(f"res {int(get('h3_res'))}")
    if pd.notna(get("time_bucket_min")) and int(get("time_bucket_min")) != 60:
        parts.append(f"{int(get('time_bucket_min'))} min")
    if pd.notna(get("epsilon")):
        parts.append(f"eps {get('epsilon'):g}")
    if pd.notna(get("salt")) and get("salt"):
        parts.append(f"salt {get('salt')}")
    if pd.notna(get("k_min")):
        parts.append(f"k {int(get('k_min'))}")
    if pd.notna(get("retention_days")):
        parts.append(f"kept {get('retention_days'):g} d")
    from simulator.model import TOWN_PARAMETERS

    for name in TOWN_PARAMETERS:  # swept town parameters
        v = get(name)
        if v is not None and pd.notna(v):
            parts.append(f"{name} {v:g}")
    return ", ".join(parts)


def _stats(sel: pd.DataFrame, keys: list[str], name: str) -> pd.DataFrame:
    """Per ``keys``: mean of ``value`` over the seeds as ``name``, its 95% interval
    (``name_lo``, ``name_hi``; NaN with one seed) and the seeds behind it (``name_n``)."""
    from scipy import stats

    cols = [*keys, name, f"{name}_lo", f"{name}_hi", f"{name}_n"]
    sel = sel.dropna(subset=["value"])
    if sel.empty:
        return pd.DataFrame(columns=cols)
    g = sel.groupby(keys, dropna=False)["value"].agg(["mean", "std", "count"]).reset_index()
    n = g["count"].to_numpy(float)
    half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * g["std"].to_numpy() / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)
    g[name], g[f"{name}_lo"], g[f"{name}_hi"] = g["mean"], g["mean"] - half, g["mean"] + half
    g[f"{name}_n"] = g["count"]
    return g[cols]


def _select(df: pd.DataFrame, metric: str, points: int | None) -> pd.DataFrame:
    sel = df[df["metric"] == metric]
    if points is not None and sel["points"].notna().any():
        sel = sel[sel["points"] == points]
    return sel[sel["rule"].isna()] if "rule" in sel else sel


def _labels(t: pd.DataFrame) -> list[str]:
    return [r["policy"] + (f" ({label(r)})" if label(r) else "") for r in t.to_dict("records")]


def frontier_table(
    df: pd.DataFrame,
    privacy: str = "unicity",
    points: int | None = 4,
    utility: str = "heatmap_rel_error",
) -> pd.DataFrame:
    """One row per (policy, parameters): privacy risk and utility lost, means over seeds with
    their intervals (``privacy_lo`` ... ``utility_n``)."""
    keys = ["policy", *params_of(df)]
    a = _stats(_select(df, privacy, points), keys, "privacy")
    b = _stats(_select(df, utility, None), keys, "utility")
    t = a.merge(b, on=keys, how="outer")
    t["label"] = _labels(t)
    return t.sort_values(["privacy", "utility"], na_position="last").reset_index(drop=True)


def unicity_table(df: pd.DataFrame, metric: str = "unicity") -> pd.DataFrame:
    """``metric`` (unicity, or unicity_all: the share of all residents) by number of known
    points, per (policy, parameters): means over seeds (``value``), 95% intervals (``lo``,
    ``hi``), seeds (``n``) and the people with that many points (``people``)."""
    keys = ["policy", *params_of(df), "points"]
    t = _stats(df[df["metric"] == metric], keys, "value")
    t = t.rename(columns={"value_lo": "lo", "value_hi": "hi", "value_n": "n"})
    people = df[df["metric"] == "traced_units"].groupby(keys, dropna=False)["value"].mean()
    t = t.merge(people.rename("people").reset_index(), on=keys, how="left")
    t["label"] = _labels(t)
    return t


def _err(t: pd.DataFrame, col: str, lo: str, hi: str) -> dict:
    return {
        "type": "data",
        "symmetric": False,
        "array": (t[hi] - t[col]).fillna(0).to_numpy(),
        "arrayminus": (t[col] - t[lo]).fillna(0).to_numpy(),
        "visible": True,
    }


def frontier_figure(t: pd.DataFrame, privacy: str, utility: str, title: str = "") -> go.Figure:
    """The frontier as a plotly scatter: each point its own colour and marker, its label
    (points that coincide share one), error bars from the intervals and the seeds behind
    it on hover; each point's customdata is its policy id."""
    t = t.assign(shown=shared_labels(t))
    styles = [style(i) for i in range(len(t))]
    has_ci = "privacy_lo" in t
    seeds = t["privacy_n"] if "privacy_n" in t else pd.Series(np.nan, index=t.index)
    fig = go.Figure(
        go.Scatter(
            x=t["utility"],
            y=t["privacy"],
            mode="markers+text",
            text=t["shown"],
            textposition="top center",
            customdata=t["policy"],
            meta=t["label"].tolist(),
            hovertext=[
                f"{lab}<br>seeds {int(n)}" if pd.notna(n) else lab
                for lab, n in zip(t["label"], seeds, strict=True)
            ],
            error_y=_err(t, "privacy", "privacy_lo", "privacy_hi") if has_ci else None,
            error_x=_err(t, "utility", "utility_lo", "utility_hi") if has_ci else None,
            hovertemplate="%{hovertext}<br>"
            + utility
            + " %{x:.3f}<br>"
            + privacy
            + " %{y:.3f}<extra></extra>",
            marker={
                "size": 12,
                "color": [c for c, _m in styles],
                "symbol": [PLOTLY_MARKERS[m] for _c, m in styles],
            },
        )
    )
    fig.update_layout(
        title=title or "Privacy-utility frontier",
        xaxis_title=f"{utility} (utility lost; bars: 95% CI over seeds)",
        yaxis_title=f"{privacy} (privacy risk)",
        template="plotly_white",
        height=560,
    )
    return fig


def _ylabel(metric: str) -> str:
    return (
        "share of all residents singled out"
        if metric == "unicity_all"
        else ("share of traced people unique")
    )


def unicity_figure(t: pd.DataFrame, title: str = "", metric: str = "unicity") -> go.Figure:
    """Unicity against the number of known points, a line per policy and parameters (own
    colour and marker), error bars, the people behind each point on hover, and the paper's
    reference points."""
    fig = go.Figure()
    for i, (name, g) in enumerate(t.groupby("label", sort=True)):
        g = g.sort_values("points")
        colour, marker = style(i)
        fig.add_trace(
            go.Scatter(
                x=g["points"],
                y=g["value"],
                mode="lines+markers",
                name=name,
                error_y=_err(g, "value", "lo", "hi") if "lo" in g else None,
                marker={"color": colour, "symbol": PLOTLY_MARKERS[marker], "size": 9},
                line={"color": colour},
                customdata=g.get("people", pd.Series(np.nan, index=g.index)),
                hovertemplate=f"{name}<br>p %{{x:.0f}}: %{{y:.3f}}<br>people with p points "
                "%{customdata:,.0f}<extra></extra>",
            )
        )
    if metric == "unicity":  # the paper's shares are of the people traced
        x, y = zip(*PAPER_POINTS, strict=True)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                name=PAPER_LABEL,
                marker={"symbol": "star", "size": 16, "color": "black"},
            )
        )
    fig.update_layout(
        title=title or "Unicity by known points",
        xaxis_title="known points (p)",
        yaxis_title=_ylabel(metric),
        yaxis_range=[0, 1.05],
        template="plotly_white",
        height=560,
    )
    return fig


def resolution_table(df: pd.DataFrame, points: int = 4) -> pd.DataFrame:
    """Unicity at ``points`` by time bucket, per spatial resolution (means over seeds and
    their intervals)."""
    sel = df[(df["metric"] == "unicity") & (df["points"] == points)]
    t = _stats(sel, ["policy", "h3_res", "time_bucket_min"], "value")
    t = t.rename(columns={"value_lo": "lo", "value_hi": "hi", "value_n": "n"})
    t["space"] = ["camera" if pd.isna(r) else f"H3 res {int(r)}" for r in t["h3_res"]]
    return t


def _errorbars(ax, x, g: pd.DataFrame, col: str, lo: str, hi: str, colour: str, marker: str, **kw):
    yerr = np.vstack([(g[col] - g[lo]).fillna(0), (g[hi] - g[col]).fillna(0)])
    ax.errorbar(x, g[col], yerr=yerr, color=colour, marker=marker, capsize=3, **kw)


def _resolution_png(t: pd.DataFrame, points: int, title: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, ((policy, space), g) in enumerate(t.groupby(["policy", "space"], sort=False)):
        g = g.sort_values("time_bucket_min")
        colour, marker = style(i)
        _errorbars(
            ax,
            g["time_bucket_min"],
            g,
            "value",
            "lo",
            "hi",
            colour,
            marker,
            label=f"{policy}: {space}",
        )
    ax.set_xscale("log")
    ticks = sorted(t["time_bucket_min"].dropna().unique())
    ax.set_xticks(ticks, [f"{int(b)}" for b in ticks])
    ax.set_xlabel("time bucket (minutes, log scale; 1 = the stored precision)")
    ax.set_ylabel(f"unicity with {points} known points")
    ax.set_ylim(0, 1.05)
    ax.set_title(title + " (95% CI over seeds)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_plots(df: pd.DataFrame, exp, out: Path) -> list[Path]:
    """frontier.png/html and unicity.png/html (and resolution.png) in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = exp.frontier
    paths = []
    ft = frontier_table(df, f.privacy, f.points, f.utility)
    privacy = f.privacy + (f" (p={f.points})" if f.points and f.privacy.startswith("unic") else "")
    frontier_figure(ft, privacy, f.utility, exp.title).write_html(
        out / "frontier.html", include_plotlyjs=True, full_html=True
    )
    fig, ax = plt.subplots(figsize=(9, 6))
    for i, r in enumerate(ft.to_dict("records")):
        colour, marker = style(i)
        one = pd.DataFrame([r])
        yerr = np.vstack(
            [(one["privacy"] - one["privacy_lo"]), (one["privacy_hi"] - one["privacy"])]
        )
        xerr = np.vstack(
            [(one["utility"] - one["utility_lo"]), (one["utility_hi"] - one["utility"])]
        )
        ax.errorbar(
            one["utility"],
            one["privacy"],
            yerr=np.nan_to_num(yerr),
            xerr=np.nan_to_num(xerr),
            color=colour,
            marker=marker,
            markersize=9,
            capsize=3,
            linestyle="none",
            label=r["label"],
        )
    for r, text in zip(ft.itertuples(), shared_labels(ft, 2), strict=True):
        if text and " / " in text:  # points that coincide: say which
            ax.annotate(
                text.replace(" / ", "\n"),
                (r.utility, r.privacy),
                fontsize=7,
                xytext=(10, 4),
                textcoords="offset points",
                va="bottom",
            )
    ax.set_xlabel(f"{f.utility} (utility lost)")
    ax.set_ylabel(f"{privacy} (privacy risk)")
    seeds = len(exp.seeds)
    ax.set_title(f"{exp.title}\nmeans and 95% CI over {seeds} seeds", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "frontier.png", dpi=120)
    plt.close(fig)
    paths += [out / "frontier.html", out / "frontier.png"]
    metric = f.privacy if f.privacy in ("unicity", "unicity_all") else "unicity"
    ut = unicity_table(df, metric)
    if not ut.empty:
        unicity_figure(ut, exp.title, metric).write_html(
            out / "unicity.html", include_plotlyjs=True, full_html=True
        )
        fig, ax = plt.subplots(figsize=(9, 6))
        groups = list(ut.groupby("label", sort=True))
        for i, (name, g) in enumerate(groups):
            g = g.sort_values("points")
            colour, marker = style(i)
            dx = (i - (len(groups) - 1) / 2) * 0.025  # equal lines stay visible side by side
            at = g[g["points"] == (f.points or 4)] if (g["points"] == (f.points or 4)).any() else g
            people = at["people"].dropna()
            tag = (
                f" (n≈{people.iloc[0]:,.0f} with {int(at['points'].iloc[0])}+ points)"
                if len(people)
                else ""
            )
            _errorbars(
                ax, g["points"] + dx, g, "value", "lo", "hi", colour, marker, label=f"{name}{tag}"
            )
        if metric == "unicity":  # the paper's shares are of the people traced
            x, y = zip(*PAPER_POINTS, strict=True)
            ax.scatter(x, y, marker="*", s=220, color="black", zorder=5, label=PAPER_LABEL)
        ax.set_xlabel("known points (p)")
        ax.set_ylabel(_ylabel(metric))
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{exp.title}\nmeans and 95% CI over {seeds} seeds", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "unicity.png", dpi=120)
        plt.close(fig)
        paths += [out / "unicity.html", out / "unicity.png"]
    rt = resolution_table(df, f.points or 4)
    if rt["h3_res"].nunique(dropna=False) > 1 or rt["time_bucket_min"].nunique() > 1:
        _resolution_png(rt, f.points or 4, exp.title, out / "resolution.png")
        paths.append(out / "resolution.png")
    return paths


def shared_labels(t: pd.DataFrame, digits: int = 3) -> list[str]:
    """Each point's label, or all labels at its place (to ``digits``) joined on the first
    point there (and nothing on the others), so that points that coincide do not print
    over each other."""
    key = list(zip(t["utility"].round(digits), t["privacy"].round(digits), strict=True))
    groups: dict[tuple, list[str]] = {}
    for k, lab in zip(key, t["label"], strict=True):
        groups.setdefault(k, []).append(lab)
    seen: set[tuple] = set()
    out = []
    for k in key:
        out.append("" if k in seen else " / ".join(groups[k]))
        seen.add(k)
    return out


# The Lab page's figures and tables, as JSON beside results.csv: the API serves them, the
# dashboard draws them (it never reads the lab's files or imports the lab)


def page_tables(df: pd.DataFrame, meta: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The tables behind the Lab page's figures: the frontier of ``meta["frontier"]`` (its
    points with a privacy value; an unmeasured utility as 0) and unicity by known points."""
    f = meta.get("frontier") or {}
    t = frontier_table(
        df,
        f.get("privacy", "unicity_all"),
        f.get("points", 4),
        f.get("utility", "heatmap_rel_error"),
    ).dropna(subset=["privacy"])
    return {
        "frontier": t.assign(utility=t["utility"].fillna(0.0)),
        "unicity": unicity_table(df),
    }


def page_figures(df: pd.DataFrame, meta: dict[str, Any]) -> dict[str, go.Figure]:
    """The Lab page's figures (English titles: the page translates them); each layout's
    ``meta`` names the metrics on its axes."""
    f = meta.get("frontier") or {}
    privacy = f.get("privacy", "unicity_all")
    utility = f.get("utility", "heatmap_rel_error")
    name = privacy + (f" (p={f.get('points')})" if privacy.startswith("unicity") else "")
    tables = page_tables(df, meta)
    title = meta.get("title", "")
    frontier = frontier_figure(tables["frontier"], name, utility, title)
    frontier.update_layout(clickmode="event", meta={"privacy": name, "utility": utility})
    unicity = unicity_figure(tables["unicity"], title)
    unicity.update_layout(meta={"paper": PAPER_LABEL})
    return {"frontier": frontier, "unicity": unicity}


def write_page_json(df: pd.DataFrame, meta: dict[str, Any], out: Path) -> list[Path]:
    """Each of the Lab page's figures as Plotly JSON and its table as JSON records, in
    ``out`` (the files services/events/labfiles.py names)."""
    paths = []
    for name, fig in page_figures(df, meta).items():
        path = out / f"{name}{FIGURE_SUFFIX}"
        # plain lists (not plotly's base64 arrays): any JSON reader can take the numbers
        plain = {
            "data": [t.to_plotly_json() for t in fig.data],
            "layout": fig.layout.to_plotly_json(),
        }
        path.write_text(json.dumps(plain, cls=PlotlyJSONEncoder), encoding="utf-8")
        paths.append(path)
    for name, table in page_tables(df, meta).items():
        path = out / f"{name}{TABLE_SUFFIX}"
        path.write_text(table.to_json(orient="records"), encoding="utf-8")
        paths.append(path)
    return paths
