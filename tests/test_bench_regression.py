"""A deliberate accuracy regression is caught by the asv suites.

A commit that made ``lu`` worse is simulated by swapping the registry's ``lu`` for a variant
that factorises in float32 (the kind of slip a refactor makes). The unchanged ``track_*``
benchmarks then report larger errors, and asv's own comparison (the code behind
``asv compare`` and ``asv continuous``) marks them as regressions; the honest solver compared
with itself is not flagged. (The issue's example, Neumann with a lower order, needs the
approximation solvers, which are not on main yet.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg as sla
from asv.commands.compare import Compare
from asv.config import Config
from asv.util import write_json

from bench._cells import accuracy_rows
from bench.bench_accuracy import Accuracy
from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers.lapack import LU

ROOT = Path(__file__).resolve().parents[1]
CELL = ("lu", "randsvd[n=16,cond=1e4]", "float64")
TRACKS = ("track_mae", "track_rel_fro_err", "track_residual_ratio", "track_failure_rate")


class SinglePrecisionLU(LU):
    """``lu`` with a regression: getrf/getri run in float32, the result is cast back."""

    def _batched(self, A: np.ndarray) -> np.ndarray:
        return sla.inv(A.astype(np.float32), check_finite=False).astype(A.dtype)


def _tracked(rows) -> dict[str, float]:
    """What asv records for CELL: set up the Accuracy suite and call every track_*."""
    bench = Accuracy()
    bench.setup(rows, *CELL)
    return {t: getattr(bench, t)(rows, *CELL) for t in TRACKS}


@pytest.fixture(scope="module")
def tracked() -> dict[str, dict[str, float]]:
    spec, dataset, dtype = CELL
    good = _tracked(accuracy_rows([spec], [dataset], [dtype], n_test=32))
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(SOLVERS._classes, "lu", SinglePrecisionLU)
        bad = _tracked(accuracy_rows([spec], [dataset], [dtype], n_test=32))
    return {"good": good, "bad": bad}


def test_track_reports_the_regression(tracked):
    good, bad = tracked["good"], tracked["bad"]
    assert good["track_failure_rate"] == bad["track_failure_rate"] == 0.0
    assert good["track_residual_ratio"] < 30  # backward stable in float64
    # float32 rounding (u = 6e-8) instead of float64 (u = 1e-16): errors grow by orders of magnitude
    for t in ("track_mae", "track_rel_fro_err", "track_residual_ratio"):
        assert bad[t] > 1e4 * good[t], (t, good[t], bad[t])


def _resultset(values: dict[str, float]):
    """Rows as asv's results reader yields them: (key, params, values, stats, samples, version,
    machine, env)."""
    params = [[repr(p)] for p in CELL]
    for t, v in values.items():
        yield (f"bench_accuracy.Accuracy.{t}", params, [v], [None], [None], "1", "test-machine", "test-env")


def _compare(tmp_path, before, after, capsys) -> tuple[bool, bool, str]:
    conf = Config.load(str(ROOT / "asv.conf.json"))
    conf.results_dir = str(tmp_path)
    benchmarks = {f"bench_accuracy.Accuracy.{t}": {"name": f"bench_accuracy.Accuracy.{t}", "type": "track",
                                                   "unit": getattr(Accuracy, t).unit,
                                                   "params": [[repr(p)] for p in CELL],
                                                   "param_names": list(Accuracy.param_names), "version": "1"}
                  for t in TRACKS}
    write_json(tmp_path / "benchmarks.json", benchmarks, api_version=2)
    worsened, improved = Compare.print_table(conf, "before", "after", factor=1.1, split=False,
                                             resultset_1=_resultset(before), resultset_2=_resultset(after),
                                             machine="test-machine", commit_names={"before": "good", "after": "bad"})
    return worsened, improved, capsys.readouterr().out


def test_asv_compare_flags_the_regression(tracked, tmp_path, capsys):
    worsened, improved, out = _compare(tmp_path, tracked["good"], tracked["bad"], capsys)
    assert worsened and not improved
    flagged = [line for line in out.splitlines() if line.lstrip("| ").startswith("+")]
    assert {t for t in TRACKS if any(t in line for line in flagged)} == set(TRACKS) - {"track_failure_rate"}


def test_asv_compare_quiet_without_a_change(tracked, tmp_path, capsys):
    worsened, improved, _ = _compare(tmp_path, tracked["good"], dict(tracked["good"]), capsys)
    assert not worsened and not improved
