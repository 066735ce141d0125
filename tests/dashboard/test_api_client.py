"""The API client: typed answers, and empty data (not exceptions) when the API is away."""

from __future__ import annotations

import json

import httpx

from dashboard.api_client import ApiClient
from tests.dashboard.fakes import BAD_MARK, FakeApi, unreachable


def test_calls_send_the_contract_parameters():
    fake = FakeApi()
    api = ApiClient("http://api.test/", transport=httpx.MockTransport(fake))
    heat = api.heatmap("camera.crowd", agg="sum", window_s=900, res=9)
    assert heat.ok and len(heat.data["cells"]) == 4
    params = fake.requests[-1].url.params
    assert (params["kind"], params["agg"], params["window_s"], params["res"]) == (
        "camera.crowd", "sum", "900", "9",
    )  # fmt: skip
    api.heatmap(None)  # all events: no kind parameter at all
    assert "kind" not in fake.requests[-1].url.params
    assert api.stats().data["events"] == 12345
    assert api.latest("vehicle.position").data["items"][0]["source"] == "bus-01"
    assert len(api.alerts(limit=5).data["items"]) == 2
    assert fake.requests[-1].url.params["limit"] == "5"


def test_town_is_fetched_once_and_cached():
    fake = FakeApi()
    api = ApiClient("http://api.test", transport=httpx.MockTransport(fake))
    first, second = api.town(), api.town()
    assert first.ok and second.data is first.data
    assert fake.paths().count("/town") == 1


def test_unreachable_api_gives_empty_data_and_an_error():
    api = ApiClient("http://api.test", transport=httpx.MockTransport(unreachable))
    for fetched in (
        api.stats(),
        api.town(),
        api.heatmap("gas.reading"),
        api.latest(),
        api.alerts(),
    ):
        assert not fetched.ok and "unreachable" in (fetched.error or "")
    assert api.stats().data["events"] == 0
    assert api.heatmap().data["cells"] == []
    assert api.alerts().data["items"] == []
    assert api.town().data["buildings"] == []


def test_http_errors_and_bad_json_are_reported_not_raised():
    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/stats":
            return httpx.Response(500, text="boom")
        return httpx.Response(200, text="not json")

    api = ApiClient("http://api.test", transport=httpx.MockTransport(broken))
    assert api.stats().error == "API error 500 on /stats"
    assert "invalid JSON" in (api.alerts().error or "")


def test_rule_calls_send_yaml_as_text_and_report_refusals():
    fake = FakeApi()
    api = ApiClient("http://api.test", transport=httpx.MockTransport(fake))
    assert api.rules().data["items"][0]["id"] == "large-group"
    assert api.rule("large-group").data["text"].startswith("id: large-group")
    assert api.rule("nope").error == "API error 404 on /rules/nope"
    assert api.validate_rule("id: x").data["needs"] == ["data.count"]
    saved = api.save_rule("large-group", "id: large-group\n")
    assert saved.ok and fake.requests[-1].method == "PUT"
    assert fake.requests[-1].headers["content-type"].startswith("text/plain")
    refused = api.save_rule("large-group", BAD_MARK)
    assert not refused.ok and refused.problem == {
        "file": "editor", "line": 5, "message": "unbalanced parenthesis",
    }  # fmt: skip
    assert api.preview_rule("id: x").data["events"] == 4321
    assert api.preview_rule(BAD_MARK).problem is not None


def test_alert_actions_post_ids_rule_and_who():
    fake = FakeApi()
    api = ApiClient("http://api.test", transport=httpx.MockTransport(fake))
    done = api.alert_action("acknowledge", [2], by="ana", assignee="bo")
    assert done.data == {"changed": [2]}
    assert json.loads(fake.requests[-1].content) == {"ids": [2], "by": "ana", "assignee": "bo"}
    done = api.alert_action("clear", rule="large-group", by="ana")
    assert done.data == {"changed": [2]}
    assert api.alerts("cleared", rule="large-group").data["items"][0]["cleared_by"] == "ana"
    assert fake.requests[-1].url.params["rule"] == "large-group"
    failed = ApiClient("http://x", transport=httpx.MockTransport(unreachable)).alert_action(
        "clear", [1]
    )
    assert not failed.ok and failed.data == {"changed": []}


def test_a_heatmap_refused_under_a_policy_gives_the_reason_not_a_failure():
    why = "the active policy (dp-heatmaps) releases counts only, with noise"
    for code in (422, 429):
        api = ApiClient(
            "http://api.test", transport=httpx.MockTransport(FakeApi(heat_refusal=(code, why)))
        )
        heat = api.heatmap("gas.reading", agg="sum")
        assert not heat.ok and heat.error == why and heat.refused == code
        assert heat.data["cells"] == [] and heat.problem is None
        assert api.policies().data["active"] == "none"


def test_a_422_without_a_plain_reason_stays_an_api_error():
    def validation(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": [{"loc": ["query", "res"], "msg": "bad"}]})

    api = ApiClient("http://api.test", transport=httpx.MockTransport(validation))
    heat = api.heatmap(res=99)
    assert heat.error == "API error 422 on /heatmap" and heat.refused is None
