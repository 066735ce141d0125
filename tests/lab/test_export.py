"""`aqkol lab export`: what a policy keeps of a day, as files outside tools read."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from services.cli import app
from services.lab.export import anonymity

TINY = ["--seed", "3", "--hours", "2", "--scale", "0.05"]  # the tiny day of conftest.py


def test_export_writes_what_the_policy_keeps(tmp_path, cache, tiny_day, monkeypatch):
    monkeypatch.setenv("AQKOL_LAB_CACHE", str(cache))
    out = tmp_path / "gdpr"
    args = ["lab", "export", "--policy", "gdpr-minimal", *TINY, "--format", "csv"]
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    files = {p.stem for p in out.glob("*.csv")}
    assert "gas.reading" in files and "payment.gas" not in files  # payments dropped
    gas = pd.read_csv(out / "gas.reading.csv")
    assert gas["household"].str.startswith("ps-").all()  # pseudonymized
    raw_gas = [e for e in tiny_day.events if e[1] == "gas.reading"]
    assert len(gas) == len(raw_gas)
    if (out / "camera.face_match.csv").exists():
        faces = pd.read_csv(out / "camera.face_match.csv")
        assert "name" not in faces.columns
    assert "gas.reading" in res.output and "k" in res.output
    # parquet, under the policy that keeps everything: the names are there
    res = CliRunner().invoke(
        app, ["lab", "export", "--policy", "none", *TINY, "--out", str(tmp_path / "none")]
    )
    assert res.exit_code == 0, res.output
    gas = pd.read_parquet(tmp_path / "none" / "gas.reading.parquet")
    assert gas["household"].str.startswith("hh-").all()
    res = CliRunner().invoke(app, ["lab", "export", "--policy", "nope", *TINY, "--out", str(out)])
    assert res.exit_code == 1 and "nope" in res.output
    res = CliRunner().invoke(app, [*args, "--format", "xls", "--out", str(out)])
    assert res.exit_code == 2


def test_anonymity_of_kept_quasi_identifiers_by_pycanon():
    t = pd.DataFrame(
        {
            "lat": [1, 1, 1, 2, 2],
            "lon": [5, 5, 5, 6, 6],
            "ts": ["a", "a", "a", "b", "b"],
            "watchlist": ["missing", "wanted", "missing", "wanted", "wanted"],
            "enrollment_id": ["ps-1", "ps-2", "ps-3", "ps-4", "ps-5"],
        }
    )
    r = anonymity(t, "camera.face_match")
    assert r["qi"] == ["lat", "lon", "ts"] and r["sensitive"] == ["watchlist"]
    assert r["k"] == 2  # the second place-time holds two rows
    assert r["l"] == 1  # both of them on the same list
    assert "enrollment_id" in r["identifiers"]
