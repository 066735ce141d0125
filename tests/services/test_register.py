"""The sensor register: valid, complete against the contract, served with privacy categories."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.events import KINDS
from services.events.yamldoc import YamlFileError
from services.store.db import migrate
from services.transparency.register import REGISTER_FILE, load_register, register_json
from tests.accounts import add_accounts, bearer, token_for
from tests.conftest import make_settings


def test_the_shipped_register_lists_every_kind_once_with_purpose_retention_and_body():
    reg = load_register()
    kinds = [k for d in reg.devices for k in d.kinds]
    assert sorted(kinds) == sorted(KINDS)
    assert next(d for d in reg.devices if d.id == "gas-meter").kinds == [
        "gas.reading",
        "payment.gas",
    ]
    for d in reg.devices:
        assert d.purpose and d.retention and d.accountable.body


def test_fields_and_categories_come_from_the_contract():
    out = register_json(load_register())
    cctv = next(d for d in out["devices"] if d["id"] == "cctv")
    face = next(k for k in cctv["data"] if k["kind"] == "camera.face_match")
    cats = {f["name"]: f["category"] for f in face["fields"]}
    assert cats == {k: v.value for k, v in KINDS["camera.face_match"].privacy().items()}
    gas = next(d for d in out["devices"] if d["id"] == "gas-meter")
    assert gas["data"][0]["source_category"] == "identifier"  # one meter, one household


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (("  - id: solar\n", "  - id: solar-roofs\n"), "no kind of the contract is sent by"),
        (("  - id: streetlight\n", "  - id: solar\n"), "device 'solar' is described twice"),
        (("    retention: 1 year\n", "    retention: 1 year\n    colour: red\n"), "colour"),
        # what a device sends is the contract's to say, not the register's
        (("    retention: 1 year\n", "    retention: 1 year\n    kinds: [gas.reading]\n"), "kinds"),
    ],
)
def test_a_broken_register_is_refused_with_file_and_line(tmp_path, edit, says):
    text = REGISTER_FILE.read_text()
    assert edit[0] in text
    path = tmp_path / "register.yaml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(YamlFileError) as exc:
        load_register(path)
    assert says in str(exc.value) and str(path) in str(exc.value)


def test_a_kind_whose_device_the_register_does_not_describe_is_refused(tmp_path):
    text = REGISTER_FILE.read_text()
    path = tmp_path / "register.yaml"
    path.write_text(text[: text.index("  - id: school-register")])
    with pytest.raises(
        YamlFileError, match=r"no device sends school\.attendance: describe school-reg"
    ):
        load_register(path)


def test_register_is_served_to_every_role(tmp_path, sqlite_url):
    migrate(sqlite_url)
    app = create_app(make_settings(tmp_path, port=1, database_url=sqlite_url))
    add_accounts(app.state.engine, ("student",))
    client = TestClient(app)
    r = client.get("/register", headers=bearer(token_for(client, "student")))
    assert r.status_code == 200
    assert {d["id"] for d in r.json()["devices"]} >= {"cctv", "gas-meter", "vehicle-gps"}
