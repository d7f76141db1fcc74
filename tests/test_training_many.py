"""Training several seeds as one stacked model gives each the weights it gets alone, and fills
the cache under the keys a single-seed fit looks up."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from matinv_bench.datasets import make_dataset
from matinv_bench.datasets.base import split_rng
from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers.learned import cache as model_cache
from matinv_bench.solvers.learned import draws, recipes, training
from matinv_bench.solvers.learned.architecture import build_mlp
from matinv_bench.solvers.learned.stacked import StackedMLP, StepOptions, make_step, optimizer_scalars

SEEDS = (0, 1, 2)
# Stacked and lone training run the same float64 operations in the same order except the dense
# products: baddbmm (forward) and bmm (backward) over the stack against addmm and mm for one
# network, and the bias gradient summed over a broadcast axis against a plain sum. BLAS may
# block and vectorise those sums differently, so single results may differ in the last bits;
# over a few hundred Adam steps that stays near 1e-15 relative. A wrong batch order, training
# stream, scaling, optimiser state or gradient scale would differ by far more than this.
RTOL = 1e-10


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(model_cache.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(model_cache.RETRAIN_ENV, raising=False)
    return tmp_path


def _datas(spec: str = "paper-2x2-1st", seeds=SEEDS):
    return [make_dataset(spec, n_test=8, seed=s) for s in seeds]


def _solvers(spec: str, seeds=SEEDS):
    return [SOLVERS.build(f"{spec[:-1]},seed={s}]") for s in seeds]


def _assert_same_weights(a: nn.Module, b: nn.Module, rtol: float = RTOL) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        scale = x.abs().max().clamp_min(1e-300)
        assert ((x - y).abs().max() / scale).item() <= rtol, name


def _variant(monkeypatch, **changes) -> None:
    tiny = recipes.RECIPES["tiny"]
    monkeypatch.setitem(recipes.RECIPES, "tiny", lambda n, hidden=None: replace(tiny(n, hidden), **changes))


def _trainees(spec: str, datas, seeds=SEEDS):
    """The networks of the seeds' solvers, untrained (each solver's ``trainee``)."""
    return [s.trainee(d) for s, d in zip(_solvers(spec, seeds), datas)]


def _alone_and_together(cache, monkeypatch, spec: str, datas, options: StepOptions | None = None):
    """Each seed trained alone (fit), then all together (fit_many) with a fresh cache."""
    alone = [s.fit(d) for s, d in zip(_solvers(spec), datas)]
    monkeypatch.setenv(model_cache.CACHE_ENV, str(cache / "together"))
    together = _trainees(spec, datas)
    infos = training.fit_many(together, datas, "tiny", options)
    return alone, together, infos


@pytest.mark.parametrize(
    "spec", ["mlp-2fc[hidden=16,recipe=tiny]", "mlp-3fc[hidden=8,recipe=tiny]", "mlp-2fc[init=linear,recipe=tiny]"]
)  # a warm start, moved into the scaled coordinates
def test_seeds_trained_together_get_the_weights_they_get_alone(cache, monkeypatch, spec):
    _variant(monkeypatch, steps=120)
    datas = _datas()
    alone, together, infos = _alone_and_together(cache, monkeypatch, spec, datas)
    for a, t in zip(alone, together):
        _assert_same_weights(a.model_, t.model)
    assert not torch.equal(together[0].model[0].weight, together[1].model[0].weight)  # seeds differ
    for a, info in zip(alone, infos):
        assert info["train_stacked"] == 3 and a.fit_info_["train_stacked"] == 1 and info["train_cache_hit"] is False
        assert info["train_steps"] == a.fit_info_["train_steps"] == 120
        assert info["train_samples"] == a.fit_info_["train_samples"]
        assert info["cache_key"] == a.fit_info_["cache_key"]
        assert info["train_loss"] == pytest.approx(a.fit_info_["train_loss"], rel=1e-8)


def test_per_epoch_schedule_weight_decay_delta_target_and_fresh_draws(cache, monkeypatch):
    # every branch of the loop: restarts stepped per epoch, weight decay, the paper's unscaled
    # delta target, a new draw each epoch (prefetched in threads) and a short last batch
    _variant(monkeypatch, train_size=600, batch=128, steps=23, schedule="restarts", lr_min=1e-4,
             weight_decay=1e-3, standardize=False, target="delta", fresh_each_epoch=True)
    datas = _datas(seeds=(0, 1))
    alone = [s.fit(d) for s, d in zip(_solvers("mlp-2fc[hidden=8,recipe=tiny]", (0, 1)), datas)]
    for prefetch in (True, False):
        monkeypatch.setenv(model_cache.CACHE_ENV, str(cache / f"prefetch-{prefetch}"))
        together = _trainees("mlp-2fc[hidden=8,recipe=tiny]", datas, (0, 1))
        training.fit_many(together, datas, "tiny", StepOptions(prefetch=prefetch))
        for a, t in zip(alone, together):
            _assert_same_weights(a.model_, t.model)


def test_training_sets_drawn_on_the_device_are_the_box_and_its_inverses(monkeypatch):
    # the CUDA path, run on the CPU: the box A0 + eps [-1, 1]^{n x n} drawn by torch, seeded by the train stream
    import numpy as np

    monkeypatch.setattr(draws, "DEVICE_DRAWS", ("cuda", "cpu"))
    data = make_dataset("paper-3x3", n_test=8, seed=4)
    solver = SOLVERS.build("mlp-2fc[hidden=8,recipe=tiny]")
    net = solver.trainee(data)
    assert draws.draws_on_device(data, "cpu")
    X, Y = draws.training_set(net, data, 70_000, "cpu", torch.float64)  # more than one chunk
    T = X.reshape(-1, 3, 3)
    assert X.shape == (70_000, 9) and -1 <= T.min() < -0.99 and 0.99 < T.max() <= 1  # T = (A - A0) / eps
    assert abs(T.mean().item()) < 0.01 and T.var().item() == pytest.approx(1 / 3, rel=0.01)  # uniform
    A = data.base[None] + data.eps * T.numpy()
    np.testing.assert_allclose(Y.reshape(-1, 3, 3).numpy(), np.linalg.inv(A), rtol=1e-9, atol=1e-12)
    X2, _ = draws.training_set(net, data, 70_000, "cpu", torch.float64)
    assert torch.equal(X, X2)  # the same seeded stream: the same set
    X3, _ = draws.training_set(net, make_dataset("paper-3x3", n_test=8, seed=5), 70_000, "cpu", torch.float64)
    assert not torch.equal(X, X3)
    rng = split_rng(data.seed, "train")
    first = draws.training_set(net, data, 100, "cpu", torch.float64, rng)[0]
    assert not torch.equal(first, draws.training_set(net, data, 100, "cpu", torch.float64, rng)[0])  # fresh draws
    assert not draws.draws_on_device(make_dataset("spd-box[n=3]", n_test=2, seed=0), "cpu")  # no train_box: host


def test_seeds_drawn_on_the_device_train_together_as_alone_under_their_own_keys(cache, monkeypatch):
    _variant(monkeypatch, train_size=600, batch=128, steps=23, fresh_each_epoch=True)
    datas = _datas(seeds=(0, 1))
    host = SOLVERS.build("mlp-2fc[hidden=8,recipe=tiny,seed=0]").fit(datas[0])
    monkeypatch.setattr(draws, "DEVICE_DRAWS", ("cuda", "cpu"))
    alone = [s.fit(d) for s, d in zip(_solvers("mlp-2fc[hidden=8,recipe=tiny]", (0, 1)), datas)]
    assert alone[0].fit_info_["train_draws"] == "device" and host.fit_info_["train_draws"] == "host"
    assert alone[0].fit_info_["cache_key"] != host.fit_info_["cache_key"]
    assert not alone[0].fit_info_["train_cache_hit"]
    monkeypatch.setenv(model_cache.CACHE_ENV, str(cache / "together"))
    together = _trainees("mlp-2fc[hidden=8,recipe=tiny]", datas, (0, 1))
    infos = training.fit_many(together, datas, "tiny")
    for a, t, info in zip(alone, together, infos):
        _assert_same_weights(a.model_, t.model)
        assert info["cache_key"] == a.fit_info_["cache_key"] and info["train_draws"] == "device"


def test_a_single_seed_fit_after_fit_many_is_a_cache_hit(cache):
    datas = _datas(seeds=(0, 1))
    together = _trainees("mlp-2fc[hidden=8,recipe=tiny]", datas, (0, 1))
    infos = training.fit_many(together, datas, "tiny")
    later = SOLVERS.build("mlp-2fc[hidden=8,recipe=tiny,seed=1]").fit(datas[1])
    assert later.fit_info_["train_cache_hit"] is True and later.fit_info_["train_stacked"] == 2
    assert later.fit_info_["fit_time_s"] == infos[1]["fit_time_s"]
    _assert_same_weights(later.model_, together[1].model, rtol=0)


def test_fit_many_trains_only_what_the_cache_lacks(cache):
    datas = _datas()
    SOLVERS.build("mlp-2fc[hidden=8,recipe=tiny,seed=1]").fit(datas[1])
    infos = training.fit_many(_trainees("mlp-2fc[hidden=8,recipe=tiny]", datas), datas, "tiny")
    assert [i["train_cache_hit"] for i in infos] == [False, True, False]
    assert infos[0]["train_stacked"] == infos[2]["train_stacked"] == 2 and infos[1]["train_stacked"] == 1
    again = training.fit_many(_trainees("mlp-2fc[hidden=8,recipe=tiny]", datas), datas, "tiny")
    assert all(i["train_cache_hit"] for i in again)


def test_what_cannot_train_together_is_refused(cache):
    datas = _datas(seeds=(0, 1))
    two = [SOLVERS.build("mlp-2fc[hidden=8,recipe=tiny]"), SOLVERS.build("mlp-2fc[hidden=16,recipe=tiny,seed=1]")]
    with pytest.raises(ValueError, match="same widths"):
        training.fit_many([s.trainee(d) for s, d in zip(two, datas)], datas, "tiny")
    same = _solvers("mlp-2fc[hidden=8,recipe=tiny]", (0, 0))
    with pytest.raises(ValueError, match="same model"):
        training.fit_many([s.trainee(datas[0]) for s in same], [datas[0]] * 2, "tiny")
    with pytest.raises(ValueError, match="2 networks but 1 datasets"):
        training.fit_many([s.trainee(datas[0]) for s in same], datas[:1], "tiny")
    assert not list(cache.glob("*.pt"))  # nothing trained, nothing stored


def test_the_stack_runs_each_network_on_its_own_rows():
    torch.manual_seed(0)
    models = [build_mlp(3, 12, 3) for _ in range(3)]
    stack = StackedMLP(models)
    x = torch.randn(3, 5, 9, dtype=torch.float64)
    out = stack(x)
    for s, m in enumerate(models):
        torch.testing.assert_close(out[s], m(x[s]), rtol=1e-14, atol=1e-14)
    with torch.no_grad():
        for w in stack.weights:
            w.mul_(2)
    stack.unstack_into(models)
    torch.testing.assert_close(models[2][2].weight, stack.weights[1][2], rtol=0, atol=0)
    with pytest.raises(ValueError, match="same widths"):
        StackedMLP([build_mlp(3, 12, 3), build_mlp(3, 12, 2)])
    with pytest.raises(ValueError, match="only Linear, ReLU"):
        StackedMLP([nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))])


def test_each_network_gets_its_own_gradient_from_the_summed_loss():
    torch.manual_seed(0)
    models = [build_mlp(2, 6, 2) for _ in range(2)]
    x, y = torch.randn(2, 16, 4, dtype=torch.float64), torch.randn(2, 16, 4, dtype=torch.float64)
    stack = StackedMLP(models)
    make_step(stack, torch.optim.SGD(stack.parameters(), lr=0.0))(x, y)
    for s, m in enumerate(models):
        nn.functional.mse_loss(m(x[s]), y[s]).backward()
        torch.testing.assert_close(stack.weights[0].grad[s], m[0].weight.grad, rtol=1e-13, atol=1e-15)


@pytest.mark.slow
def test_the_compiled_step_trains_as_the_eager_one(cache, monkeypatch):
    # aot_eager traces the step (forward, loss, backward and Adam) as torch.compile does without
    # generating code; with float64 optimiser scalars it agrees with eager training to rounding
    _variant(monkeypatch, steps=40)
    datas = _datas(seeds=(0, 1))
    eager = _trainees("mlp-2fc[hidden=8,recipe=tiny]", datas, (0, 1))
    training.fit_many(eager, datas, "tiny")
    monkeypatch.setenv(model_cache.CACHE_ENV, str(cache / "compiled"))
    compiled = _trainees("mlp-2fc[hidden=8,recipe=tiny]", datas, (0, 1))
    training.fit_many(compiled, datas, "tiny", StepOptions(compile=True, backend="aot_eager"))
    for a, b in zip(eager, compiled):
        _assert_same_weights(a.model, b.model)
    assert torch.get_default_dtype() == torch.float32  # restored


def test_optimizer_scalars_restore_the_default_dtype():
    with optimizer_scalars(torch.float64):
        assert torch.get_default_dtype() == torch.float64
    with optimizer_scalars(torch.float32):
        assert torch.get_default_dtype() == torch.float32
    with pytest.raises(RuntimeError), optimizer_scalars(torch.float64):
        raise RuntimeError
    assert torch.get_default_dtype() == torch.float32


def test_a_compiled_step_needs_a_tensor_learning_rate():
    stack = StackedMLP([build_mlp(2, 4, 2)])
    with pytest.raises(ValueError, match="learning rate as a tensor"):
        make_step(stack, torch.optim.Adam(stack.parameters(), lr=1e-3), StepOptions(compile=True))
