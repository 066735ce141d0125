"""The routes receive the app's helpers through services/api/deps.py, never from app.state:
one place says how each is made (and made lazily), and a route's signature shows what it uses."""

from __future__ import annotations

import ast
from pathlib import Path

ROUTES = Path(__file__).resolve().parents[2] / "services" / "api" / "routes"


def app_state_reads(path: Path) -> list[int]:
    """Lines of ``<anything>.app.state`` in a file (read, written or passed to getattr)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "state"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "app"
    )


def test_no_route_reads_app_state():
    found = {p.name: lines for p in sorted(ROUTES.glob("*.py")) if (lines := app_state_reads(p))}
    assert found == {}, "use a dependency of services/api/deps.py (e.g. SettingsDep, LinkDep)"


def test_the_check_sees_app_state(tmp_path: Path):
    f = tmp_path / "r.py"
    f.write_text("def f(request):\n    x = getattr(request.app.state, 'tap', None)\n"
                 "    request.app.state.tap = 1\n    request.state.user\n")  # fmt: skip
    assert app_state_reads(f) == [2, 3]
