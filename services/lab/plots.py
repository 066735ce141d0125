"""Plots of an experiment's tidy results: the privacy-utility frontier, unicity by points.

The tables behind them are pure functions (:func:`frontier_table`, :func:`unicity_table`),
shared with the dashboard's Lab page; the figures are written as PNG (matplotlib, Agg) and
HTML (plotly, with plotly.js embedded: they open offline).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

PARAMS = ["h3_res", "time_bucket_min", "epsilon", "salt", "k_min"]


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
    return ", ".join(parts)


def _mean(df: pd.DataFrame, metric: str, points: int | None) -> pd.DataFrame:
    sel = df[df["metric"] == metric]
    if points is not None and sel["points"].notna().any():
        sel = sel[sel["points"] == points]
    sel = sel[sel["rule"].isna()] if "rule" in sel else sel
    keys = ["policy", *PARAMS]
    return (
        sel.groupby(keys, dropna=False)["value"].mean().rename(metric).reset_index()
        if not sel.empty
        else pd.DataFrame(columns=[*keys, metric])
    )


def frontier_table(
    df: pd.DataFrame,
    privacy: str = "unicity",
    points: int | None = 4,
    utility: str = "heatmap_rel_error",
) -> pd.DataFrame:
    """One row per (policy, parameters): privacy risk and utility lost, means over seeds."""
    a = _mean(df, privacy, points).rename(columns={privacy: "privacy"})
    b = _mean(df, utility, None).rename(columns={utility: "utility"})
    t = a.merge(b, on=["policy", *PARAMS], how="outer")
    t["label"] = [
        r["policy"] + (f" ({label(r)})" if label(r) else "") for r in t.to_dict("records")
    ]
    return t.sort_values(["privacy", "utility"], na_position="last").reset_index(drop=True)


def unicity_table(df: pd.DataFrame) -> pd.DataFrame:
    """Unicity by number of known points, per (policy, parameters): means over seeds."""
    sel = df[df["metric"] == "unicity"]
    t = sel.groupby(["policy", *PARAMS, "points"], dropna=False)["value"].mean().reset_index()
    t["label"] = [
        r["policy"] + (f" ({label(r)})" if label(r) else "") for r in t.to_dict("records")
    ]
    return t


def shared_labels(t: pd.DataFrame) -> list[str]:
    """Each point's label, or all labels at its place joined on the first point there (and
    nothing on the others), so that points that coincide do not print over each other."""
    key = list(zip(t["utility"].round(3), t["privacy"].round(3), strict=True))
    groups: dict[tuple, list[str]] = {}
    for k, lab in zip(key, t["label"], strict=True):
        groups.setdefault(k, []).append(lab)
    seen: set[tuple] = set()
    out = []
    for k in key:
        out.append("" if k in seen else " / ".join(groups[k]))
        seen.add(k)
    return out


def frontier_figure(t: pd.DataFrame, privacy: str, utility: str, title: str = "") -> go.Figure:
    """The frontier as a plotly scatter; each point's customdata is its policy id."""
    t = t.assign(shown=shared_labels(t))
    fig = go.Figure(
        go.Scatter(
            x=t["utility"],
            y=t["privacy"],
            mode="markers+text",
            text=t["label"],
            textposition="top center",
            customdata=t["policy"],
            hovertemplate="%{text}<br>"
            + utility
            + " %{x:.3f}<br>"
            + privacy
            + " %{y:.3f}<extra></extra>",
            marker={"size": 12},
        )
    )
    fig.update_layout(
        title=title or "Privacy-utility frontier",
        xaxis_title=f"{utility} (utility lost)",
        yaxis_title=f"{privacy} (privacy risk)",
        template="plotly_white",
        height=520,
    )
    return fig


def unicity_figure(t: pd.DataFrame, title: str = "") -> go.Figure:
    """Unicity against the number of known points, a line per policy and parameters."""
    fig = go.Figure()
    for name, g in t.groupby("label", sort=True):
        g = g.sort_values("points")
        fig.add_trace(go.Scatter(x=g["points"], y=g["value"], mode="lines+markers", name=name))
    fig.update_layout(
        title=title or "Unicity by known points",
        xaxis_title="known points (p)",
        yaxis_title="share of traced people unique",
        yaxis_range=[0, 1.02],
        template="plotly_white",
        height=520,
    )
    return fig


def resolution_table(df: pd.DataFrame, points: int = 4) -> pd.DataFrame:
    """Unicity at ``points`` by time bucket, per spatial resolution (means over seeds)."""
    sel = df[(df["metric"] == "unicity") & (df["points"] == points)]
    t = sel.groupby(["policy", "h3_res", "time_bucket_min"], dropna=False)["value"].mean()
    t = t.reset_index()
    t["space"] = ["camera" if pd.isna(r) else f"H3 res {int(r)}" for r in t["h3_res"]]
    return t


def _resolution_png(t: pd.DataFrame, points: int, title: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for (policy, space), g in t.groupby(["policy", "space"], sort=False):
        g = g.sort_values("time_bucket_min")
        ax.plot(g["time_bucket_min"] / 60, g["value"], marker="o", label=f"{policy}: {space}")
    ax.set_xscale("log")
    ax.set_xlabel("time bucket (hours, log scale)")
    ax.set_ylabel(f"unicity with {points} known points")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_plots(df: pd.DataFrame, exp, out: Path) -> list[Path]:
    """frontier.png/html and unicity.png/html in ``out``."""
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
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.scatter(ft["utility"], ft["privacy"])
    for r, text in zip(ft.itertuples(), shared_labels(ft), strict=True):
        ax.annotate(
            text, (r.utility, r.privacy), fontsize=8, xytext=(4, 4), textcoords="offset points"
        )
    ax.set_xlabel(f"{f.utility} (utility lost)")
    ax.set_ylabel(f"{privacy} (privacy risk)")
    ax.set_title(exp.title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "frontier.png", dpi=120)
    plt.close(fig)
    paths += [out / "frontier.html", out / "frontier.png"]
    ut = unicity_table(df)
    if not ut.empty:
        unicity_figure(ut, exp.title).write_html(
            out / "unicity.html", include_plotlyjs=True, full_html=True
        )
        fig, ax = plt.subplots(figsize=(8, 5.5))
        for name, g in ut.groupby("label", sort=True):
            g = g.sort_values("points")
            ax.plot(g["points"], g["value"], marker="o", label=name)
        ax.set_xlabel("known points (p)")
        ax.set_ylabel("share of traced people unique")
        ax.set_ylim(0, 1.02)
        ax.set_title(exp.title, fontsize=10)
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
