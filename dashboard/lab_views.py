"""The Lab page's content as pure functions: results on disk, the figures, the policy link.

The page reads the lab's results folders directly (``runs/lab/<experiment>/results.csv``,
or ``AQKOL_LAB_RESULTS``): they are aggregate metrics of a simulated town, files the lab
wrote, not data the command center holds about anyone, so no API route stands between.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from dashboard.i18n import N_, _
from services.lab.plots import (
    PAPER_LABEL,
    frontier_figure,
    frontier_table,
    unicity_figure,
    unicity_table,
)
from services.paths import under

REPO = Path(__file__).resolve().parents[1]
PAPER_SHOWN = N_("de Montjoye 2013 (1.5M people, antennas, hourly)")  # PAPER_LABEL, translated


def results_dir() -> Path:
    """Where the lab writes its results."""
    return Path(os.environ.get("AQKOL_LAB_RESULTS") or REPO / "runs" / "lab")


def list_results(folder: Path | None = None) -> list[dict[str, Any]]:
    """Every results folder with a results.csv, newest first: id, title, path."""
    folder = folder or results_dir()
    out = []
    for csv in folder.glob("*/results.csv"):
        meta = _meta(csv.parent)
        out.append(
            {
                "id": csv.parent.name,
                "title": meta.get("title", csv.parent.name),
                "path": str(csv.parent),
                "mtime": csv.stat().st_mtime,
            }
        )
    return sorted(out, key=lambda r: -r["mtime"])


def _meta(folder: Path) -> dict[str, Any]:
    p = folder / "experiment.json"
    try:
        return orjson.loads(p.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}


def result_folder(value: object, root: Path | None = None) -> Path | None:
    """The results folder a client chose, if it is one of the lab's (under results_dir())."""
    folder = under(root or results_dir(), value) if value else None
    return folder if folder is not None and (folder / "results.csv").is_file() else None


def load(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The tidy results and the experiment of one results folder."""
    folder = Path(path)
    df = pd.read_csv(folder / "results.csv")
    return df, _meta(folder)


def frontier(df: pd.DataFrame, meta: dict[str, Any]) -> go.Figure:
    """The privacy-utility frontier of the results (a point per policy and parameters)."""
    f = meta.get("frontier") or {}
    privacy = f.get("privacy", "unicity_all")
    utility = f.get("utility", "heatmap_rel_error")
    t = frontier_table(df, privacy, f.get("points", 4), utility)
    t = t.dropna(subset=["privacy"])
    t = t.assign(utility=t["utility"].fillna(0.0))  # a metric the run did not measure: 0
    name = privacy + (f" (p={f.get('points')})" if privacy.startswith("unicity") else "")
    fig = frontier_figure(t, name, utility, meta.get("title", ""))
    fig.update_layout(
        clickmode="event",
        title=meta.get("title") or _("Privacy-utility frontier"),
        xaxis_title=_("{metric} (utility lost; bars: 95% CI over seeds)").format(metric=utility),
        yaxis_title=_("{metric} (privacy risk)").format(metric=name),
    )
    return fig


def unicity(df: pd.DataFrame, meta: dict[str, Any]) -> go.Figure:
    """Unicity against the number of known points."""
    fig = unicity_figure(unicity_table(df), meta.get("title", ""))
    fig.update_layout(
        title=meta.get("title") or _("Unicity by known points"),
        xaxis_title=_("known points (p)"),
        yaxis_title=_("share of traced people unique"),
    )
    fig.update_traces(name=_(PAPER_SHOWN), selector={"name": PAPER_LABEL})
    return fig


def policy_link(policy: str, compare_policy: str | None) -> list[Any]:
    """Where to see ``policy`` at work: the situation room, with what to start if needed."""
    link = dcc.Link(
        _("Open the situation room for {policy}").format(policy=policy),
        href=f"/?policy={policy}",
        id="lab-open-situation",
    )
    if compare_policy == policy:
        how = html.P(
            _(
                "A lane stores the stream under this policy: the situation room shows it "
                "beside the main store."
            )
        )
    else:
        how = html.P(
            [
                _("No lane runs this policy now. Start one with") + " ",
                html.Code(f"aqkol up --compare {policy}"),
                " " + _("(or make it the main store's with") + " ",
                html.Code(f"aqkol policy use {policy}"),
                _("), then open the situation room."),
            ]
        )
    return [html.H3(policy), how, link]
