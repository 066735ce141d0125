"""No secret is committed: the tracked files hold no private key, cloud or forge token, signed
token, or password other than the documented test placeholders, and none of the files the
services write their secrets to."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "signed token (JWT)": re.compile(
        r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+"
    ),
    "URL with a password": re.compile(
        r"\b[a-z][a-z0-9+]*://[^/\s:@'\"\[\]]+:([^/\s@'\"{}$<\[\]]+)@"
    ),
    "assigned secret": re.compile(
        r"(?i)\b[a-z_]*(?:password|passwd|secret|api_key|token|pseudonym_key)[a-z_]*"
        r"\s*[:=]\s*['\"]([^'\"\s]{6,})['\"]"
    ),
}
# values that are placeholders by design (tests' own passwords, the CI database's), or
# references to a secret kept elsewhere (a variable, a file path)
PLACEHOLDER = re.compile(r"(?i)test|wrong|right-password|not-the-secret|example|aqkol-ci|"
                         r"changeme|placeholder|auth/token|secret\.key|^pass$|^user$|"
                         r"^\$|^/|^\.\.?/")  # fmt: skip
NEVER_TRACKED = re.compile(
    r"(^|/)(\.env|secret\.key|demo-accounts\.json|pseudonym\.key|[^/]*\.pem|id_rsa[^/]*)$"
    r"|(^|/)var/"
)


def _tracked() -> list[str]:
    r = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode == 0 and r.stdout.strip():
        return r.stdout.split()
    skip = {".venv", ".git", "var", "runs", ".pytest_cache", ".ruff_cache", ".hypothesis"}
    return [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
    ]  # a source tree without git: every file of it


def test_no_secret_is_committed():
    found = []
    files = _tracked()
    assert len(files) > 50
    for name in files:
        if NEVER_TRACKED.search(name):
            found.append(f"{name}: a file that holds secrets is tracked")
            continue
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary (images) or gone from the working tree
        for what, rx in PATTERNS.items():
            for m in rx.finditer(text):
                value = m.group(m.lastindex or 0)
                if PLACEHOLDER.search(value):
                    continue
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{name}:{line}: {what}: {m.group(0)[:60]}")
    assert not found, "secrets in the repository:\n" + "\n".join(found)


def test_the_scan_finds_what_it_looks_for():
    samples = {  # built from parts, so that this file does not hold them
        "private key": "-----BEGIN OPENSSH " + "PRIVATE KEY-----",
        "AWS access key": "AKIA" + "IOSFODNN7EXAMPLQ",
        "URL with a password": "postgresql://aqkol:" + "s3cr3t-pw@db/aqkol",
        "assigned secret": "AQKOL_SECRET_KEY = " + '"Zr8m2kQpLx90aa"',
    }
    for what, text in samples.items():
        m = PATTERNS[what].search(text)
        assert m and not PLACEHOLDER.search(m.group(m.lastindex or 0)), what
