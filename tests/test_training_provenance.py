"""Provenance of trained networks: the training code's fingerprint in the cache key, and the
commit, fingerprint and cache hit in every row of a learned solver."""

from __future__ import annotations

import shutil

import pytest

from matinv_bench import system
from matinv_bench.datasets import make_dataset
from matinv_bench.engine.runner import Cell, run_grid
from matinv_bench.reporting.results import read_results
from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers.learned import cache as model_cache
from matinv_bench.solvers.learned import recipes

SOLVER_SPECS = ("mlp-2fc[hidden=8,recipe=tiny]", "learned-ns[steps=20,train_iters=5]")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(model_cache.CACHE_ENV, str(tmp_path / "models"))
    monkeypatch.delenv(model_cache.RETRAIN_ENV, raising=False)
    return tmp_path / "models"


@pytest.fixture
def fresh_fingerprint():
    """The fingerprint is computed once per process: compute it again within the test, and after."""
    real = model_cache.training_fingerprint
    real.cache_clear()
    yield
    real.cache_clear()


def _key(data) -> str:
    solver = SOLVERS.build("mlp-2fc[recipe=tiny]")
    return model_cache.cache_key(solver.architecture(data.n), solver.seed, data, recipes.recipe_for("tiny", data.n))[0]


def test_a_change_to_the_training_code_changes_the_cache_key(tmp_path, monkeypatch, fresh_fingerprint):
    data = make_dataset("paper-2x2-1st", n_test=4)
    copy = tmp_path / "matinv_bench"
    shutil.copytree(model_cache.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(model_cache, "PACKAGE_ROOT", copy)
    before, fingerprint = _key(data), model_cache.training_fingerprint()
    with open(copy / "solvers" / "learned" / "training.py", "a") as f:
        f.write("\n# one more line of training code\n")
    model_cache.training_fingerprint.cache_clear()
    assert model_cache.training_fingerprint() != fingerprint
    assert _key(data) != before
    # a file outside the training code leaves the key alone
    with open(copy / "reporting" / "results.py", "a") as f:
        f.write("\n# a change elsewhere\n")
    changed = model_cache.training_fingerprint()
    model_cache.training_fingerprint.cache_clear()
    assert model_cache.training_fingerprint() == changed


def test_the_fingerprint_covers_the_learned_solvers_and_their_training():
    root = model_cache.PACKAGE_ROOT
    covered = {p.relative_to(root).as_posix() for pattern in model_cache.TRAINING_SOURCES for p in root.glob(pattern)}
    assert {"solvers/mlp.py", "solvers/learned_ns.py", "solvers/learned/training.py", "solvers/learned/draws.py",
            "datasets/boxes.py"} <= covered
    assert {p.relative_to(root).as_posix() for p in (root / "solvers" / "learned").glob("*.py")} <= covered
    assert model_cache.training_fingerprint() == model_cache.sources_fingerprint(root, model_cache.TRAINING_SOURCES)
    with pytest.raises(FileNotFoundError, match="no training source matches 'solvers/gone.py'"):
        model_cache.sources_fingerprint(root, ("solvers/gone.py",))


def _rows(out, cells):
    df = run_grid(cells, out, n_test=64, time_it=False, progress=False)
    assert (df.status == "ok").all(), df.reason.tolist()
    return read_results(out).set_index("solver")


def test_rows_record_the_commit_fingerprint_and_cache_hit_of_their_training(cache, tmp_path, monkeypatch,
                                                                           fresh_fingerprint):
    cells = [Cell(spec, "paper-2x2-1st") for spec in SOLVER_SPECS]
    cold = _rows(tmp_path / "cold", cells)
    warm = _rows(tmp_path / "warm", cells)
    for spec in SOLVER_SPECS:
        assert not cold.loc[spec, "train_cache_hit"] and warm.loc[spec, "train_cache_hit"]
        for rows in (cold, warm):
            assert rows.loc[spec, "train_commit"] == system.git_sha()  # '' for an installed copy
            assert rows.loc[spec, "train_fingerprint"] == model_cache.training_fingerprint()
        assert warm.loc[spec, "cache_key"] == cold.loc[spec, "cache_key"]
        assert model_cache.is_current(cold.loc[spec, "cache_key"])
    # the cached models were trained under this code; under other code they are not current
    monkeypatch.setattr(model_cache, "training_fingerprint", lambda: "another")
    assert not any(model_cache.is_current(key) for key in cold.cache_key)
    assert not model_cache.is_current("no-such-key")
