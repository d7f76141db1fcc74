"""Seeds aggregated: mean and sample standard deviation (ddof=1) of the ok rows of each cell."""

import numpy as np
import pandas as pd
import pytest

from matinv_bench.reporting.aggregate import aggregate_seeds, seeds_table


def _rows():
    rows = []
    for seed, (mae_lu, t_lu, mae_gj, status_gj) in enumerate([(1.0, 2.0, 10.0, "ok"), (2.0, 4.0, 20.0, "ok"),
                                                               (4.0, 9.0, 1e9, "failed")]):
        rows.append(dict(solver="lu", dataset="d", n=4, dtype="float64", device="cpu", seed=seed, status="ok",
                         mae=mae_lu, time_per_matrix_s=t_lu))
        rows.append(dict(solver="gj", dataset="d", n=4, dtype="float64", device="cpu", seed=seed, status=status_gj,
                         mae=mae_gj, time_per_matrix_s=np.nan))
    rows.append(dict(solver="lu", dataset="e", n=np.nan, dtype="float64", device="cpu", seed=0, status="ok",
                     mae=3.0, time_per_matrix_s=1.0))
    return pd.DataFrame(rows)


def test_mean_and_std_over_ok_seeds():
    agg = aggregate_seeds(_rows())
    assert list(agg.columns[:7]) == ["solver", "dataset", "n", "dtype", "device", "seeds", "ok"]
    assert "mae std (ddof=1)" in agg.columns and "time_per_matrix_s mean" in agg.columns
    lu, gj, single = (agg.iloc[i] for i in range(3))
    assert (lu.solver, gj.solver, single.dataset) == ("lu", "gj", "e")  # order of first appearance; NaN n kept
    assert (lu.seeds, lu.ok, gj.seeds, gj.ok, single.seeds) == (3, 3, 3, 2, 1)
    assert lu["mae mean"] == pytest.approx(7 / 3) and lu["mae std (ddof=1)"] == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert lu["time_per_matrix_s std (ddof=1)"] == pytest.approx(np.std([2, 4, 9], ddof=1))
    # the failed seed's MAE does not enter the mean
    assert gj["mae mean"] == pytest.approx(15.0) and gj["mae std (ddof=1)"] == pytest.approx(np.std([10, 20], ddof=1))
    assert np.isnan(gj["time_per_matrix_s mean"])  # no timed row
    assert single["mae mean"] == 3.0 and np.isnan(single["mae std (ddof=1)"])  # one seed: no sample std


def test_seeds_table_only_when_there_are_seeds():
    df = _rows()
    text = seeds_table(df)
    assert "ddof=1" in text.splitlines()[0] and "| lu " in text and "mae std (ddof=1)" in text
    assert seeds_table(df[df.seed == 0]) == ""
    assert aggregate_seeds(df.iloc[:0]).empty
