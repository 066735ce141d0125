"""Accounts: hashed passwords, the `aqkol users` commands, the demo accounts of `aqkol up`."""

from __future__ import annotations

import json
import stat

import pytest
from typer.testing import CliRunner

from services.auth.users import (
    AccountError,
    add_user,
    authenticate,
    make_demo_accounts,
)
from services.cli import app as cli
from services.store.db import make_engine, migrate
from services.store.models import users


@pytest.fixture
def engine(sqlite_url):
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def test_passwords_are_stored_as_argon2_hashes_and_checked(engine):
    with engine.begin() as conn:
        add_user(conn, "aigerim", "analyst", "correct horse battery")
        stored = conn.execute(users.select()).one().password_hash
        assert stored.startswith("$argon2id$") and "correct horse" not in stored
        assert authenticate(conn, "aigerim", "correct horse battery").role == "analyst"
        assert authenticate(conn, "aigerim", "wrong horse battery") is None
        assert authenticate(conn, "nobody", "correct horse battery") is None


@pytest.mark.parametrize(
    ("name", "role", "password", "says"),
    [
        ("Bad Name", "analyst", "long enough", "user name"),
        ("bolat", "mayor", "long enough", "role 'mayor'"),
        ("bolat", "student", "short", "at least 8"),
    ],
)
def test_bad_accounts_are_refused(engine, name, role, password, says):
    with pytest.raises(AccountError, match=says), engine.begin() as conn:
        add_user(conn, name, role, password)


def test_demo_accounts_one_per_role_with_fresh_passwords_in_a_private_file(engine, tmp_path):
    first = make_demo_accounts(engine, tmp_path)
    second = make_demo_accounts(engine, tmp_path)
    assert sorted(first) == ["analyst", "auditor", "student", "teacher"]
    assert all(first[n][1] != second[n][1] for n in first)
    saved = json.loads((tmp_path / "demo-accounts.json").read_text())
    assert saved["auditor"] == {"role": "auditor", "password": second["auditor"][1]}
    assert stat.S_IMODE((tmp_path / "demo-accounts.json").stat().st_mode) == 0o600
    with engine.begin() as conn:
        assert authenticate(conn, "teacher", second["teacher"][1]).demo
        assert authenticate(conn, "teacher", first["teacher"][1]) is None


def test_users_add_and_list_on_the_command_line(tmp_path, sqlite_url):
    runner = CliRunner()
    env = {"AQKOL_DATABASE_URL": sqlite_url, "AQKOL_VAR_DIR": str(tmp_path / "var")}
    r = runner.invoke(cli, ["users", "add", "dana", "--role", "auditor"], env=env)
    assert r.exit_code == 0, r.output
    password = r.stdout.split("password: ")[1].strip()
    r = runner.invoke(
        cli, ["users", "add", "erlan", "--role", "student", "--password-stdin"], env=env,
        input="s3cret-pw\n",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "password:" not in r.stdout  # chosen, so not printed
    again = runner.invoke(cli, ["users", "add", "dana", "--role", "teacher"], env=env)
    assert again.exit_code == 1 and "exists" in again.output
    bad = runner.invoke(cli, ["users", "add", "fatima", "--role", "mayor"], env=env)
    assert bad.exit_code == 2
    listing = runner.invoke(cli, ["users", "list"], env=env)
    assert listing.exit_code == 0
    lines = [line for line in listing.stdout.splitlines() if "dana" in line or "erlan" in line]
    assert "auditor" in lines[0] and "student" in lines[1]
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        assert authenticate(conn, "dana", password).role == "auditor"
    engine.dispose()
    assert runner.invoke(cli, ["users", "remove", "erlan"], env=env).exit_code == 0
    assert "erlan" not in runner.invoke(cli, ["users", "list"], env=env).stdout


def test_a_password_is_never_taken_from_the_command_line(tmp_path, sqlite_url):
    runner = CliRunner()
    env = {"AQKOL_DATABASE_URL": sqlite_url, "AQKOL_VAR_DIR": str(tmp_path / "var")}
    argv = ["users", "add", "aigerim", "--role", "teacher", "--password", "visible-in-ps"]
    r = runner.invoke(cli, argv, env=env)
    assert r.exit_code == 2 and "--password-stdin" in r.output
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert authenticate(conn, "aigerim", "visible-in-ps") is None  # nothing was made
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-a-file-1\n")
    add = ["users", "add", "aigerim", "--role", "teacher"]
    r = runner.invoke(cli, [*add, "--password-file", str(secret_file)], env=env)
    assert r.exit_code == 0, r.output
    from_env = {**env, "AQKOL_NEW_PASSWORD": "from-the-env-1"}
    r = runner.invoke(cli, ["users", "add", "bolat", "--role", "student"], env=from_env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli, [*add, "--replace", "--prompt"], env=env, input="typed-in-1\ntyped-in-1\n"
    )
    assert r.exit_code == 0 and "typed-in-1" not in r.output
    with engine.connect() as conn:
        assert authenticate(conn, "aigerim", "typed-in-1") is not None
        assert authenticate(conn, "bolat", "from-the-env-1") is not None
    engine.dispose()
