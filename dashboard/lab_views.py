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

from services.lab.plots import frontier_figure, frontier_table, unicity_figure, unicity_table
from services.paths import under

REPO = Path(__file__).resolve().parents[1]


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
    fig.update_layout(clickmode="event")
    return fig


def unicity(df: pd.DataFrame, meta: dict[str, Any]) -> go.Figure:
    """Unicity against the number of known points."""
    return unicity_figure(unicity_table(df), meta.get("title", ""))


def policy_link(policy: str, compare_policy: str | None) -> list[Any]:
    """Where to see ``policy`` at work: the situation room, with what to start if needed."""
    link = dcc.Link(
        f"Open the situation room for {policy}", href=f"/?policy={policy}", id="lab-open-situation"
    )
    if compare_policy == policy:
        how = html.P(
            "A lane stores the stream under this policy: the situation room shows it "
            "beside the main store."
        )
    else:
        how = html.P(
            [
                "No lane runs this policy now. Start one with ",
                html.Code(f"aqkol up --compare {policy}"),
                " (or make it the main store's with ",
                html.Code(f"aqkol policy use {policy}"),
                "), then open the situation room.",
            ]
        )
    return [html.H3(policy), how, link]
