"""The teacher's controls, shown in the situation room and on the wall to teachers only.

Pause, resume, speed, jump ahead, inject a scenario, reset the town (through the API, which
tells the simulator and audits it); a timeline over the stored day with a live button and
play (a replay from the store: the simulator is not touched); the debrief download. The
simulator's state line shows what the simulator itself reports, not what was last clicked.

Component ids start with ``classroom-``. The replay position lives in ``classroom-replay``
(``{"at": ISO or None, "playing": bool}``), which the pages read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
from dash import Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import auth, context, fmt
from dashboard.i18n import _

SPEEDS = (1, 10, 60, 600)
PLAY_STEP_S = 120  # simulated seconds a replay advances per tick of play
PLAY_MS = 1000
STATE_MS = 1500


def is_teacher() -> bool:
    """Whether the logged-in user is a teacher (the API decides; this only hides controls)."""
    user = auth.current_user()
    return bool(user and user.get("role") == "teacher")


def replay_store() -> dcc.Store:
    """The replay position, on every page that has a map (teacher or not)."""
    return dcc.Store(id="classroom-replay", data={"at": None, "playing": False})


def _button(cid: str, label: str, extra: str = "") -> html.Button:
    return html.Button(label, id=cid, n_clicks=0, className=f"btn {extra}".strip())


def class_address() -> html.Div | None:
    """The address students open and its QR code (``aqkol up --lan``), for the teacher to
    show the class; None when the dashboard is not served on the network."""
    url = context.current().settings.class_url
    if not url:
        return None
    import segno  # drawn here, offline: the page needs no request for it

    return html.Div(
        [
            html.Img(
                src=segno.make(url, error="m").svg_data_uri(scale=5, border=2),
                alt=_("QR code of the class address {url}").format(url=url),
                id="classroom-qr",
                className="classroom-qr",
            ),
            html.Div(
                [
                    html.Span(_("Class address"), className="control-label"),
                    html.A(url, href=url, id="classroom-url", className="classroom-url"),
                ]
            ),
        ],
        id="classroom-address",
        className="classroom-row classroom-address",
    )


def _policy_row() -> html.Div:
    """Switch the main store's data-minimization policy, and what it blinds."""
    api = context.current().api
    policies = api.policies().data
    options = [
        {"label": p.get("title") or p["id"], "value": p["id"]}
        for p in policies.get("items") or []
        if not p.get("refused")
    ]
    return html.Div(
        [
            html.Label(_("Policy"), htmlFor="classroom-policy", className="control-label"),
            dcc.Dropdown(
                id="classroom-policy",
                options=options,
                value=policies.get("active") or None,
                clearable=False,
                className="classroom-dropdown",
            ),
            _button("classroom-policy-apply", _("Switch policy")),
            html.Span(
                blinded_text(api.rules().data.get("items") or []),
                id="classroom-blinded",
                className="classroom-blinded",
            ),
        ],
        className="classroom-row",
    )


def blinded_text(rules: list[dict[str, Any]]) -> str:
    """Which alert rules the active policy blinds (they cannot match: a field they need is
    removed), in one line."""
    blinded = [r.get("title") or r["id"] for r in rules if r.get("state") == "blinded"]
    if not blinded:
        return _("The active policy blinds no rule.")
    return _("Rules the active policy blinds: {rules}").format(rules=", ".join(blinded))


@dash.callback(
    Output("classroom-msg", "children", allow_duplicate=True),
    Output("classroom-msg", "className", allow_duplicate=True),
    Output("classroom-blinded", "children"),
    Input("classroom-policy-apply", "n_clicks"),
    State("classroom-policy", "value"),
    prevent_initial_call=True,
)
def switch_policy(clicks: int | None, policy: str | None) -> tuple[str, str, Any]:
    """A teacher makes a policy active; the rules it blinds are shown."""
    if not clicks or not policy:
        raise PreventUpdate
    api = context.current().api
    done = api.switch_policy(policy, note="from the situation room")
    if not done.ok:
        return (
            _("Refused: {reason}").format(reason=done.error),
            "action-msg error",
            dash.no_update,
        )
    blinded = blinded_text(api.rules().data.get("items") or [])
    return (
        _("Policy {policy} is active from the ingest's next batch.").format(policy=policy),
        "action-msg ok",
        blinded,
    )


def panel() -> html.Div:
    """The controls (teachers), or an empty placeholder."""
    if not is_teacher():
        return html.Div(id="classroom-panel", className="hidden")
    scenarios = context.current().api.scenarios().data.get("items") or []
    options = [{"label": s["name"], "value": s["name"]} for s in scenarios if not s.get("refused")]
    return html.Div(
        [
            html.Div(
                [
                    html.Span(_("Teacher"), className="control-label"),
                    html.Span("…", id="classroom-state", className="classroom-state"),
                ],
                className="classroom-row",
            ),
            html.Div(
                [
                    _button("classroom-pause", _("Pause")),
                    _button("classroom-resume", _("Resume")),
                    html.Span(_("Speed"), className="control-label"),
                    *[_button(f"classroom-speed-{n}", f"{n}×", "speed-btn") for n in SPEEDS],
                    html.Label(
                        _("Jump to"), htmlFor="classroom-jump-to", className="control-label"
                    ),
                    dcc.Input(
                        id="classroom-jump-to",
                        type="text",
                        placeholder="12:00",
                        className="text-input short",
                        debounce=False,
                    ),
                    _button("classroom-jump", _("Jump")),
                    html.Span(
                        _("Scenario to inject"), id="classroom-scenario-label", className="sr-only"
                    ),
                    dcc.Dropdown(
                        id="classroom-scenario",
                        options=options,
                        placeholder=_("scenario"),
                        className="classroom-dropdown",
                        clearable=False,
                    ),
                    _button("classroom-inject", _("Inject incident")),
                    dcc.ConfirmDialogProvider(
                        _button("classroom-reset", _("Reset the town"), "btn-danger"),
                        id="classroom-reset-confirm",
                        message=_(
                            "Reset the town? The store of this run is emptied and the town "
                            "starts again from its seed. Export the debrief first."
                        ),
                    ),
                    _button("classroom-debrief", _("Download debrief")),
                    dcc.Download(id="classroom-download"),
                ],
                className="classroom-row",
            ),
            html.Div(
                [
                    html.Span(
                        _("Timeline"), id="classroom-timeline-label", className="control-label"
                    ),
                    _button("classroom-play", _("Play"), "play-btn"),
                    _button("classroom-live", _("Live"), "btn-accent"),
                    html.Div(
                        dcc.Slider(
                            id="classroom-timeline",
                            min=0,
                            max=1,
                            step=60,
                            value=1,
                            marks={},
                            updatemode="mouseup",
                            included=True,
                            allow_direct_input=False,
                        ),
                        className="classroom-slider",
                    ),
                    html.Span("", id="classroom-replay-at", className="classroom-replay-at"),
                ],
                className="classroom-row",
            ),
            _policy_row(),
            html.Div("", id="classroom-msg", className="action-msg"),
            *[row for row in (class_address(),) if row is not None],
            dcc.Interval(id="classroom-interval", interval=STATE_MS, n_intervals=0),
            dcc.Interval(id="classroom-play-interval", interval=PLAY_MS, disabled=True),
        ],
        id="classroom-panel",
        className="classroom-panel",
    )


def state_text(state: dict[str, Any]) -> str:
    """The simulator's state in one line, e.g. ``running · 60× · 10:32:05 · run seed1``."""
    name = state.get("state") or "unknown"
    words = {
        "running": _("running"), "paused": _("paused"), "jumping": _("jumping ahead"),
        "finished": _("finished"), "resetting": _("resetting"), "stopped": _("stopped"),
        "unknown": _("no report from the simulator"),
    }  # fmt: skip
    parts = [words.get(name, name)]
    speed = state.get("speed")
    if name not in ("unknown", "stopped", "resetting"):
        parts.append(_("max") if speed is None else f"{fmt.number(float(speed))}×")
    if state.get("sim_time"):
        parts.append(fmt.time_of_day(state["sim_time"]))
    if state.get("jump_to"):
        parts.append(_("to {time}").format(time=fmt.time_of_day(state["jump_to"])))
    if state.get("injected"):
        parts.append(_("injected: {names}").format(names=", ".join(state["injected"])))
    if state.get("run_id"):
        parts.append(_("run {run}").format(run=state["run_id"]))
    return " · ".join(parts)


def _epoch(ts: str | None) -> int | None:
    when = fmt.parse_ts(ts)
    return int(when.timestamp()) if when else None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def timeline_marks(first: int, newest: int) -> dict[int, str]:
    """The first and newest stored times and every full hour between (Aqkol time); never
    empty, or the slider would label its own marks with raw Unix seconds."""
    label = lambda t: fmt.local(_iso(t)).strftime("%H:%M")  # noqa: E731
    marks: dict[int, str] = {first: label(first)}
    step = 3600 if newest - first <= 12 * 3600 else 3 * 3600
    hour = (first // step + 1) * step
    while hour < newest:
        if hour - first >= 900 and newest - hour >= 900:  # labels that do not overlap
            marks[hour] = label(hour)
        hour += step
    marks[newest] = label(newest)
    return marks


@dash.callback(
    Output("classroom-state", "children"),
    Output("classroom-state", "className"),
    *[Output(f"classroom-speed-{n}", "className") for n in SPEEDS],
    Output("classroom-timeline", "min"),
    Output("classroom-timeline", "max"),
    Output("classroom-timeline", "marks"),
    Input("classroom-interval", "n_intervals"),
)
def show_state(_n: int) -> tuple[Any, ...]:
    """What the simulator reports, the active speed, and the stored span for the timeline."""
    got = context.current().api.classroom_status()
    state = got.data if got.ok else {"state": "unknown"}
    name = state.get("state") or "unknown"
    speeds = [
        "btn speed-btn" + (" active" if name != "unknown" and state.get("speed") == n else "")
        for n in SPEEDS
    ]
    first, newest = _epoch(state.get("stored_first")), _epoch(state.get("stored_newest"))
    if first is None or newest is None or newest <= first:
        lo, hi, marks = 0, 1, {}
    else:
        lo, hi, marks = first, newest, timeline_marks(first, newest)
    text = state_text(state) if got.ok else got.error
    return (text, f"classroom-state state-{name}", *speeds, lo, hi, marks)


@dash.callback(
    Output("classroom-msg", "children"),
    Output("classroom-msg", "className"),
    Input("classroom-pause", "n_clicks"),
    Input("classroom-resume", "n_clicks"),
    *[Input(f"classroom-speed-{n}", "n_clicks") for n in SPEEDS],
    Input("classroom-jump", "n_clicks"),
    Input("classroom-inject", "n_clicks"),
    Input("classroom-reset-confirm", "submit_n_clicks"),
    State("classroom-jump-to", "value"),
    State("classroom-scenario", "value"),
    prevent_initial_call=True,
)
def act(*args: Any) -> tuple[str, str]:
    """One control, sent to the API; its answer (or refusal) shown under the controls."""
    jump_to, scenario = args[-2], args[-1]
    trigger = ctx.triggered_id
    if not trigger or not any(args[:-2]):
        raise PreventUpdate
    api = context.current().api
    if trigger == "classroom-pause":
        got, done = api.classroom("pause"), _("Paused.")
    elif trigger == "classroom-resume":
        got, done = api.classroom("resume"), _("Resumed.")
    elif trigger.startswith("classroom-speed-"):
        n = int(trigger.rsplit("-", 1)[1])
        got, done = api.classroom("speed", {"value": n}), _("Speed {n}×.").format(n=n)
    elif trigger == "classroom-jump":
        if not jump_to:
            return _("Type a time to jump to, e.g. 12:00."), "action-msg warn"
        got = api.classroom("jump", {"to": str(jump_to).strip()})
        done = _("Jumping ahead to {time}.").format(time=jump_to)
    elif trigger == "classroom-inject":
        if not scenario:
            return _("Choose a scenario to inject."), "action-msg warn"
        got = api.classroom("inject", {"scenario": scenario})
        done = _("Injected {name}: its incidents start in a minute.").format(name=scenario)
    elif trigger == "classroom-reset-confirm":
        got, done = api.classroom("reset"), _("Resetting the town from its seed.")
    else:
        raise PreventUpdate
    if not got.ok:
        return got.error or _("refused"), "action-msg error"
    return done, "action-msg ok"


@dash.callback(
    Output("classroom-replay", "data"),
    Output("classroom-timeline", "value"),
    Output("classroom-play-interval", "disabled"),
    Output("classroom-replay-at", "children"),
    Output("classroom-play", "children"),
    Input("classroom-timeline", "value"),
    Input("classroom-live", "n_clicks"),
    Input("classroom-play", "n_clicks"),
    Input("classroom-play-interval", "n_intervals"),
    State("classroom-replay", "data"),
    State("classroom-timeline", "max"),
    prevent_initial_call=True,
)
def timeline(
    value: int | None, _live: int, _play: int, _tick: int, data: dict | None, newest: int | None
) -> tuple[Any, ...]:
    """Move the replay: drag the slider, play it forward, or go back to live."""
    data = dict(data or {"at": None, "playing": False})
    trigger = ctx.triggered_id
    at = _epoch(data.get("at"))
    if trigger == "classroom-live":
        at, data["playing"] = None, False
    elif trigger == "classroom-timeline":
        # dragged to the end: live
        at = None if value is None or (newest and value >= newest) else int(value)
    elif trigger == "classroom-play":
        data["playing"] = not data.get("playing")
        if data["playing"] and at is None and newest:
            at = int(newest) - 3600  # from live, play the last hour
    elif trigger == "classroom-play-interval":
        if not data.get("playing") or at is None:
            raise PreventUpdate
        at += PLAY_STEP_S
        if newest and at >= newest:
            at, data["playing"] = None, False
    data["at"] = None if at is None else _iso(at)
    shown = (
        _("live") if at is None else _("replay at {time}").format(time=fmt.time_of_day(data["at"]))
    )
    label = _("Pause replay") if data.get("playing") else _("Play")
    slider = newest if at is None else at
    return data, slider, not data.get("playing"), shown, label


@dash.callback(
    Output("classroom-download", "data"),
    Output("classroom-msg", "children", allow_duplicate=True),
    Output("classroom-msg", "className", allow_duplicate=True),
    Input("classroom-debrief", "n_clicks"),
    prevent_initial_call=True,
)
def download_debrief(n: int) -> tuple[Any, str, str]:
    """The session's debrief (HTML, self-contained) as a file download."""
    if not n:
        raise PreventUpdate
    got = context.current().api.debrief()
    if not got.ok:
        return dash.no_update, got.error or _("refused"), "action-msg error"
    from dashboard.dilemma_views import choice_labels
    from dashboard.votes import tally_html, with_tally

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    votes = tally_html(context.current().votes.tally(), choice_labels(), _("Votes on the dilemmas"))
    file = dcc.send_string(with_tally(got.data, votes), f"aqkol-debrief-{stamp}.html")
    return file, _("Debrief exported."), "action-msg ok"
