"""Learned solvers: the architecture, training recipes, standardisation folding and the model cache."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from matinv_bench.datasets import make_dataset
from matinv_bench.engine.runner import Cell, run_cell
from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers.learned import cache as model_cache
from matinv_bench.solvers.learned import draws, recipes, standardization
from matinv_bench.solvers.mlp import build_mlp
from matinv_bench.specs import SpecError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(model_cache.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(model_cache.RETRAIN_ENV, raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def box():
    return make_dataset("paper-2x2-1st", n_test=512, seed=0)


def _mae(solver, data) -> float:
    solver.prepare(data.A)
    return float(np.abs(solver.collect(solver.invert()).X - data.inv_ref).mean())


def test_tiny_training_beats_the_constant_prediction(cache, box):
    solver = SOLVERS.build("mlp-2fc[recipe=tiny]").fit(box)
    constant = np.abs(np.linalg.inv(box.base)[None] - box.inv_ref).mean()
    untrained = _mae(SOLVERS.build("mlp-2fc[recipe=none]").fit(box), box)
    assert _mae(solver, box) < constant / 10 < untrained
    info = solver.fit_info_
    assert info["train_recipe"] == "tiny" and info["train_steps"] == 300 and info["train_samples"] == 300 * 256
    assert info["fit_time_s"] > 0 and info["train_cache_hit"] is False


def test_the_cache_is_hit_the_second_time_and_retrain_forces_training(cache, box, monkeypatch):
    first = SOLVERS.build("mlp-3fc[hidden=8,recipe=tiny,seed=1]").fit(box)
    assert len(list(cache.glob("*.pt"))) == 1
    second = SOLVERS.build("mlp-3fc[hidden=8,recipe=tiny,seed=1]").fit(box)
    assert second.fit_info_["train_cache_hit"] is True
    assert second.fit_info_["fit_time_s"] == first.fit_info_["fit_time_s"]  # the recorded training cost
    for a, b in zip(first.model_.state_dict().values(), second.model_.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    monkeypatch.setenv(model_cache.RETRAIN_ENV, "1")
    third = SOLVERS.build("mlp-3fc[hidden=8,recipe=tiny,seed=1]").fit(box)
    assert third.fit_info_["train_cache_hit"] is False
    assert _mae(third, box) == _mae(first, box)  # training is deterministic for a seed


def test_cache_keys_separate_what_matters(box):
    def key(spec, data=box):
        s = SOLVERS.build(spec)
        return model_cache.cache_key(s.architecture(data.n), s.seed, data, recipes.recipe_for(s.recipe, data.n))[0]

    base = key("mlp-2fc[recipe=tiny]")
    assert base == key("mlp-2fc[recipe=tiny,device=cpu]")
    others = {key("mlp-2fc[recipe=quick]"), key("mlp-2fc[recipe=tiny,seed=1]"), key("mlp-3fc[recipe=tiny]"),
              key("mlp-2fc[recipe=tiny,hidden=8]"), key("mlp-2fc[recipe=tiny,dtype=float32]"),
              key("mlp-2fc[recipe=tiny]", make_dataset("paper-2x2-2nd", n_test=4)),
              key("mlp-2fc[recipe=tiny]", make_dataset("paper-2x2-1st", n_test=4, seed=1))}
    assert base not in others and len(others) == 7


def test_the_authors_test_set_shares_the_model_of_its_box(paper_data, box):
    ours = SOLVERS.build("mlp-2fc[recipe=tiny]")
    theirs = make_dataset(f"paper-dir:{paper_data / 'matrix_2_dataset'}")
    recipe = recipes.recipe_for("tiny", 2)
    assert (
        model_cache.cache_key(ours.architecture(2), ours.seed, box, recipe)[0]
        == model_cache.cache_key(ours.architecture(2), ours.seed, theirs, recipe)[0]
    )


def test_folding_the_standardisation_keeps_the_function():
    torch.manual_seed(0)
    model = build_mlp(3, 16, 3)
    x = torch.randn(32, 9, dtype=torch.float64)
    xm, xs, ym, ys = (torch.rand(9, dtype=torch.float64) + 0.5 for _ in range(4))
    expected = model((x - xm) / xs) * ys + ym
    standardization.fold_standardization(model, xm, xs, ym, ys)
    torch.testing.assert_close(model(x), expected, rtol=1e-12, atol=1e-12)


def test_the_paper_recipe_is_the_authors():
    r2, r3, r16 = (recipes.recipe_for("paper", n) for n in (2, 3, 16))
    assert (r2.batch, r2.lr, r2.weight_decay, r2.train_size, r2.epochs) == (128, 5e-5, 1e-7, 1_000_000, 20)
    assert r2.schedule == "restarts" and r2.lr_min == 1e-6 and not r2.standardize
    assert r2.total_steps(1e3) == 20 * 7813 and not r2.fresh_each_epoch
    # 3x3 and 16x16: whole epochs of 100,000 inside 200,000 steps, as in the authors' notebooks
    assert r3.train_size == 100_000 and r3.total_steps(1e3) == 255 * 782 == 199_410 and not r3.fresh_each_epoch
    assert r16.total_steps(1e3) == 199_410 and r16.fresh_each_epoch
    # their small 4-8-4 net learned (inv(A) - inv(A0)) / eps; the others the inverse itself
    assert recipes.recipe_for("paper", 2, 8).target == "delta" and r2.target == "inverse"
    assert recipes.recipe_for("paper", 2, 32).target == "inverse"
    assert recipes.recipe_for("quick", 16).total_steps(1e7) < 6000  # the CPU budget caps big nets


def _tiny_variant(monkeypatch, **changes) -> None:
    tiny = recipes.RECIPES["tiny"]
    monkeypatch.setitem(recipes.RECIPES, "tiny", lambda n, hidden=None: replace(tiny(n, hidden), **changes))


def test_the_delta_target_is_folded_back_into_the_model(cache, box, monkeypatch):
    _tiny_variant(monkeypatch, standardize=False, target="delta")
    solver = SOLVERS.build("mlp-2fc[recipe=tiny]").fit(box)
    constant = np.abs(np.linalg.inv(box.base)[None] - box.inv_ref).mean()
    assert _mae(solver, box) < constant / 10  # the model maps T to inv(A), not to the scaled difference


def test_fresh_each_epoch_draws_new_training_matrices(cache, box, monkeypatch):
    _tiny_variant(monkeypatch, train_size=512, batch=256, steps=6, fresh_each_epoch=True)
    drawn = []
    real = draws.training_set

    def counting(*args, **kwargs):
        X, Y = real(*args, **kwargs)
        drawn.append(X[0].clone())
        return X, Y

    monkeypatch.setattr(draws, "training_set", counting)
    SOLVERS.build("mlp-2fc[recipe=tiny]").fit(box)
    assert len(drawn) == 3  # three epochs of two steps, each on its own draw
    assert not torch.equal(drawn[0], drawn[1]) and not torch.equal(drawn[1], drawn[2])


def test_unknown_recipe_and_fixed_collections(box):
    with pytest.raises(SpecError, match="unknown recipe 'slow'; known: none, paper, fast, quick, demo, tiny"):
        SOLVERS.build("mlp-2fc[recipe=slow]")
    reason = SOLVERS.build("mlp-2fc[recipe=tiny]").skip(make_dataset("pascal[n=4]"))
    assert "fixed collection" in reason
    assert SOLVERS.build("mlp-2fc[recipe=none]").skip(make_dataset("pascal[n=4]")) is None


def test_runner_rows_record_the_training(cache, box):
    row = run_cell(Cell("mlp-2fc[hidden=8,recipe=tiny]", "paper-2x2-1st"), box, warmup_s=0, min_run_s=0,
                   time_it=False)
    assert row["status"] == "ok", row.get("reason")
    assert row["train_steps"] == 300 and row["train_cache_hit"] is False and row["train_recipe"] == "tiny"
    assert row["fit_time_s"] > 0 and row["mae"] < 1e-3
