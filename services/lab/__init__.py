"""The privacy lab: what each policy protects and what it costs, against the ground truth.

``services.lab.run("experiments/policy-frontier.yaml")`` runs (or resumes) an experiment and
returns its tidy results as a pandas DataFrame; ``aqkol lab run`` does the same from the
command line. See docs/lab.md.
"""

from __future__ import annotations

from typing import Any


def run(experiment: Any, **kw: Any) -> Any:
    """Run or resume an experiment (a path, an id in experiments/, or an Experiment)."""
    from services.lab.runner import run as _run

    return _run(experiment, **kw)
