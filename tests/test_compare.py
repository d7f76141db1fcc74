"""``matinv-bench compare``: matching, the planted float32 regression, exit statuses, the time verdict."""

import json

import numpy as np
import pandas as pd
import pytest

from matinv_bench.cli import main
from matinv_bench.errors import DataFileError
from matinv_bench.reporting import compare
from matinv_bench.reporting.compare import time_verdict

FAST = ["--warmup", "0.01", "--min-time", "0.02", "--n-matrices", "16", "--quiet"]
LU = ["run", "--solver", "lu", "--dataset", "randsvd[n=8,cond=1e6]"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real runs of LU on the same matrices: A in float64, B in float32."""
    root = tmp_path_factory.mktemp("runs")
    for name, dtype in (("a", "float64"), ("b", "float32")):
        assert main([*LU, "--dtype", dtype, "--out", str(root / name), *FAST]) == 0
    return root / "a", root / "b"


def test_float32_lu_is_an_accuracy_regression(runs, capsys, tmp_path):
    a, b = runs
    assert main(["compare", str(a), str(b), "--ignore", "dtype", "--out", str(tmp_path / "c.csv")]) == 1
    out = capsys.readouterr().out
    assert "float64 -> float32" in out and "1 accuracy regressions" in out and "MAE x" in out
    df = pd.read_csv(tmp_path / "c.csv")
    assert list(df["match"]) == ["both"] and df["mae_ratio"].iloc[0] > 1e4
    # relative to kappa * unit roundoff both precisions are equally good: that ratio stays near 1
    assert 0.01 < df["kappa_u_ratio"].iloc[0] < 100
    # the threshold is the user's: above the ratio there is no regression
    ratio = df["mae_ratio"].iloc[0]
    assert main(["compare", str(a), str(b), "--ignore", "dtype", "--max-accuracy-ratio", str(ratio * 2)]) == 0


def test_cells_of_other_dtypes_do_not_match_by_default(runs, capsys):
    a, b = runs
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "0 matched cells" in out and "1 cells only in A" in out and "1 cells only in B" in out


def test_a_run_against_itself(runs, capsys, tmp_path):
    a, _ = runs
    assert main(["compare", str(a), str(a), "--out", str(tmp_path / "c.md")]) == 0
    out = capsys.readouterr().out
    assert "no accuracy regression" in out and "1 same (noise)" in out
    text = (tmp_path / "c.md").read_text()
    assert "| lu " in text and "Mann-Whitney" in text


def test_ok_cell_that_fails_is_a_regression(runs, tmp_path, capsys):
    a, _ = runs
    df = pd.read_parquet(a / "results.parquet")
    df["status"], df["mae"] = "failed", np.nan
    (tmp_path / "b").mkdir()
    df.to_parquet(tmp_path / "b" / "results.parquet")
    assert main(["compare", str(a), str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "ok -> failed" in out and "n/a" in out


def test_block_times_give_the_mann_whitney_verdict(runs, tmp_path):
    a, _ = runs
    rng = np.random.default_rng(0)
    df = pd.read_parquet(a / "results.parquet")
    for name, scale in (("a", 1.0), ("b", 1.5)):
        times = (1e-6 * scale * (1 + 0.02 * rng.standard_normal(20))).tolist()
        (tmp_path / name).mkdir()
        df.assign(times_per_matrix_s=json.dumps(times), time_per_matrix_s=float(np.median(times)),
                  time_iqr_s=np.nan).to_parquet(tmp_path / name / "results.parquet")
    c = compare.compare_runs(tmp_path / "a", tmp_path / "b")
    row = c.table.iloc[0]
    assert row["time_verdict"] == "slower" and row["time_rule"].startswith("mann-whitney")
    assert compare.compare_runs(tmp_path / "b", tmp_path / "a").table["time_verdict"].iloc[0] == "faster"


@pytest.mark.parametrize("make, words", [
    (lambda p: None, "no such run folder"),
    (lambda p: p.mkdir(), "not a run folder"),
    (lambda p: (p.mkdir(), (p / "results.parquet").write_text("not parquet")), "cannot be read"),
    (lambda p: (p.mkdir(), pd.DataFrame({"x": [1]}).to_parquet(p / "results.parquet")), "missing columns"),
])
def test_bad_folder_is_one_line(runs, tmp_path, capsys, make, words):
    bad = tmp_path / "bad"
    make(bad)
    assert main(["compare", str(runs[0]), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and str(bad) in err and len(err.splitlines()) == 1


def test_malformed_block_times_are_a_data_file_error(runs, tmp_path):
    a, _ = runs
    (tmp_path / "b").mkdir()
    pd.read_parquet(a / "results.parquet").assign(times_per_matrix_s="[1, oops").to_parquet(
        tmp_path / "b" / "results.parquet"
    )
    with pytest.raises(DataFileError, match="malformed times_per_matrix_s"):
        compare.compare_runs(a, tmp_path / "b")


def test_bad_options_are_one_line(runs, capsys):
    a, _ = runs
    assert main(["compare", str(a), str(a), "--out", "x.txt"]) == 2
    assert main(["compare", str(a), str(a), "--ignore", "batch"]) == 2
    assert main(["compare", str(a), str(a), "--match", "solver"]) == 0  # one row per solver here: still unique
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and ".md or .csv" in err[0] and "not among the matched columns" in err[1]


# the verdict on synthetic block times

def _blocks(rng, median, k=30, spread=0.03):
    times = median * (1 + spread * rng.standard_normal(k))
    q1, q3 = np.percentile(times, [25, 75])
    return {"median": float(np.median(times)), "iqr": float(q3 - q1), "times": times.tolist()}


def test_verdict_on_block_times():
    rng = np.random.default_rng(1)
    a = _blocks(rng, 1e-5)
    assert time_verdict(a, _blocks(rng, 1.3e-5))[0] == "slower"
    assert time_verdict(a, _blocks(rng, 0.7e-5))[0] == "faster"
    same = time_verdict(a, _blocks(rng, 1e-5))
    assert same[0] == "same (noise)" and same[1].startswith("mann-whitney")
    # a significant but tiny change is not called faster or slower
    assert time_verdict(_blocks(rng, 1e-5, k=200, spread=0.001), _blocks(rng, 1.01e-5, k=200, spread=0.001),
                        min_change=0.05)[0] == "same (noise)"


def test_verdict_without_enough_blocks_uses_the_iqrs():
    a = {"median": 1.0, "iqr": 0.1, "times": [0.95, 1.0, 1.05]}  # 3 vs 3 blocks: p can never be below 0.01
    slower = time_verdict(a, {"median": 1.5, "iqr": 0.1, "times": [1.45, 1.5, 1.55]})
    assert slower == ("slower", "iqr")
    assert time_verdict({"median": 1.0, "iqr": 0.1}, {"median": 0.5, "iqr": 0.2}) == ("faster", "iqr")
    assert time_verdict({"median": 1.0, "iqr": 0.3}, {"median": 1.2, "iqr": 0.1}) == ("same (noise)", "iqr")
    assert time_verdict({"median": 1.0, "iqr": float("nan")}, {"median": 2.0, "iqr": 0.1})[0] == "n/a"
    assert time_verdict({"median": None, "iqr": None}, {"median": 2.0, "iqr": 0.1})[0] == "n/a"
