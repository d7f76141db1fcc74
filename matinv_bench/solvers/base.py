"""The solver contract and the registry every front end reads.

Lifecycle, called by the runner (and by asv and pytest-benchmark) in this order::

    solver = SOLVERS.build("gauss-jordan[backend=torch]")
    reason = solver.skip(data)        # str -> the cell is recorded as skipped
    solver.fit(data)                  # learned solvers train; others return self
    solver.prepare(A)                 # untimed: validation, copies, device transfer
    out = solver.invert()             # the ONLY timed call; batched over (B, n, n)
    result = solver.collect(out)      # untimed: back to numpy, per-matrix failures

``invert`` returns everything ``collect`` needs (e.g. ``(X, info)``), and ``collect(out)``
depends only on ``out`` and on the batch's scratch (below), which ``invert`` reads but never
modifies; so ``invert`` is repeatable, and an older ``out`` can still be collected after another
``invert``. Solvers never modify the caller's array. A matrix the solver cannot invert (a
singular pivot, a failed factorisation, a diverging iteration) comes back as NaN *and* is
flagged in ``Inversion.failed`` with a reason, so it is counted, never silently averaged. Work
that only tells which matrices failed (e.g. a per-matrix pass after a batched call raised)
belongs in ``collect``, outside the timed call.

Attribute names tell what an attribute is:

- configuration, from the spec (``__init__``): plain names (``order``, ``block``, ``device``);
- learned state, set by ``fit`` only: a trailing underscore (``model_``, ``base_``, ``X0_``,
  ``eps_``, ``n_``, ``fit_info_``); ``prepare``, ``invert`` and ``collect`` never change it;
- per-batch scratch, set by ``prepare`` only: a leading underscore (``_A``, ``_A0``, ``_X0``,
  ``_model``): the batch and whatever else the timed call reads, where it runs and in the
  batch's precision;
- ``invert`` and ``collect`` set no attributes at all.

There is one ``prepare`` (:meth:`Solver.prepare`); a solver adapts it through three hooks:
``check_batch`` (refuse a batch this solver cannot take), ``place`` (where the timed call's
arrays live: numpy here, torch tensors on the device in :mod:`._torch`) and ``batch_scratch``
(further scratch, such as A0 and inv(A0) in the batch's precision).

Solvers whose network the shared training code trains (the MLPs) also follow :class:`Trainable`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from matinv_bench.errors import InputError
from matinv_bench.specs import Registry

if TYPE_CHECKING:
    from matinv_bench.datasets.base import MatrixSet

FAMILIES = ("direct", "iterative", "approximation", "learned")


@dataclass
class Inversion:
    """What a solver returned, in numpy, with its per-matrix failures."""

    X: np.ndarray  # (B, n, n); NaN where failed
    failed: np.ndarray  # (B,) bool
    reason: str | None = None  # why matrices failed, if any did


def check_stack(A: Any, *, allow_float16: bool = False) -> np.ndarray:
    """Validate a batch of square matrices and return it as a numpy array (not copied).

    Raises :class:`InputError` for anything but a finite, real, floating (B, n, n) array.
    """
    if not isinstance(A, np.ndarray):
        raise InputError(f"expected a numpy array of shape (B, n, n), got {type(A).__name__}")
    if A.ndim != 3:
        raise InputError(f"expected a batch of matrices of shape (B, n, n), got an array of shape {A.shape}")
    if A.shape[1] != A.shape[2]:
        raise InputError(f"matrices must be square, got shape {A.shape[1:]} (batch shape {A.shape})")
    if A.shape[1] == 0:
        raise InputError("matrices must have n >= 1, got n = 0")
    if A.shape[0] == 0:
        raise InputError("empty batch: nothing to invert (B = 0)")
    if np.iscomplexobj(A):
        raise InputError(f"complex matrices are not supported (dtype {A.dtype})")
    allowed = (np.float32, np.float64) + ((np.float16,) if allow_float16 else ())
    if A.dtype.type not in allowed:
        names = ", ".join(np.dtype(t).name for t in allowed)
        raise InputError(f"dtype {A.dtype} is not supported; convert to one of {names}")
    bad = ~np.isfinite(A).all(axis=(1, 2))
    if bad.any():
        idx = np.flatnonzero(bad)
        raise InputError(f"{bad.sum()} matrices contain NaN or Inf (first at batch index {idx[0]})")
    return A


class Solver(ABC):
    """Base class of every solver. Subclasses set ``family`` and implement ``invert``.

    Class attributes:
      name     public id, set by the registry (``lu``, ``gauss-jordan``, ...)
      family   one of ``FAMILIES``
      library  the runtime of the timed call ("numpy" or "torch"); the runner groups cells by
               it, because idle BLAS threads of one library starve the other's on small machines
      flops_formula, flops_source
               the model flop count of :meth:`flops` in words (``"2 n^3"``) and where it comes
               from (routines and LAPACK Working Note 41, or the products counted); the docs
               reference shows them, and every built-in solver states both
    Instance attributes set by the registry: ``spec`` (canonical string) and ``params``.

    Naming rule (see the module docstring): configuration has plain names; learned state, set
    by ``fit`` only, ends in ``_`` (``model_``, ``base_``, ``fit_info_``); per-batch scratch, set
    by ``prepare`` only, starts with ``_`` (``_A``, ``_A0``, ``_model``); ``invert`` and
    ``collect`` set nothing. ``invert`` returns all that ``collect`` reads besides the scratch.
    """

    name: ClassVar[str] = "?"
    family: ClassVar[str] = "direct"
    # a cheap spec of this solver for the generated contract tests (e.g. a tiny training budget)
    test_spec: ClassVar[str | None] = None
    library: str = "numpy"
    device: str = "cpu"
    flops_formula: ClassVar[str] = ""
    flops_source: ClassVar[str] = ""

    def skip(self, data: MatrixSet) -> str | None:
        """Return a reason to skip this dataset, or None to run it."""
        return None

    def fit(self, train: MatrixSet) -> Solver:
        """Learn from a training set. Non-learned solvers return self unchanged."""
        return self

    def prepare(self, A: np.ndarray) -> None:
        """Untimed: validate ``A`` (B, n, n) and store the batch's scratch for :meth:`invert`.

        ``self._A`` becomes a private copy of ``A`` (placed by :meth:`place`, same precision);
        :meth:`batch_scratch` adds the rest. Subclasses adapt the hooks, not this method.
        Raises :class:`InputError` before anything is stored if the batch is refused.
        """
        A = check_stack(A)
        self.check_batch(A)
        scratch = {"_A": self.place(A), **self.batch_scratch(A)}
        for name, value in scratch.items():
            setattr(self, name, value)
        self.sync()

    def check_batch(self, A: np.ndarray) -> None:
        """Raise :class:`InputError` if this (fitted) solver cannot take the valid stack ``A``."""

    def place(self, x: np.ndarray, dtype: Any = None) -> Any:
        """A private C-ordered copy of ``x``, in ``dtype`` (default: its own), where ``invert`` runs."""
        return np.array(x, dtype=dtype, order="C", copy=True)

    def batch_scratch(self, A: np.ndarray) -> dict[str, Any]:
        """Further per-batch scratch for the validated stack ``A``, by attribute name (each
        starting with ``_``); :meth:`prepare` stores it. Empty by default."""
        return {}

    @abstractmethod
    def invert(self) -> Any:
        """The timed call: invert every matrix given to :meth:`prepare`; return all that
        :meth:`collect` needs. Reads the scratch, modifies nothing, sets no attributes."""

    def collect(self, out: Any) -> Inversion:
        """Untimed: turn ``invert``'s output into numpy and flag non-finite matrices.

        Depends only on ``out`` and on the scratch of :meth:`prepare`; sets no attributes."""
        X = np.asarray(out)
        failed = ~np.isfinite(X).all(axis=(1, 2))
        reason = None
        if failed.any():  # an overflow (Inf) is a failure like any other: NaN and flagged
            X = mark_failed(X.copy(), failed)
            reason = f"{failed.sum()} of {len(failed)} outputs are not finite"
        return Inversion(X, failed, reason)

    def sync(self) -> None:
        """Wait for asynchronous work (CUDA) to finish; the clock calls it inside the timing."""

    @abstractmethod
    def flops(self, n: int) -> float:
        """Model flop count per n x n matrix (used for GFLOP/s and scaling plots): leading terms,
        additions plus multiplications, as :attr:`flops_formula` states it (the vocabulary of
        LAPACK routine counts is in :mod:`.flops`)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'spec', self.name)}>"


@runtime_checkable
class Trainable(Protocol):
    """A solver whose network the shared training code (:mod:`matinv_bench.solvers.learned.training`)
    trains, and that can hand that network over before its own ``fit``; callers test for it with
    ``isinstance(solver, Trainable)``. The contract:

    - ``recipe``: the name of its training recipe; ``"none"`` keeps its initial weights (nothing
      to train).
    - ``seed``: the seed of its initialisation and of its batch order.
    - ``trainee(data)``: a new network for ``data``, untrained (its seeded initialisation or its
      warm start), with what training needs, as a
      :class:`~matinv_bench.solvers.learned.trainee.Trainee`. It sets no attribute of the solver,
      so it may be called before ``fit`` or instead of it: a grid trains the networks of its cells
      together this way (``training.fit_many``), and the cache then holds each under the key the
      cell's own ``fit`` looks up. Raises :class:`~matinv_bench.errors.TooLargeError` for a network
      whose weights would not fit in memory.
    - ``fit(data)``: the solver's one setter of learned state (attributes ending in ``_``): it
      builds the same trainee, trains it with ``recipe`` (or loads it from the cache), keeps the
      network and records the training in ``fit_info_`` (see ``training.fit``).
    - ``layers``, ``width(n)`` and ``param_bytes(n)``: the network's linear layers, its hidden
      width and the bytes of its weights for n x n matrices (for memory estimates, before any
      network is built).

    ``learned-ns`` learns too, but its coefficients are trained by its own ``fit`` (L-BFGS through
    the iteration), not by this training code: it is not Trainable.
    """

    recipe: str
    seed: int
    layers: int

    def trainee(self, data: MatrixSet) -> Any: ...

    def fit(self, data: MatrixSet) -> Solver: ...

    def width(self, n: int) -> int: ...

    def param_bytes(self, n: int) -> int: ...


SOLVERS: Registry[Solver] = Registry("solver", plugins="matinv_bench.solvers")  # + plugins: docs/extending.md
register = SOLVERS.register


def mark_failed(X: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """Set the failed matrices of a stack to NaN (in place) and return it."""
    if failed.any():
        X[failed] = np.nan
    return X
