"""time_*: seconds per batched ``invert()`` call, the one call the CLI's clock measures too.

Threads are pinned to ``names.THREADS`` (threadpoolctl and torch) in every setup, and to one
by the thread variables of asv.conf.json's ``env_nobuild``.
"""

from __future__ import annotations

from ._cells import Pinned, build, ready, timed_call, timing_data
from .names import (DTYPES, LARGE_DTYPE, LARGE_N, LARGE_SOLVERS, MLP_BATCH, MLP_DATASETS, MLP_SOLVERS, TIME_BATCH,
                    TIME_DATASET, TIME_N, TIME_SOLVERS)


class TimeInvert(Pinned):
    """Direct and approximation solvers: one call inverts TIME_BATCH matrices of size n in dtype
    from ``names.TIME_DATASET`` (a box around an SPD base, so every solver applies)."""

    params = (list(TIME_SOLVERS), list(TIME_N), list(DTYPES))
    param_names = ("solver", "n", "dtype")
    warmup_time = 0.1
    repeat = (3, 10, 1.0)  # 3 to 10 samples per process, at most ~1 s: a 2-core machine stays usable

    def setup(self, spec, n, dtype):
        self._pin()
        solver = ready(build(spec), timing_data(TIME_DATASET.format(n=n), TIME_BATCH), dtype)
        self.call = timed_call(solver)

    def time_invert(self, spec, n, dtype):
        self.call()


class TimeInvertLarge(Pinned):
    """Direct solvers on one matrix of size n (``names.LARGE_N``) per call, in ``LARGE_DTYPE``,
    from ``names.TIME_DATASET``: the sizes where their blocked paths run (a solver that refuses n
    is skipped)."""

    params = (list(LARGE_SOLVERS), list(LARGE_N))
    param_names = ("solver", "n")
    warmup_time = 0.1
    repeat = (3, 10, 2.0)  # an unblocked elimination at n = 1024 takes about a second a call
    timeout = 300

    def setup(self, spec, n):
        self._pin()
        solver = ready(build(spec), timing_data(TIME_DATASET.format(n=n), 1), LARGE_DTYPE)
        self.call = timed_call(solver)

    def time_invert(self, spec, n):
        self.call()


class TimeMLPInference(Pinned):
    """A network's forward pass over MLP_BATCH matrices of the paper's boxes (width 8 n^2).

    Networks are built, and trained ones fitted through the package's model cache, once per
    asv run in ``setup_cache``; a repeat only copies the inputs in."""

    params = (list(MLP_SOLVERS), list(MLP_DATASETS), list(DTYPES))
    param_names = ("solver", "dataset", "dtype")
    warmup_time = 0.1
    repeat = (3, 10, 1.0)  # 3 to 10 samples per process, at most ~1 s: a 2-core machine stays usable
    timeout = 600

    def setup_cache(self):
        models = {}
        solvers, datasets, _ = self.params
        for spec in solvers:
            for ds in datasets:
                try:
                    models[(spec, ds)] = build(spec).fit(timing_data(ds, MLP_BATCH))
                except NotImplementedError as exc:
                    models[(spec, ds)] = str(exc)
        return models

    def setup(self, models, spec, dataset, dtype):
        model = models[(spec, dataset)]
        if isinstance(model, str):
            raise NotImplementedError(model)
        self._pin()
        self.call = timed_call(ready(model, timing_data(dataset, MLP_BATCH), dtype, fit=False))

    def time_forward(self, models, spec, dataset, dtype):
        self.call()

