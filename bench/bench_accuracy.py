"""track_*: accuracy per solver x dataset x dtype on fixed seeds, so that an accuracy
regression shows in asv's history and in ``asv continuous`` like a slowdown does.

The numbers are the runner's own (``runner.run_grid`` with timing off, hence the metrics of
``metrics.summarize``), computed once per asv run in ``setup_cache``. Larger is worse for
every one of them, which is what asv assumes when it flags a change. Trained networks have their
own suite (``TrainedAccuracy``), on the boxes they are trained for.
"""

from __future__ import annotations

import math

from ._cells import accuracy_rows, fresh_model_cache
from .names import (
    ACCURACY_DATASETS,
    ACCURACY_N_TEST,
    ACCURACY_SOLVERS,
    DTYPES,
    TRAINED_ACCURACY_SOLVERS,
    TRAINED_DATASETS,
)


class Accuracy:
    """MAE, relative error, residual ratio and failure rate of one solver on one dataset."""

    params = (list(ACCURACY_SOLVERS), list(ACCURACY_DATASETS), list(DTYPES))
    param_names = ("solver", "dataset", "dtype")
    timeout = 900

    def setup_cache(self):
        """The rows of every combination of ``params`` (what asv runs is what is computed)."""
        return accuracy_rows(*self.params, ACCURACY_N_TEST)

    def setup(self, rows, spec, dataset, dtype):
        row = rows[(spec, dataset, dtype)]
        if row["status"] in ("absent", "skipped"):
            raise NotImplementedError(row["reason"])
        if row["status"] == "failed" and not math.isfinite(row.get("failure_rate", math.nan)):
            raise RuntimeError(row["reason"])  # a crash, not a measurement: asv shows it as failed
        self.row = row

    def track_mae(self, rows, spec, dataset, dtype):
        return self.row["mae"]

    track_mae.unit = "mean |X - X*|"

    def track_rel_fro_err(self, rows, spec, dataset, dtype):
        return self.row["rel_fro_err"]

    track_rel_fro_err.unit = "||X - X*||_F / ||X*||_F"

    def track_residual_ratio(self, rows, spec, dataset, dtype):
        return self.row["residual_ratio"]

    track_residual_ratio.unit = "||I - XA||_1 / (n ||A||_1 ||X||_1 u)"

    def track_failure_rate(self, rows, spec, dataset, dtype):
        return self.row["failure_rate"]

    track_failure_rate.unit = "fraction of matrices"


class TrainedAccuracy(Accuracy):
    """The same metrics for trained networks, on the paper's boxes they are trained for.

    Each network is trained once per asv run and commit, in ``setup_cache``, into a temporary
    model cache (``_cells.fresh_model_cache``): the number asv records for a commit comes from
    that commit's training code, never from weights another commit trained and cached."""

    params = (list(TRAINED_ACCURACY_SOLVERS), list(TRAINED_DATASETS), list(DTYPES))

    def setup_cache(self):
        with fresh_model_cache():
            return accuracy_rows(*self.params, ACCURACY_N_TEST)
