"""The CLI end to end on a tiny grid: files, columns, statuses and one-line errors."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from matinv_bench.cli import main
from matinv_bench.reporting.results import COLUMNS, read_results

FAST = ["--warmup", "0.01", "--min-time", "0.02", "--n-matrices", "16", "--quiet"]


def test_run_writes_tables_and_summary(tmp_path):
    out = tmp_path / "run"
    rc = main(["run", "--solver", "lu", "cholesky", "gauss-jordan", "--dataset", "paper-3x3",
               "spd[n=6,cond=100]", "--seeds", "2", "--out", str(out), *FAST])
    assert rc == 0
    df = read_results(out)
    pd.testing.assert_frame_equal(df, pd.read_parquet(out / "results.parquet"))
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns[: len(COLUMNS)]) == COLUMNS and len(csv) == len(df) == 12
    assert set(df["seed"]) == {0, 1}
    skipped = df[(df.solver == "cholesky") & (df.dataset == "paper-3x3")]
    assert (skipped.status == "skipped").all() and skipped.reason.str.contains("not symmetric").all()
    ok = df[df.status == "ok"]
    assert len(ok) == 10
    assert (ok.residual_ratio < 30).all() and (ok.time_per_matrix_s > 0).all() and (ok.threads >= 1).all()
    assert ok.blas.str.len().min() > 0 and ok.ref_method.notna().all()
    summary = (out / "summary.md").read_text()
    assert "matinv-bench run" in summary and "| lu " in summary


def test_run_draws_its_figures_with_every_solver_asked_for(tmp_path):
    import xml.etree.ElementTree as ET

    out = tmp_path / "run"
    solvers = ["lu", "qr", "gauss-jordan", "torch-inv", "numpy-inv", "linear-approx",
               *(f"neumann[order={k}]" for k in range(2, 9))]  # 13: more than a report figure's legend holds
    sweep = [f"randsvd[n=6,cond={c}]" for c in ("1e2", "1e5", "1e8")]
    assert main(["run", "--solver", *solvers, "--dataset", "paper-3x3", *sweep, "--out", str(out), *FAST]) == 0
    assert (out / "work_precision.png").stat().st_size > 0 and (out / "conditioning.png").is_file()
    drawn = {e.get("id") for e in ET.parse(out / "work_precision.svg").iter() if e.get("id")}
    ok = read_results(out).query("status == 'ok'")
    assert set(ok["solver"]) <= drawn  # every solver that ran has its marks (gid = its spec)

    untimed = tmp_path / "untimed"
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--no-timing", "--out", str(untimed), *FAST]) == 0
    assert not list(untimed.glob("*.png"))  # no time, no work-precision; no kappa sweep, no conditioning


def test_failed_cells_are_rows_not_crashes(tmp_path):
    A = np.random.default_rng(0).standard_normal((3, 4, 4))
    A[:] = 0  # every matrix singular
    np.save(tmp_path / "zero.npy", A)
    out = tmp_path / "run"
    assert main(["run", "--solver", "lu", "torch-inv", "--dataset", f"npy:{tmp_path / 'zero.npy'}", "paper-3x3",
                 "--out", str(out), *FAST]) == 0
    df = read_results(out)
    bad = df[df.dataset.str.startswith("npy:")]
    assert (bad.status == "failed").all() and bad.reason.str.contains("singular").all()
    assert (df[df.dataset == "paper-3x3"].status == "ok").all()


@pytest.mark.parametrize("args, words", [
    (["run", "--solver", "nope"], "unknown solver 'nope'"),
    (["run", "--dataset", "randsvd[n=4,cnd=3]"], "has no parameter cnd"),
    (["run", "--dataset", "npy:/does/not/exist.npy"], "no such file"),
    (["run", "--seeds", "0"], "--seeds must be at least 1"),
])
def test_bad_arguments_give_one_line(capsys, args, words):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_list_and_help_via_the_console_entry():
    out = subprocess.run(
        [sys.executable, "-m", "matinv_bench", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert "gauss-jordan" in out and "randsvd" in out and "quick" in out
    help_ = subprocess.run([sys.executable, "-m", "matinv_bench", "run", "--help"], capture_output=True, text=True,
                           check=True).stdout
    assert "--solver" in help_ and "--dataset" in help_ and "--seeds" in help_
