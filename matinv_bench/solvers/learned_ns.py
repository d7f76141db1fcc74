"""``learned-ns[steps=k,degree=d,init=scaled|base]``: hyperpower steps with trained coefficients.

The iteration of :mod:`._hyperpower`, X <- X p_k(I - A X) with p_k(r) = sum_j c_kj r^j of degree
d, whose steps x (d + 1) coefficients c_kj are trained by backpropagation through the whole
iteration, on the dataset's training distribution (its train split, as the MLPs are); the cost
stays 2 (d + 1) n^3 flops per step and the parameters do not grow with n. This is the idea of
SchulzNN (OpenReview WNrJUUuHBT), learned Schulz iterations, with the per-step polynomial form of
Polar Express (Amsel, Persson, Musco and Gower, arXiv 2505.16932) and CANS (Grishina, Smirnov and
Rakhuba, arXiv 2506.10935), which design the coefficients instead (see ``minimax-ns``).

Training (in ``fit``): the coefficients start at the classical hyperpower ones (all ones; degree 1
is Newton-Schulz) and minimise the error of the final iterate against the float64 LAPACK
inverses of a train split (its size falls with n: :func:`train_size`), measured per matrix
relative to its inverse (:func:`relative_loss`), with full-batch L-BFGS (strong Wolfe line search)
for at most ``train_iters`` iterations: a few dozen numbers need no stochastic optimiser. The
landscape of a deep composition of polynomials is rough: training from the classical
coefficients finds a nearby optimum, often far from the designed ``minimax-ns``. A second, disjoint
train split (validation) then picks the trained coefficients only if their mean absolute error
there is at least 1% below the classical coefficients', so training never returns coefficients that
do worse there than classical Newton-Schulz, nor a gain within noise
(``fit_info_["train_selected"]`` says which). The coefficients are kept in the model cache
(:mod:`.learned.cache`), keyed like the MLPs' weights, and ``fit_info_`` records their provenance
as theirs (``train_commit``, ``train_fingerprint``, ``train_cache_hit``). The coefficients are
trained here, in ``fit``, not by the MLPs' training loop: the solver is not
:class:`~matinv_bench.solvers.base.Trainable`.

Datasets without a training distribution (fixed collections) are skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from matinv_bench.solvers._hyperpower import HyperpowerSolver, check_degree, hyperpower, scaled_start
from matinv_bench.solvers.base import register
from matinv_bench.solvers.flops import routines
from matinv_bench.solvers.learned import cache, training
from matinv_bench.specs import check_int
from matinv_bench.system import pinned_threads


@dataclass(frozen=True)
class NSRecipe:
    """How the coefficients are trained (its fields enter the cache key)."""

    train_size: int  # matrices in the training split (and as many again for validation)
    iters: int  # L-BFGS iterations at most
    name: str = "lbfgs"
    loss: str = "log mean relative squared error"
    select: str = "validation mae against classical"


DIVERGED = 1e30  # the loss reported to the line search at a point where the iteration overflows
MARGIN = 0.01  # trained coefficients are kept only if their validation MAE is this much lower than classical's


def train_size(n: int) -> int:
    """Training matrices for n x n: 256 for small n, falling like 1 / n^3 (at least 16)."""
    return int(max(16, min(256, 2**19 // n**3)))


def relative_loss(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """log of the mean over matrices of ||X - Y||_F^2 / ||Y||_F^2: every matrix counts at its own
    scale, and the log keeps the steep landscape of a deep iteration in range."""
    d = X - Y
    return torch.log(((d * d).sum(dim=(-2, -1)) / (Y * Y).sum(dim=(-2, -1))).mean())


class Coefficients(nn.Module):
    """The (steps, degree + 1) coefficient table as one parameter (so the model cache can hold it)."""

    def __init__(self, steps: int, degree: int):
        super().__init__()
        self.c = nn.Parameter(torch.ones(steps, degree + 1, dtype=torch.float64))


@register("learned-ns")
class LearnedNS(HyperpowerSolver):
    """Hyperpower steps X <- X p_k(I - AX) whose steps x (degree + 1) coefficients are trained on the
    dataset's train split, starting from classical Newton-Schulz; O(n^3) per step."""

    test_spec = "learned-ns[steps=20,train_iters=5]"
    flops_formula = "2 (degree + 1) n^3 steps"
    flops_source = "the same hyperpower step with trained coefficients (training is fit, not timed)"

    def __init__(self, steps: int = 10, degree: int = 1, init: str = "scaled", train_iters: int = 100,
                 tol: float = 1e-2, device: str = "auto"):
        super().__init__(steps, init, tol, device)
        self.degree = check_degree(degree)
        self.train_iters = check_int("train_iters", train_iters, 0)

    def skip(self, data) -> str | None:
        reason = super().skip(data)
        if reason is None and not data.source.trainable:
            reason = f"{data.spec!r} is a fixed collection: no training distribution to learn coefficients from"
        return reason

    def fit(self, data) -> LearnedNS:
        super().fit(data)
        coefs = Coefficients(self.steps, self.degree)
        recipe = NSRecipe(train_size(data.n), self.train_iters)
        arch = {"solver": self.name, "steps": self.steps, "degree": self.degree, "init": self.init}
        key, fields = cache.cache_key(arch, data.seed, data, recipe)
        loaded = cache.load(key, coefs)
        if loaded is not None:
            info = {**loaded, "train_cache_hit": True}
        else:
            t0 = time.perf_counter()
            info = self._train(coefs, data, recipe)
            info.update(fit_time_s=time.perf_counter() - t0, train_device=self.device, cache_key=key)
            info = {**cache.save(key, coefs, info, fields, data.spec), "train_cache_hit": False}
        self.coefs_ = coefs.c.detach().cpu().numpy().copy()
        self.fit_info_ = info
        return self

    def _start(self, A: torch.Tensor) -> torch.Tensor:
        if self.init == "base":
            return torch.as_tensor(self.X0_, device=self.device).expand_as(A)
        return scaled_start(A)

    def _train(self, coefs: Coefficients, data, recipe: NSRecipe) -> dict:
        """Train ``coefs`` in place; keep them only if they beat classical on the validation split."""
        split = data.draw_train(2 * recipe.train_size)
        A = torch.as_tensor(split.A, device=self.device)
        Y = torch.as_tensor(split.inv_ref, device=self.device)
        fit_, val = slice(0, recipe.train_size), slice(recipe.train_size, None)
        X0 = self._start(A)
        coefs.to(self.device)
        classical = coefs.c.detach().clone()

        def loss(c) -> torch.Tensor:
            return relative_loss(hyperpower(A[fit_], X0[fit_], c), Y[fit_])

        def mae(c) -> float:
            with torch.no_grad():
                return float((hyperpower(A[val], X0[val], c) - Y[val]).abs().mean().item())

        opt = torch.optim.LBFGS([coefs.c], lr=1.0, max_iter=max(recipe.iters, 1), history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            value = loss(coefs.c)
            if not torch.isfinite(value):  # a diverging trial point: a high wall, so the line search steps back
                return torch.tensor(DIVERGED, dtype=value.dtype)
            value.backward()
            return value

        threads = training.step_threads(self.device, 3 * recipe.train_size * self.flops(data.n))  # as the MLPs' steps
        if recipe.iters > 0:
            with torch.enable_grad(), pinned_threads(threads):
                opt.step(closure)
        trained = coefs.c.detach().clone()
        moved = bool(torch.isfinite(trained).all()) and not torch.equal(trained, classical)
        better = moved and mae(trained) < (1 - MARGIN) * mae(classical)
        with torch.no_grad():
            coefs.c.copy_(trained if better else classical)
            final = float(loss(coefs.c).item())
        return {"train_recipe": recipe.name, "train_steps": int(opt.state[coefs.c].get("n_iter", 0)),
                "train_size": recipe.train_size, "train_loss": final,
                "train_selected": "trained" if better else "classical"}

    def invert(self):
        return hyperpower(self._A, self.start(), self.coefs_.tolist())

    def flops(self, n: int) -> float:
        return routines("gemm") * (self.degree + 1) * n**3 * self.steps
