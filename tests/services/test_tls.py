"""`aqkol up --tls`: a self-signed certificate the API is served with and our clients check."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import httpx
import pytest
from cryptography import x509

from services.tls import client_context, ensure_certificate
from tests.support import free_port, stop, wait_until


def test_the_certificate_names_this_machine_and_its_key_is_private(tmp_path):
    cert, key, fingerprint = ensure_certificate(tmp_path / "var", ["192.0.2.10", "0.0.0.0"])
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    ips = {str(i) for i in names.value.get_values_for_type(x509.IPAddress)}
    assert {"127.0.0.1", "192.0.2.10"} <= ips and "0.0.0.0" not in ips
    assert "localhost" in names.value.get_values_for_type(x509.DNSName)
    assert ensure_certificate(tmp_path / "var", [])[2] == fingerprint  # made once, kept


def test_the_api_serves_https_that_our_clients_verify(tmp_path):
    cert, key, _ = ensure_certificate(tmp_path / "var", [])
    port = free_port()
    env = {
        **os.environ,
        "AQKOL_VAR_DIR": str(tmp_path / "var"),
        "AQKOL_TLS_CERT": str(cert),
        "AQKOL_TLS_KEY": str(key),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "api", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:

        def up() -> bool:
            assert proc.poll() is None, "the API exited"
            try:
                return (
                    httpx.get(
                        f"https://127.0.0.1:{port}/health", verify=client_context(cert), timeout=2
                    ).status_code
                    == 200
                )
            except httpx.HTTPError:
                return False

        wait_until(up, 60, "the API over HTTPS")
        with pytest.raises(httpx.HTTPError):  # plain HTTP gets no answer
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        with pytest.raises(httpx.ConnectError):  # nor does a client trusting other roots
            httpx.get(f"https://127.0.0.1:{port}/health", timeout=5)
    finally:
        stop(proc)


def test_aqkol_up_tls_serves_both_over_https_with_secure_cookies(tmp_path):
    import json

    from tests.dashboard.test_login import LOGIN_PAGE_CALLBACK
    from tests.test_demo_browser import start_up

    proc, api, dash, log = start_up(tmp_path, speed="60", extra=["--tls"])
    cert = tmp_path / "var" / "tls-cert.pem"
    accounts = tmp_path / "var" / "demo-accounts.json"
    try:

        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            if not (cert.exists() and accounts.exists()):
                return False
            try:  # both: the dashboard may answer before the API does
                pages = httpx.get(f"https://127.0.0.1:{dash}/login", verify=client_context(cert))
                api_ok = httpx.get(f"https://127.0.0.1:{api}/health", verify=client_context(cert))
                return pages.status_code == 200 and api_ok.status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 120, "aqkol up --tls")
        password = json.loads(accounts.read_text())["student"]["password"]
        base = f"https://127.0.0.1:{dash}"
        with httpx.Client(base_url=base, verify=client_context(cert)) as browser:
            r = browser.post("/_dash-update-component", json=LOGIN_PAGE_CALLBACK)
            token = re.search(r'"id": ?"login-csrf"[^}]*?"value": ?"([^"]+)"', r.text) or re.search(
                r'"value": ?"([^"]+)"[^}]*?"id": ?"login-csrf"', r.text
            )
            assert token, r.text[:300]
            r = browser.post(
                "/auth/login",
                data={"username": "student", "password": password, "next": "/",
                      "csrf_token": token.group(1)},
                headers={"Referer": f"{base}/login"},
            )  # fmt: skip
            assert r.status_code == 302 and r.headers["location"] == "/", r.headers
            cookies = r.headers.get_list("set-cookie")
            assert cookies and all("; Secure" in c for c in cookies)
        # the API is HTTPS too, checked against the same certificate
        r = httpx.post(
            f"https://127.0.0.1:{api}/auth/token",
            data={"username": "student", "password": password},
            verify=client_context(cert),
        )
        assert r.status_code == 200
    finally:
        stop(proc)
        log.close()
