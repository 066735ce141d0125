"""The files of a lab result that the API serves: what the lab writes and the API reads.

A result is a folder ``<results>/<experiment>/``. The lab writes the Lab page's figures as
Plotly JSON and their tables as JSON records, then ``results.csv`` last (a listed result
has its figures), and at the start of a run how many cell files make it (the progress).
"""

from __future__ import annotations

RESULTS_FILE = "results.csv"
EXPERIMENT_FILE = "experiment.json"
PLAN_FILE = "plan.json"  # {"cells": n}
CELLS_DIR = "cells"  # one file per finished cell
FIGURES = ("frontier", "unicity")  # the Lab page's figures, and the tables behind them
FIGURE_SUFFIX = ".plotly.json"
TABLE_SUFFIX = ".table.json"
