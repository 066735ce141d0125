"""A self-signed certificate for ``aqkol up --tls``: HTTPS on a classroom LAN, offline.

Browsers warn once about a certificate no authority signed; the fingerprint printed at
start lets the teacher check it is this one. For a certificate browsers trust, put a reverse
proxy in front (docs: SECURITY.md) and set ``AQKOL_BEHIND_PROXY=true``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.events.keys import private_dir

CERT_FILE, KEY_FILE = "tls-cert.pem", "tls-key.pem"
VALID_DAYS = 365


def _names(hosts: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for h in dict.fromkeys(["localhost", "127.0.0.1", "::1", socket.gethostname(), *hosts]):
        if not h or h in ("0.0.0.0", "::"):  # a wildcard bind is no name to check against
            continue
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def ensure_certificate(folder: Path, hosts: list[str]) -> tuple[Path, Path, str]:
    """(certificate, key, SHA-256 fingerprint) under ``folder``, made on first use; the key
    readable by the owner only. Names: localhost, loopback, this machine and ``hosts``."""
    private_dir(folder)
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    if not (cert_path.exists() and key_path.exists()):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Aqkol sandbox (self-signed)")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert_path, key_path, cert.fingerprint(hashes.SHA256()).hex(":")


def client_context(cert: Path | str) -> ssl.SSLContext:
    """What a client of ours checks the server against: this certificate alone."""
    return ssl.create_default_context(cafile=str(cert))
