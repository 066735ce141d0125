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

WHY = {"justification": "The resident asked in writing what the center holds (ref. 2026/17).",
       "legal_basis": "data_subject_request"}  # fmt: skip
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
    v = client.get("/citizen", params={"household": "hh-0042", **WHY}, headers=h["analyst"]).json()
    kinds = {k["kind"]: k for k in v["kinds"]}
    assert kinds["gas.reading"]["events"] == 6 and kinds["payment.gas"]["events"] == 1
    assert "account" in kinds["gas.reading"]["fields"]
    assert all(e["data"]["household"] == "hh-0042" for e in v["events"])


def test_under_gdpr_minimal_the_pseudonyms_are_found_and_the_payment_is_not_held(
    tmp_path, sqlite_url
):
    client, h = _town(tmp_path, sqlite_url, "gdpr-minimal")
    v = client.get("/citizen", params={"household": "hh-0042", **WHY}, headers=h["analyst"]).json()
    assert v["policy"] == "gdpr-minimal" and v["pseudonyms"] >= 1
    assert [(k["kind"], k["events"]) for k in v["kinds"]] == [("gas.reading", 6)]
    assert all(e["data"]["household"].startswith("ps-") for e in v["events"])
    assert client.get("/citizen", params=WHY, headers=h["analyst"]).status_code == 422  # whom?
    assert (
        client.get("/citizen", params={"household": "x", **WHY}, headers=h["student"]).status_code
        == 403
    )
    acts = client.get("/audit", params={"reads": "false"}, headers=h["auditor"]).json()["items"]
    seen = [e for e in acts if e["action"] == "citizen.reveal"]
    assert seen and seen[0]["detail"]["legal_basis"] == "data_subject_request"
    assert "hh-0042" not in str(seen)  # why and on what basis, never whom by value


def test_the_citizen_view_is_a_reveal_it_needs_a_justification_and_a_legal_basis(
    tmp_path, sqlite_url
):
    client, h = _town(tmp_path, sqlite_url, "gdpr-minimal")
    ask = {"household": "hh-0042"}
    assert client.get("/citizen", params=ask, headers=h["analyst"]).status_code == 422
    short = {**ask, "justification": "checking", "legal_basis": "consent"}
    assert client.get("/citizen", params=short, headers=h["analyst"]).status_code == 422
    bad = {**ask, "justification": WHY["justification"], "legal_basis": "curiosity"}
    assert client.get("/citizen", params=bad, headers=h["analyst"]).status_code == 422
    assert client.get("/citizen", params={**ask, **WHY}, headers=h["analyst"]).status_code == 200
    acts = client.get("/audit", params={"reads": "false"}, headers=h["auditor"]).json()["items"]
    assert [(e["actor"], e["action"]) for e in acts] == [("analyst", "citizen.reveal")]
    assert acts[0]["detail"]["justification"] == WHY["justification"]
