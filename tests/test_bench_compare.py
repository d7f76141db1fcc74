"""pytest-benchmark flags a slowdown: the worked example of docs/benchmarks.md, on one case.

A baseline of ``lu``'s benchmark is saved (``--benchmark-autosave``), then the same benchmark is
compared with it (``--benchmark-compare --benchmark-compare-fail=median:50%``): unchanged it
passes, made twice as slow it fails with pytest-benchmark's regression message.

The slowdown is made up on a clock this test controls (``--benchmark-timer``): it moves by a
nanosecond per reading and by 1 ms times ``SLOWDOWN`` inside ``lu``'s ``invert``, which still runs.
The verdicts therefore depend on the saving, loading and comparing, never on the load of the
machine (no wall time is asserted); how much real noise to allow is docs/benchmarks.md's topic.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from matinv_bench.solvers.lapack import LU

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
CASE = "tests/benchmarks/test_bench_invert.py::test_invert[lu-randsvd[n=8,cond=1e3]]"
TICK = 1e-9  # what every reading of the clock adds: pytest-benchmark measures its precision first
CALL = 1e-3  # what one call of lu's invert adds, times SLOWDOWN
_clock = {"now": 0.0, "slowdown": 1.0}


def clock() -> float:
    """The timer the runs below use (``--benchmark-timer=<this module>.clock``)."""
    _clock["now"] += TICK
    return _clock["now"]


@pytest.fixture
def run(pytester, monkeypatch, tmp_path):
    """Run CASE in-process with the clock above, ``slowdown`` times slower, storing under tmp_path."""
    real = LU.invert

    def invert(self):
        _clock["now"] += CALL * _clock["slowdown"]
        return real(self)

    monkeypatch.setattr(LU, "invert", invert)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # pytest-benchmark times nothing on an xdist worker

    def go(slowdown: float, *options: str):
        _clock["slowdown"] = slowdown
        return pytester.runpytest_inprocess(
            str(ROOT / CASE), "-p", "no:cacheprovider", f"--rootdir={ROOT}", f"--benchmark-timer={__name__}.clock",
            f"--benchmark-storage=file://{tmp_path / 'benchmarks'}", *options)

    return go


def test_a_twofold_slowdown_is_flagged(run, tmp_path):
    saved = run(1.0, "--benchmark-autosave")
    assert saved.ret == 0, saved.stdout.str()
    (baseline,) = (tmp_path / "benchmarks").glob("*/0001_*.json")  # what --benchmark-compare=0001 names

    same = run(1.0, "--benchmark-compare=0001", "--benchmark-compare-fail=median:50%")
    assert same.ret == 0, same.stdout.str()

    slow = run(2.0, "--benchmark-compare=0001", "--benchmark-compare-fail=median:50%")
    out = slow.stdout.str() + slow.stderr.str()
    # on the command line: exit status 1, the exception's traceback after the table (in-process,
    # pytest reports it as an internal error)
    assert slow.ret != 0 and "PerformanceRegression: Performance has regressed." in out, out
    (line,) = re.findall(r"test_invert\[lu-randsvd\[n=8,cond=1e3\]\] \(0001_\w+\) - (Field 'median' .*)", out)
    growth, threshold = map(
        float, re.fullmatch(r"Field 'median' has failed PercentageRegressionCheck: (\S+) > (\S+)", line).groups()
    )
    assert threshold == 50 and growth == pytest.approx(100, abs=0.01)  # twice as slow: +100 %
    assert baseline.name.startswith("0001_")
