"""The house has one direction: every import of the project's code, at module level or inside
a function, follows an allowed edge between the layers (ARCHITECTURE.md).

1. contract      services.events: kinds, topics, the town's facts, geo, YAML, scenarios, map
2. simulator     simulator: the contract only
3. shapes        services.api.schemas: the API's request and response models, one module per
                 resource; the contract only
4. center        the rest of services (ingest, store, rules, policy, api, auth, ...): the
                 contract and the shapes, never the simulator or the dashboard
5. harness       services.lab (the lab, the rules test bench, simulate_day): the simulator
                 and the center
6. dashboard     dashboard: the contract and the shapes (the API over HTTP, its answers
                 validated against the API's own models)
7. root          services.cli, services.supervisor: anything
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("services", "simulator", "dashboard")

# (layer, module prefix): the first match wins, so the specific ones come first
LAYERS = (
    ("contract", "services.events"),
    ("harness", "services.lab"),
    ("root", "services.cli"),
    ("root", "services.supervisor"),
    ("shapes", "services.api.schemas"),
    ("center", "services"),
    ("simulator", "simulator"),
    ("dashboard", "dashboard"),
)
ALLOWED = {
    "contract": {"contract"},
    "simulator": {"contract", "simulator"},
    "shapes": {"contract", "shapes"},
    "center": {"contract", "shapes", "center"},
    "harness": {"contract", "simulator", "shapes", "center", "harness"},
    "dashboard": {"contract", "shapes", "dashboard"},
    "root": {"contract", "simulator", "shapes", "center", "harness", "dashboard", "root"},
}


def layer_of(module: str) -> str | None:
    for layer, prefix in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of the project's code in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from services import auth` imports services.auth
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(n, m) for n, m in out if m.split(".")[0] in PACKAGES]


def breaches() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Alembic's scripts: run by the store's migrate, never imported
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            src = layer_of(module.removesuffix(".__init__"))
            for line, target in imports(path):
                dst = layer_of(target)
                if src and dst and dst not in ALLOWED[src]:
                    rel = path.relative_to(ROOT)
                    found.append(f"{rel}:{line}: {src} imports {dst} ({target})")
    return found


def test_every_import_follows_an_allowed_edge():
    assert breaches() == [], "imports against the layers (see ARCHITECTURE.md)"


def test_the_check_sees_imports_inside_functions(tmp_path: Path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from simulator.model import Town\n    import dashboard.app\n")
    assert imports(f) == [(2, "simulator.model.Town"), (3, "dashboard.app")]
    assert layer_of("services.api.routes.town") == "center"
    assert layer_of("services.events.townmap") == "contract"
    assert layer_of("services.api.schemas.alerts") == "shapes"
    assert layer_of("services.api.deps") == "center"
    assert "simulator" not in ALLOWED["center"]


def test_the_api_shapes_import_pydantic_and_the_standard_library_only():
    """The dashboard imports the shapes: they must not pull in FastAPI, SQLAlchemy or the
    center's code with them."""
    allowed = set(sys.stdlib_module_names) | {"__future__", "pydantic"}
    found = []
    for path in sorted((ROOT / "services" / "api" / "schemas").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                ours = layer_of(name) in ("contract", "shapes")
                if not ours and name.split(".")[0] not in allowed:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert found == []
