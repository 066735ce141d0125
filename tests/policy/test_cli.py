"""`aqkol policy`: check names file and line; use switches and is remembered."""

from __future__ import annotations

import subprocess
import sys

from services.policy.active import POLICIES_DIR


def _aqkol(*args, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "160",
        "AQKOL_VAR_DIR": str(tmp_path / "var"),
        "AQKOL_DATABASE_URL": f"sqlite:///{tmp_path / 'aqkol.db'}",
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "policy", *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip


def test_check_names_the_broken_file_and_line(tmp_path):
    good = (POLICIES_DIR / "eu-ai-act.yaml").read_text()
    (tmp_path / "ok.yaml").write_text(good)
    (tmp_path / "bad.yaml").write_text(good.replace("mode: realtime", "mode: always"))
    r = _aqkol("check", str(tmp_path), tmp_path=tmp_path)
    assert r.returncode == 1
    line = next(i for i, t in enumerate(good.splitlines(), 1) if "mode: realtime" in t)
    assert f"bad.yaml:{line}: biometric.mode" in r.stderr and "1 ok, 1 refused" in r.stderr
    assert _aqkol("check", tmp_path=tmp_path).returncode == 0  # the shipped ones


def test_use_switches_and_history_remembers(tmp_path):
    assert _aqkol("use", "surveil-all", tmp_path=tmp_path).returncode == 2
    r = _aqkol("use", "gdpr-minimal", "--by", "ms-akhmetova", "--note", "lesson 3",
               tmp_path=tmp_path)  # fmt: skip
    assert r.returncode == 0 and "gdpr-minimal active" in r.stderr
    h = _aqkol("history", tmp_path=tmp_path)
    assert "gdpr-minimal" in h.stdout and "ms-akhmetova" in h.stdout and "lesson 3" in h.stdout
    show = _aqkol("show", "gdpr-minimal", tmp_path=tmp_path)
    assert "payment.gas" in show.stdout and "dropped" in show.stdout
