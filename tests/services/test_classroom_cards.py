"""`aqkol users add-class`: numbered student accounts that log in, and their login cards."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from services.auth.users import AccountError, authenticate
from services.classroom.cards import ALPHABET, add_class, card_password, cards_html, student_names
from services.classroom.lan import class_url, qr_text
from services.store.db import make_engine, migrate


@pytest.fixture
def engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'aqkol.db'}"
    migrate(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_student_names_are_numbered_to_the_largest():
    assert student_names(3) == ["student01", "student02", "student03"]
    assert student_names(120, "s")[0] == "s001"


def test_card_passwords_avoid_look_alike_symbols():
    pw = card_password()
    assert len(pw) == 14 and pw.count("-") == 2
    assert set(pw.replace("-", "")) <= set(ALPHABET)
    assert not set("01ilo") & set(ALPHABET)


def test_class_accounts_log_in_and_are_not_silently_replaced(engine):
    accounts = add_class(engine, 3)
    with engine.connect() as conn:
        for name, password in accounts:
            user = authenticate(conn, name, password)
            assert user is not None and user.role.value == "student"
        assert authenticate(conn, "student01", "wrong-password") is None
    with pytest.raises(AccountError, match="--replace"):
        add_class(engine, 5)  # student01-03 exist: nothing is created
    with engine.connect() as conn:
        assert authenticate(conn, "student04", "x" * 12) is None
    renewed = dict(add_class(engine, 3, replace=True))
    with engine.connect() as conn:
        assert authenticate(conn, "student01", accounts[0][1]) is None  # old password gone
        assert authenticate(conn, "student01", renewed["student01"]) is not None


def test_cards_show_address_user_password_and_qr_escaped():
    page = cards_html([("student01", "abcd-efgh-jkmn")], "http://192.0.2.2:8050/", "7<b>")
    assert page.count('class="card"') == 1
    assert "http://192.0.2.2:8050/" in page and "student01" in page and "abcd-efgh-jkmn" in page
    assert "<svg" in page and "7&lt;b&gt;" in page and "7<b>" not in page


def test_class_url_and_terminal_qr():
    assert class_url("192.0.2.2", 8050) == "http://192.0.2.2:8050/"
    assert class_url("fd00::2", 8050) == "http://[fd00::2]:8050/"
    drawn = qr_text("http://192.0.2.2:8050/")
    assert len(drawn.splitlines()) > 10 and ("█" in drawn or "▀" in drawn)


def test_add_class_command_writes_an_owner_only_sheet_and_prints_no_password(tmp_path):
    env = {**os.environ, "AQKOL_VAR_DIR": str(tmp_path / "var")}
    env.pop("AQKOL_DATABASE_URL", None)
    out = tmp_path / "cards.html"
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "users", "add-class", "--students", "4",
         "--out", str(out), "--class-url", "http://192.0.2.2:8050/"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    page = out.read_text()
    assert page.count('class="card"') == 4 and "student04" in page
    passwords = [
        line.split('class="password">')[1].split("<")[0]
        for line in page.splitlines()
        if 'class="password"' in line
    ]
    assert len(passwords) == 4
    assert not any(p in done.stdout + done.stderr for p in passwords)
    again = subprocess.run(
        [sys.executable, "-m", "services.cli", "users", "add-class", "--students", "4",
         "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 1 and "--replace" in again.stderr
    assert out.read_text() == page  # the refused run kept the sheet that works
