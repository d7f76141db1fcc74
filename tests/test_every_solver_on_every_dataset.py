"""No solver raises on a dataset the registry lets it run: every registered solver on every
registered dataset kind, once and small, gives a row that is ok, skipped with a reason, or failed
with a reason a user can read (the runner writes an exception that escaped a solver as
``TypeName: message``; such a row means the solver has a case it does not handle)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from matinv_bench.datasets import DATASETS
from matinv_bench.engine.runner import Cell, run_grid
from matinv_bench.solvers import SOLVERS
from matinv_bench.specs import format_spec, parse_spec

N = 4  # matrix size for every kind with an ``n`` parameter
N_TEST = 4
# "ValueError: ...", "dataset 'x': IndexError: ...": an exception that reached the runner
RAW_EXCEPTION = re.compile(r"\b[A-Z]\w*(?:Error|Exception)\b:|Traceback")


def _small_solver(name: str) -> str:
    """The solver's cheap test spec; networks untrained (``recipe=none``), so no cell trains."""
    cls = SOLVERS.get(name)
    spec = getattr(cls, "test_spec", None) or name
    if "recipe" in SOLVERS.parameters(name):
        spec = format_spec(name, {**parse_spec(spec)[1], "recipe": "none"})
    return spec


def _small_dataset(name: str, tmp_path) -> str:
    """A small spec of every registered kind: the files a path kind reads are written to tmp_path;
    any other kind keeps its defaults, with n = N where it has an ``n``."""
    A = np.random.default_rng(0).standard_normal((3, N, N))
    if name == "npy":
        np.save(tmp_path / "stack.npy", A)
        return f"npy:{tmp_path / 'stack.npy'}"
    if name == "paper-dir":  # the authors' release: a base and a test set of perturbations (and inverses)
        (tmp_path / "paper").mkdir()
        np.save(tmp_path / "paper" / "base_matrix.npy", np.eye(N) * 2.0)
        np.save(tmp_path / "paper" / "test_set.npy", np.stack([A, A], axis=-1))
        return f"paper-dir:{tmp_path / 'paper'}"
    assert name not in DATASETS.prefixes, f"write a small file for the new path kind {name!r} here"
    return format_spec(name, {"n": N}) if "n" in DATASETS.parameters(name) else name


def test_every_solver_gives_a_readable_row_on_every_dataset_kind(tmp_path):
    datasets = [_small_dataset(name, tmp_path) for name in DATASETS]
    solvers = [_small_solver(name) for name in SOLVERS]
    cells = [Cell(s, d, 0, "float64") for d in datasets for s in solvers]
    df = run_grid(cells, None, n_test=N_TEST, threads=1, time_it=False, progress=False)

    assert len(df) == len(cells) and set(df.status) <= {"ok", "skipped", "failed"}
    not_ok = df[df.status != "ok"]
    unexplained = not_ok[~not_ok.reason.map(lambda r: isinstance(r, str) and bool(r.strip()))]
    assert unexplained.empty, unexplained[["solver", "dataset", "status"]].to_string()
    failed = df[df.status == "failed"]
    raw = failed[failed.reason.str.contains(RAW_EXCEPTION)]
    assert raw.empty, "a solver raised instead of giving a row:\n" + raw[["solver", "dataset", "reason"]].to_string()
    # the grid is not vacuous: every solver runs somewhere, every kind is run by some solver
    ok = df[df.status == "ok"]
    assert set(ok.solver) == set(solvers) and len(set(ok.dataset)) == len(datasets)


@pytest.mark.parametrize("reason, raw", [
    ("ValueError: the spectral interval must satisfy 0 < lo <= hi, got [0.0, 2.0]", True),
    ("dataset 'x': IndexError: index 3 is out of bounds", True),
    ("did not converge in 12 steps (||I - AX||_F > 0.01): 4 of 4 matrices", False),
    ("not symmetric (max relative asymmetry 1.20e+00); Cholesky needs SPD matrices", False),
])
def test_a_raw_exception_is_recognised(reason, raw):
    assert bool(RAW_EXCEPTION.search(reason)) is raw
