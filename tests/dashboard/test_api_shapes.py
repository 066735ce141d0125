"""One definition of each API shape: the dashboard reads every answer through the model the
API's route declares (services/api/schemas), so a third copy of a shape cannot come back and
an API that changes a shape fails here, not as an empty page in class."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from dashboard.api_client import SHAPES, ApiClient
from services.api.main import ROUTERS, create_app
from services.store.db import migrate
from tests.conftest import make_settings
from tests.dashboard.fakes import FakeApi


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("shapes")
    url = f"sqlite:///{tmp / 'a.db'}"
    migrate(url)
    return create_app(make_settings(tmp, port=1, database_url=url))


def test_every_shape_the_dashboard_reads_is_the_one_the_api_declares(app):
    routes = {
        (method, r.path): r
        for module in ROUTERS
        for r in module.router.routes
        if isinstance(r, APIRoute)
        for method in r.methods
    }
    paths = app.openapi()["paths"]
    for (method, path), model in SHAPES.items():
        route = routes.get((method, path))
        assert route is not None, f"the dashboard reads {method} {path}, which the API lacks"
        assert route.response_model == model, f"{method} {path}: {model} is not the route's"
        status = str(route.status_code or 200)  # e.g. 202 for a job started
        answer = paths[path][method.lower()]["responses"][status]["content"]["application/json"]
        name = getattr(model, "__name__", None)
        if name is not None and name != "dict":  # a model: named in the OpenAPI schema
            assert answer["schema"]["$ref"].endswith(f"/{name}"), (method, path)


def test_an_answer_of_another_shape_fails_loudly(caplog):
    fake = FakeApi()

    def drifted(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/stats":  # a field renamed on one side only
            body = {"events_total": 3, "dead_letters": 0, "alerts_active": 0, "by_kind": {},
                    "sim_time": None}  # fmt: skip
            return httpx.Response(200, json=body)
        return fake(request)

    api = ApiClient("http://api.test", transport=httpx.MockTransport(drifted))
    with caplog.at_level(logging.ERROR, logger="dashboard.api_client"):
        got = api.stats()
    assert not got.ok and got.error == "API sent an unexpected shape on /stats"
    assert got.data["events"] == 0  # the empty shape, so the page still draws
    assert "events" in caplog.text and "does not fit the API's model" in caplog.text
    assert api.alerts().ok  # the other answers still fit


def test_answers_carry_the_models_defaults():
    api = ApiClient("http://api.test", transport=httpx.MockTransport(FakeApi()))
    (alert, _) = api.alerts().data["items"]
    assert alert["misuse"] is False and alert["assignee"] is None  # not sent by the fake
    assert api.stats().data["dead_letters_by_reason"] == {}
