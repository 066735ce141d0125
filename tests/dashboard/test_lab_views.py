"""The Lab page's figures and link, without a browser."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.utils

from dashboard import lab_views as lv
from services.events.labfiles import FIGURES
from services.lab.plots import PAPER_LABEL, write_page_json


def write_result(folder: Path, exp_id: str = "demo") -> Path:
    """A small results folder as the lab writes it: two policies, two seeds."""
    out = folder / exp_id
    out.mkdir(parents=True)
    rows = []
    for policy, uni, err in (("none", 0.6, 0.0), ("edge-counts", 0.0, 0.3)):
        for seed in (1, 2):
            base = {
                "experiment": exp_id,
                "policy": policy,
                "scenario": "normal-winter-day",
                "seed": seed,
                "h3_res": None,
                "time_bucket_min": 60,
                "epsilon": None,
                "salt": None,
                "k_min": None,
                "rule": None,
            }
            for p in (1, 2, 4):
                rows.append({**base, "metric": "unicity", "points": p, "value": uni * p / 4})
                rows.append({**base, "metric": "unicity_all", "points": p, "value": uni * p / 8})
            rows.append({**base, "metric": "heatmap_rel_error", "points": None, "value": err})
    df = pd.DataFrame(rows)
    df.to_csv(out / "results.csv", index=False)
    meta = {
        "id": exp_id,
        "title": "Two policies",
        "frontier": {"privacy": "unicity_all", "points": 4, "utility": "heatmap_rel_error"},
    }
    (out / "experiment.json").write_text(json.dumps(meta))
    write_page_json(df, meta, out)  # the figures the API serves, as the lab writes them
    return out


def _figures(folder: Path) -> dict:
    """The figures as the API serves them (JSON through the wire)."""
    return {n: json.loads((folder / f"{n}.plotly.json").read_text()) for n in FIGURES}


def test_the_labs_figures_are_drawn_from_their_json(tmp_path: Path):
    folder = write_result(tmp_path)
    meta = json.loads((folder / "experiment.json").read_text())
    figures = _figures(folder)
    fig = lv.frontier(figures["frontier"], meta)
    pts = fig.data[0]
    assert list(pts.customdata) == ["edge-counts", "none"]  # sorted by privacy risk
    assert list(pts.y) == [0.0, 0.3] and list(pts.x) == [0.3, 0.0]
    assert fig.layout.title.text == "Two policies"
    assert fig.layout.yaxis.title.text == "unicity_all (p=4) (privacy risk)"
    uni = lv.unicity(figures["unicity"], meta)
    assert {t.name for t in uni.data} == {"none", "edge-counts", PAPER_LABEL}  # and the paper
    none = next(t for t in uni.data if t.name == "none")
    assert list(none.x) == [1, 2, 4] and list(none.y) == [0.15, 0.3, 0.6]
    untitled = lv.unicity(figures["unicity"], {})
    assert untitled.layout.title.text == "Unicity by known points"


def test_the_choice_lists_the_apis_results_by_id():
    runs = [{"id": "quick-look", "title": "A quick look", "mtime": 2.0}]
    assert lv.options(runs) == [{"label": "A quick look (quick-look)", "value": "quick-look"}]


def test_policy_link_says_how_to_see_it():
    dump = lambda c: json.dumps(c, cls=plotly.utils.PlotlyJSONEncoder)  # noqa: E731
    running = dump(lv.policy_link("gdpr-minimal", "gdpr-minimal"))
    assert "/?policy=gdpr-minimal" in running and "beside the main store" in running
    idle = dump(lv.policy_link("edge-counts", None))
    assert "aqkol up --compare edge-counts" in idle
