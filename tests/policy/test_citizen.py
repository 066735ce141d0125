"""The citizen view: what is held about one resident, under the policy that was active."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from services.api.main import create_app
from services.ingest import Ingest
from services.policy.active import POLICIES_DIR, PolicyBook, activate
from services.store.db import migrate
from tests.accounts import add_accounts, bearer, token_for
from tests.conftest import make_settings
from tests.factories import T0, make_event, message

PAY = {"account": "acc-42", "household": "hh-0042", "amount_kzt": 3000.0, "balance_kzt": 10.0,
       "method": "auto"}  # fmt: skip


def _town(tmp_path, sqlite_url, policy):
    settings = make_settings(tmp_path, port=1, database_url=sqlite_url, mqtt_prefix="")
    migrate(sqlite_url)
    ing = Ingest(settings)
    with ing.engine.begin() as conn:
        activate(conn, PolicyBook(POLICIES_DIR), policy, by="test")
    mine = {"m3": 0.4, "interval_min": 30, "household": "hh-0042", "account": "acc-42"}
    theirs = {"m3": 0.5, "interval_min": 30, "household": "hh-0043"}
    evs = [make_event("gas.reading", "gas-0042", T0 + timedelta(minutes=30 * i), mine)
           for i in range(6)]  # fmt: skip
    evs += [make_event("gas.reading", "gas-0043", T0, theirs)]
    evs += [make_event("payment.gas", "gas-billing", T0, PAY, geo=None)]
    ing.process([message(e) for e in evs])
    app = create_app(settings)
    add_accounts(app.state.engine, ("analyst", "student", "auditor"))
    client = TestClient(app)
    return client, {r: bearer(token_for(client, r)) for r in ("analyst", "student", "auditor")}


def test_without_a_policy_everything_about_the_household_is_held(tmp_path, sqlite_url):
    client, h = _town(tmp_path, sqlite_url, "none")
    v = client.get("/citizen", params={"household": "hh-0042"}, headers=h["analyst"]).json()
    kinds = {k["kind"]: k for k in v["kinds"]}
    assert kinds["gas.reading"]["events"] == 6 and kinds["payment.gas"]["events"] == 1
    assert "account" in kinds["gas.reading"]["fields"]
    assert all(e["data"]["household"] == "hh-0042" for e in v["events"])


def test_under_gdpr_minimal_the_pseudonyms_are_found_and_the_payment_is_not_held(
    tmp_path, sqlite_url
):
    client, h = _town(tmp_path, sqlite_url, "gdpr-minimal")
    v = client.get("/citizen", params={"household": "hh-0042"}, headers=h["analyst"]).json()
    assert v["policy"] == "gdpr-minimal" and v["pseudonyms"] >= 1
    assert [(k["kind"], k["events"]) for k in v["kinds"]] == [("gas.reading", 6)]
    assert all(e["data"]["household"].startswith("ps-") for e in v["events"])
    assert client.get("/citizen", headers=h["analyst"]).status_code == 422  # name someone
    assert (
        client.get("/citizen", params={"household": "x"}, headers=h["student"]).status_code == 403
    )
    log = client.get("/audit", headers=h["auditor"]).json()
    assert any("/citizen" in str(e) for e in (log if isinstance(log, list) else log["items"]))
