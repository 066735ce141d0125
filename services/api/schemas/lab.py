"""The lab's results for the Lab page, and the quick experiment a teacher starts from it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Figure = Literal["frontier", "unicity"]  # services/events/labfiles.py FIGURES


class LabRun(BaseModel):
    """A finished result."""

    id: str = Field(description="the experiment's id, the name of its results folder")
    title: str
    mtime: float = Field(description="when results.csv was written (Unix seconds)")


class LabRuns(BaseModel):
    items: list[LabRun] = Field(description="newest first")


class LabResult(BaseModel):
    """A result's experiment and the Lab page's figures (Plotly JSON, English titles)."""

    id: str
    title: str
    experiment: dict[str, Any] = Field(description="the experiment as the lab ran it")
    figures: dict[str, dict[str, Any]] = Field(
        description="frontier and unicity, as Plotly figures (data, layout)"
    )


class LabTable(BaseModel):
    """The rows behind a figure (means over seeds, their 95% intervals, the seeds)."""

    id: str
    name: str
    rows: list[dict[str, Any]]


class LabJob(BaseModel):
    """The quick experiment: whether it runs, its progress, whether it has a result."""

    experiment: str
    running: bool
    done: int = Field(description="cells finished")
    cells: int = Field(description="cells of the run (0 until the lab has counted them)")
    finished: bool = Field(description="a result is in the list")
    started: bool = Field(False, description="this request started it")


class LabStart(BaseModel):
    experiment: Literal["quick-look"] = Field(
        description="the experiment to run: the quick one (a tenth of the town, six hours)"
    )
