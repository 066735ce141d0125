"""Numbered student accounts for a class and a printable sheet of login cards.

``aqkol users add-class --students 30`` makes ``student01`` … ``student30`` with passwords
that read out and type well on a phone, and writes one HTML page (readable by its owner
only) with a card per student: the class address, its QR code, the user name and password.
Cut along the lines and hand them out. Passwords appear nowhere else: not on a command line,
not in the terminal.
"""

from __future__ import annotations

import html
import os
import secrets
from pathlib import Path

from sqlalchemy import Engine, select

from services.auth.users import AccountError, add_user
from services.store.models import users

# no 0/o, 1/l/i: a card is read by eye and typed on a phone
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CARDS_FILE = "class-cards.html"


def card_password(groups: int = 3, size: int = 4) -> str:
    """A random password like ``k7mq-3xpa-rt9w`` (12 symbols of 31: about 59 bits)."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(size)) for _ in range(groups))


def student_names(students: int, prefix: str = "student") -> list[str]:
    """``student01`` … ``student30``: numbered with as many digits as the largest (two at least)."""
    width = max(2, len(str(students)))
    return [f"{prefix}{n:0{width}d}" for n in range(1, students + 1)]


def add_class(
    engine: Engine, students: int, prefix: str = "student", *, replace: bool = False
) -> list[tuple[str, str]]:
    """Create the numbered student accounts; (name, password) of each. With ``replace``
    existing ones get a new password; without it, nothing is created if any exists."""
    names = student_names(students, prefix)
    accounts = [(name, card_password()) for name in names]
    with engine.begin() as conn:
        if not replace:
            taken = sorted(
                conn.execute(select(users.c.username).where(users.c.username.in_(names))).scalars()
            )
            if taken:
                raise AccountError(
                    f"{len(taken)} of these accounts exist ({', '.join(taken[:3])}"
                    f"{', …' if len(taken) > 3 else ''}); give --replace to renew their passwords"
                )
        for name, password in accounts:
            add_user(conn, name, "student", password, replace=replace)
    return accounts


def cards_html(accounts: list[tuple[str, str]], url: str, title: str = "Aqkol class") -> str:
    """A printable A4 page of login cards (eight to a sheet), each with the class address
    and its QR code."""
    import segno

    qr = segno.make(url, error="m").svg_inline(scale=3, border=1) if url else ""
    esc = html.escape
    cards = "\n".join(
        f"""<section class="card">
  <div class="qr" aria-hidden="true">{qr}</div>
  <div class="text">
    <p class="title">{esc(title)}</p>
    <p>Open <b class="url">{esc(url)}</b></p>
    <p>User <b class="user">{esc(name)}</b></p>
    <p>Password <b class="password">{esc(password)}</b></p>
    <p class="note">Synthetic town, synthetic people. Keep this card to yourself.</p>
  </div>
</section>"""
        for name, password in accounts
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(title)}: login cards</title>
<style>
  @page {{ size: A4; margin: 10mm; }}
  body {{ font-family: system-ui, sans-serif; color: #000; background: #fff; margin: 0; }}
  h1 {{ font-size: 14pt; margin: 0 0 4mm; }}
  .sheet {{ display: grid; grid-template-columns: 1fr 1fr; gap: 0; }}
  .card {{ display: flex; gap: 4mm; align-items: center; padding: 4mm; height: 62mm;
          box-sizing: border-box; border: 1px dashed #555; break-inside: avoid; }}
  .card p {{ margin: 1mm 0; font-size: 11pt; }}
  .title {{ font-weight: 700; }}
  .url, .user, .password {{ font-family: ui-monospace, monospace; font-size: 12pt; }}
  .note {{ font-size: 8pt !important; color: #333; }}
  @media print {{ h1 {{ display: none; }} }}
</style>
</head>
<body>
<h1>{esc(title)}: {len(accounts)} login cards. Print, cut, hand out.</h1>
<main class="sheet">
{cards}
</main>
</body>
</html>
"""


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only (it holds passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path
