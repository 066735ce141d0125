"""schemathesis against the API's own OpenAPI description: generated requests to every
operation, logged in as the teacher (who may call everything), on a real SQLite database
holding a stretch of events: no 5xx, and every response conforms to the schema."""

from __future__ import annotations

import shutil
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from services.api import labruns
from services.api.main import create_app
from services.ingest import Ingest
from services.store.db import migrate
from tests.accounts import add_accounts, token_for
from tests.conftest import make_settings
from tests.factories import T0, make_event, message

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("schemathesis")
    shutil.copytree(ROOT / "rules", tmp / "rules")  # PUT /rules writes here, not in the repo
    url = f"sqlite:///{tmp / 'aqkol.db'}"
    migrate(url)
    settings_ = make_settings(
        tmp, port=1, database_url=url, mqtt_prefix="", rules_dir=tmp / "rules"
    )
    ingest = Ingest(settings_)
    kinds = ("gas.reading", "camera.crowd", "camera.face_match", "env.reading", "vehicle.position")
    ingest.process(
        [
            message(
                make_event(kind, f"{kind.split('.')[0][:3]}-{i:03d}", T0 + timedelta(minutes=i))
            )
            for i in range(40)
            for kind in kinds
        ]
    )
    app = create_app(settings_)
    add_accounts(app.state.engine, ("teacher",))
    # POST /lab/jobs starts the quick experiment: here a stand-in that exits at once
    patch = pytest.MonkeyPatch()
    patch.setattr(labruns, "LAB_COMMAND", [sys.executable, "-c", "pass"])
    request.addfinalizer(patch.undo)
    return [app, token_for(TestClient(app), "teacher")]  # a logout replaces the token


@pytest.fixture(scope="module")
def api_schema(api):
    return schemathesis.openapi.from_asgi("/openapi.json", api[0])


# the operations, read from the app's schema (schemathesis' own pytest plugin uses pytest
# internals that pytest 9 no longer has, so each operation's strategy is run with @given)
API_PATHS = create_app(make_settings(Path("/nonexistent"), port=1,
                                     database_url="sqlite://")).openapi()["paths"]  # fmt: skip
OPERATIONS = sorted((method.upper(), path) for path, ops in API_PATHS.items() for method in ops)


def _declared_unavailable(path: str, method: str) -> set[int]:
    """503/504 an operation declares (a classroom control: the broker or simulator away)."""
    responses = API_PATHS[path][method.lower()].get("responses", {})
    return {code for code in (503, 504) if str(code) in responses}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_api_answers_generated_requests_within_its_schema(api, api_schema, method, path):
    app, token = api
    if path == "/auth/logout" or (path, method) == ("/auth/password", "POST"):
        # these end every login of the account: the next operation logs in afresh
        token = token_for(TestClient(app), "teacher")
    operation = api_schema[path][method]
    # this API has no broker (port 1): a control answers the 503 it declares, which is right
    unavailable = _declared_unavailable(path, method)

    def server_error(ctx, response, case):
        if response.status_code in unavailable:
            return None
        return not_a_server_error(ctx, response, case)

    @given(case=operation.as_strategy())
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"},
            checks=[server_error, content_type_conformance, response_schema_conformance],
        )

    check()
    if path == "/auth/logout":
        api[1] = token_for(TestClient(app), "teacher")
