"""The Rules page in process: rule list, editor, validation, save, preview, alert actions.

Each callback is called the way the browser calls it (``/_dash-update-component``), against
the fake API: no sockets, no browser.
"""

from __future__ import annotations

import json

import dash
import httpx
import plotly.utils

from dashboard.api_client import ApiClient
from dashboard.app import create_app
from dashboard.rules_views import TEXT
from dashboard.settings import DashboardSettings
from tests.dashboard.fakes import BAD_MARK, LARGE_GROUP_YAML, FakeApi, unreachable
from tests.dashboard.test_login import logged_in


def _client(transport) -> tuple:
    settings = DashboardSettings(
        _env_file=None, api_url="http://api.test", dashboard_refresh_ms=1500
    )
    app = create_app(settings, api=ApiClient(settings.api_url, transport=transport))
    return app, logged_in(app.server.test_client())  # callbacks answer a login only


def _call(client, output: str, values: dict, trigger: str | None = None) -> dict:
    """Run the callback whose outputs include ``output`` with these input and state values
    (by component id, or id.property); answer its response by component id."""
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if output in d["output"].strip(".").split("..."))

    def value(item: dict) -> object:
        key = f"{item['id']}.{item['property']}"
        return values.get(key, values.get(item["id"]))

    outputs = []
    for part in dep["output"].strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        outputs.append({"id": cid, "property": prop})
    body = {
        "output": dep["output"],
        "outputs": outputs if "..." in dep["output"] else outputs[0],
        "inputs": [{**i, "value": value(i)} for i in dep["inputs"]],
        "state": [{**s, "value": value(s)} for s in dep["state"]],
        "changedPropIds": [trigger] if trigger else [],
    }
    response = client.post("/_dash-update-component", json=body)
    if response.status_code == 204:
        return {}  # PreventUpdate
    assert response.status_code == 200, response.data[:800]
    return response.get_json()["response"]


def _text(node) -> str:
    """All the text in a rendered (JSON) component tree."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return " ".join(_text(n) for n in node)
    if isinstance(node, dict):
        return _text(node.get("props", {}).get("children")) if "props" in node else ""
    return "" if node is None else str(node)


def _rules_page():
    return next(p for p in dash.page_registry.values() if p["path"] == "/rules")


def test_rules_page_is_in_the_navigation_with_its_ids():
    _, client = _client(httpx.MockTransport(FakeApi()))
    layout = json.dumps(client.get("/_dash-layout").get_json())
    assert '"/rules"' in layout and '"Rules"' in layout
    rendered = json.dumps(
        _rules_page()["layout"](rule="large-group"), cls=plotly.utils.PlotlyJSONEncoder
    )
    for cid in (
        "rules-list", "rules-select", "rules-editor", "rules-validation", "rules-save",
        "rules-preview", "rules-preview-graph", "alerts-table", "alerts-ack", "alerts-clear",
        "alerts-clear-rule",
    ):  # fmt: skip
        assert f'"{cid}"' in rendered, cid
    assert '"value": "large-group"' in rendered  # ?rule= opens that rule


def test_rule_list_shows_state_reason_misuse_and_counts():
    _, client = _client(httpx.MockTransport(FakeApi()))
    out = _call(client, "rules-select.options", {"rules-interval": 1, "rules-saved": 0})
    options = out["rules-select"]["options"]
    assert [o["value"] for o in options] == ["large-group", "watchlist-activist", "broken"]
    large, activist, broken = (_text(o["label"]) for o in options)
    assert "Large group" in large and "active" in large and "MAJOR" in large
    assert "1 active · 4 cleared" in large and "MISUSE" not in large
    assert TEXT["misuse"] in activist and "blinded by the policy" in activist
    assert "removes data.face_id" in activist
    assert "refused" in broken and "broken.yaml:7: unknown field 'wen'" in broken
    assert "hidden" in out["rules-status"]["className"]


def test_rule_list_says_when_the_api_is_away():
    _, client = _client(httpx.MockTransport(unreachable))
    out = _call(client, "rules-select.options", {"rules-interval": 1, "rules-saved": 0})
    assert out["rules-select"]["options"] == []
    assert "API unreachable" in out["rules-status"]["children"]


def test_selecting_a_rule_opens_its_yaml():
    fake = FakeApi()
    _, client = _client(httpx.MockTransport(fake))
    out = _call(client, "rules-editor.value", {"rules-select": "large-group"}, "rules-select.value")
    assert out["rules-editor"]["value"] == LARGE_GROUP_YAML
    assert "large-group.yaml" in _text(out["rules-editor-title"]["children"])
    assert fake.paths()[-1] == "/rules/large-group"


def test_validation_shows_needs_or_the_line_and_message():
    fake = FakeApi()
    _, client = _client(httpx.MockTransport(fake))
    out = _call(client, "rules-validation.children", {"rules-editor-debounced": LARGE_GROUP_YAML})
    assert out["rules-validation"]["children"] == "valid; needs data.count"
    assert "ok" in out["rules-validation"]["className"]
    sent = fake.requests[-1]
    assert sent.method == "POST" and sent.url.path == "/rules/validate"
    assert sent.headers["content-type"].startswith("text/plain")
    assert sent.content.decode() == LARGE_GROUP_YAML
    bad = LARGE_GROUP_YAML + f"when: {BAD_MARK}\n"
    out = _call(client, "rules-validation.children", {"rules-editor-debounced": bad})
    assert out["rules-validation"]["children"] == "line 5: unbalanced parenthesis"
    assert "error" in out["rules-validation"]["className"]


def test_save_puts_the_text_and_a_refusal_keeps_it():
    fake = FakeApi()
    _, client = _client(httpx.MockTransport(fake))
    state = {"rules-select": "large-group", "rules-saved": 3}
    values = {**state, "rules-save": 1, "rules-editor": LARGE_GROUP_YAML}
    out = _call(client, "rules-saved.data", values, "rules-save.n_clicks")
    assert fake.saved == {"large-group": LARGE_GROUP_YAML}
    assert out["rules-saved"]["data"] == 4  # the list refreshes
    assert "Saved large-group.yaml" in out["rules-save-msg"]["children"]
    bad = LARGE_GROUP_YAML + BAD_MARK
    values = {**state, "rules-save": 2, "rules-editor": bad}
    out = _call(client, "rules-saved.data", values, "rules-save.n_clicks")
    message = out["rules-save-msg"]["children"]
    assert "Not saved: line 5: unbalanced parenthesis" in message
    assert "error" in out["rules-save-msg"]["className"]
    assert "rules-editor" not in out and "rules-saved" not in out  # the text stays
    assert fake.saved == {"large-group": LARGE_GROUP_YAML}


def test_preview_draws_the_alerts_on_a_timeline_with_a_summary():
    fake = FakeApi()
    _, client = _client(httpx.MockTransport(fake))
    values = {"rules-preview": 1, "rules-editor": LARGE_GROUP_YAML}
    out = _call(client, "rules-preview-graph.figure", values, "rules-preview.n_clicks")
    assert fake.requests[-1].url.path == "/rules/preview"
    summary = _text(out["rules-preview-summary"]["children"])
    assert "Replayed 4,321 events of 00:00–08:00 Aqkol time: 2 alerts, 0 errors." in summary
    traces = out["rules-preview-graph"]["figure"]["data"]
    assert sum(len(t["x"]) for t in traces) == 2
    assert min(x for t in traces for x in t["x"]) == "2026-01-15 06:10:00"  # Aqkol time
    assert "hidden" not in out["rules-preview-box"]["className"]
    values["rules-editor"] = BAD_MARK
    out = _call(client, "rules-preview-graph.figure", values, "rules-preview.n_clicks")
    summary = _text(out["rules-preview-summary"]["children"])
    assert "Cannot replay: line 5: unbalanced parenthesis" in summary


def _alert_values(**extra) -> dict:
    values = {
        "alerts-interval": 1, "alerts-state": "open", "alerts-this-rule": [],
        "rules-select": "large-group", "alerts-ack": 0, "alerts-clear": 0,
        "alerts-clear-rule": 0, "alerts-table.selected_row_ids": [], "alerts-by": "aigerim",
        "alerts-reason": "",
    }  # fmt: skip
    return {**values, **extra}


def test_alert_table_lists_open_alerts_with_selection_boxes():
    fake = FakeApi()
    _, client = _client(httpx.MockTransport(fake))
    out = _call(client, "alerts-table.data", _alert_values(), "alerts-interval.n_intervals")
    rows = out["alerts-table"]["data"]
    assert [r["id"] for r in rows] == [2]  # the resolved one is not open
    assert rows[0]["last_seen"] == "07:59:00" and rows[0]["severity"] == "MAJOR"
    assert fake.requests[-1].url.params["state"] == "open"
    assert out["alerts-clear-rule"]["children"] == "Clear all of large-group"
    assert out["alerts-clear-rule"]["disabled"] is False
    out = _call(client, "alerts-table.data", _alert_values(**{"alerts-this-rule": ["rule"]}))
    assert fake.requests[-1].url.params["rule"] == "large-group"


def test_acknowledge_and_clear_the_selected_alerts_show_who_did_it():
    fake = FakeApi()
    fake.alerts.append({**fake.alerts[0], "id": 3, "rule": "gas-leak", "title": "Gas"})
    _, client = _client(httpx.MockTransport(fake))
    values = _alert_values(**{"alerts-ack": 1, "alerts-table.selected_row_ids": [2, 3]})
    out = _call(client, "alerts-table.data", values, "alerts-ack.n_clicks")
    assert json.loads(fake.requests[-2].content) == {"ids": [2, 3], "by": "aigerim"}
    assert out["alerts-msg"]["children"] == "Acknowledged 2 of 2 alerts."
    rows = out["alerts-table"]["data"]
    assert {r["state"] for r in rows} == {"acknowledged"}
    assert rows[0]["acknowledged"] == "aigerim at 08:00:00"
    assert out["alerts-table"]["selected_rows"] == []

    values = _alert_values(
        **{"alerts-clear": 1, "alerts-table.selected_row_ids": [3], "alerts-reason": "drill",
           "alerts-state": "cleared"}
    )  # fmt: skip
    out = _call(client, "alerts-table.data", values, "alerts-clear.n_clicks")
    assert json.loads(fake.requests[-2].content)["reason"] == "drill"
    assert out["alerts-msg"]["children"] == "Cleared 1 of 1 alert."  # one: singular
    rows = out["alerts-table"]["data"]
    assert [(r["id"], r["cleared"]) for r in rows] == [(3, "aigerim at 08:00:00")]


def test_clear_all_of_a_rule_and_nothing_selected():
    fake = FakeApi()
    _, client = _client(httpx.MockTransport(fake))
    out = _call(
        client, "alerts-table.data", _alert_values(**{"alerts-clear": 1}), "alerts-clear.n_clicks"
    )
    assert out["alerts-msg"]["children"] == TEXT["select_first"]
    assert not [r for r in fake.requests if r.method == "POST"]
    values = _alert_values(**{"alerts-clear-rule": 1})
    out = _call(client, "alerts-table.data", values, "alerts-clear-rule.n_clicks")
    assert json.loads(fake.requests[-2].content) == {
        "ids": [],
        "by": "aigerim",
        "rule": "large-group",
    }
    assert out["alerts-msg"]["children"] == "Cleared 1 open alert of large-group."
    assert out["alerts-table"]["data"] == []


def test_selection_follows_the_alerts_when_the_table_refreshes():
    fake = FakeApi()
    fake.alerts.insert(0, {**fake.alerts[0], "id": 7, "title": "newer"})
    _, client = _client(httpx.MockTransport(fake))
    values = _alert_values(**{"alerts-table.selected_row_ids": [2]})
    out = _call(client, "alerts-table.data", values, "alerts-interval.n_intervals")
    assert [r["id"] for r in out["alerts-table"]["data"]] == [7, 2]
    assert out["alerts-table"]["selected_rows"] == [1]
