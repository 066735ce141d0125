"""The camera wall: one tile per camera with its recent detections (pure builders, no images).

A tile shows the latest people count, objects detected and watch-list matches with their
confidence; with the ground truth shown (the teacher's choice), each match says whether it was
true. Matches on the "activist" list are labelled as misuse wherever they show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import html

from dashboard import fmt
from dashboard.i18n import _

OBJECT_ICON = "⚠"
MATCH_ICON = "◉"
PEOPLE_ICON = "☻"


def _pct(value: Any) -> str:
    return f"{float(value) * 100:.0f}%" if isinstance(value, int | float) else "–"


def truth_badge(value: bool | None) -> html.Span:
    """TRUE, FALSE or ? for one match, from the ground truth."""
    if value is True:
        return html.Span(_("true match"), className="truth truth-true")
    if value is False:
        return html.Span(_("false match"), className="truth truth-false")
    return html.Span(_("truth not known"), className="truth truth-unknown")


def match_line(match: Mapping[str, Any], show_truth: bool) -> html.Div:
    """One watch-list match: list, confidence, time, and (teacher) whether it was true."""
    parts: list[Any] = [
        html.Span(MATCH_ICON, className="tile-icon"),
        html.Span(str(match.get("watchlist") or "?"), className="match-list"),
        html.Span(_pct(match.get("likelihood")), className="match-conf"),
        html.Span(fmt.time_of_day(match.get("ts")), className="match-time"),
    ]
    if match.get("misuse"):
        parts.append(html.Span(_("MISUSE: a list of opinions"), className="misuse-label"))
    if show_truth:
        parts.append(truth_badge(match.get("true")))
    return html.Div(parts, className="tile-match" + (" misuse" if match.get("misuse") else ""))


def camera_tile(tile: Mapping[str, Any], show_truth: bool) -> html.Div:
    """One camera's tile."""
    count = tile.get("count")
    objects = tile.get("objects") or []
    matches = tile.get("matches") or []
    busy = bool(objects or matches)
    body: list[Any] = [
        html.Div(
            [
                html.Span(str(tile.get("camera")), className="tile-id"),
                html.Span(str(tile.get("place") or ""), className="tile-place"),
            ],
            className="tile-head",
        ),
        html.Div(
            [
                html.Span(PEOPLE_ICON, className="tile-icon"),
                html.Span("–" if count is None else fmt.count(count), className="tile-count"),
                html.Span(_("people in view"), className="tile-unit"),
            ],
            className="tile-people",
        ),
    ]
    for obj in objects[:2]:
        body.append(
            html.Div(
                [
                    html.Span(OBJECT_ICON, className="tile-icon"),
                    html.Span(str(obj.get("class_type") or "?"), className="object-class"),
                    html.Span(_pct(obj.get("likelihood")), className="match-conf"),
                    *([truth_badge(obj.get("true"))] if show_truth else []),
                ],
                className="tile-object",
            )
        )
    body += [match_line(m, show_truth) for m in matches[:3]]
    css = "camera-tile" + (" busy" if busy else "") + (" has-match" if matches else "")
    return html.Div(body, className=css, **{"data-camera": str(tile.get("camera"))})


def camera_tiles(
    wall: Mapping[str, Any], show_truth: bool, limit: int | None = None
) -> list[html.Div]:
    """The wall's tiles, busiest first (the API ranks them)."""
    tiles: Sequence[Mapping[str, Any]] = wall.get("tiles") or []
    if limit is not None:
        tiles = tiles[:limit]
    return [camera_tile(t, show_truth and bool(wall.get("truth"))) for t in tiles]


def wall_summary(wall: Mapping[str, Any], show_truth: bool) -> str:
    """One line over the wall: cameras, matches, and how many were false (teacher)."""
    tiles = wall.get("tiles") or []
    matches = [m for t in tiles for m in t.get("matches") or []]
    text = _("{cameras} cameras · {matches} watch-list matches in the last {minutes} min").format(
        cameras=len(tiles), matches=len(matches), minutes=wall.get("window_min", 15)
    )
    if show_truth and wall.get("truth"):
        false = sum(1 for m in matches if m.get("true") is False)
        text += " · " + _("{false} of them false (ground truth, teacher only)").format(false=false)
    return text
