"""The notebooks in notebooks/ run, top to bottom, in a real Jupyter kernel (nbclient and
ipykernel), from a temporary folder: whatever they write goes under it, never into the
repository. They are committed without outputs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 600  # a busy two-core machine; a cell stuck this long has failed


def test_there_are_the_four_notebooks() -> None:
    names = [p.stem for p in NOTEBOOKS]
    assert names == [
        "01-a-day-of-the-town",
        "02-unicity-de-montjoye",
        "03-compare-two-policies",
        "04-your-own-attack",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs (strip them)"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """One folder for every notebook: they share its lab cache (runs/lab-cache)."""
    return tmp_path_factory.mktemp("notebooks")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, workdir: Path, monkeypatch) -> None:
    before = _repo_files()
    nb = nbformat.read(path, as_version=4)
    # the kernel is this interpreter (the venv's), importing the repository's packages, with
    # a non-interactive matplotlib backend
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()  # raises CellExecutionError with the failing cell and its traceback
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    assert _repo_files() == before, "the notebook wrote into the repository"


def _repo_files() -> set[str]:
    """Files under the repository's runs/ and notebooks/ (where a notebook could write)."""
    out = set()
    for sub in ("runs", "notebooks"):
        root = REPO / sub
        if root.exists():
            out |= {str(p.relative_to(REPO)) for p in root.rglob("*") if p.is_file()}
    return out
