"""The scaling study on the one runner: killed runs resume, cells run in a child process or on
Dask workers, and the hook's columns come back from wherever a cell ran."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matinv_bench.analysis.scaling import SCALING_COLUMNS
from matinv_bench.cli import main
from matinv_bench.experiments import scaling

from tests.conftest import SMALL_PROBE

ROOT = Path(__file__).resolve().parents[1]
SOLVERS = ["lu", "torch-inv"]
SIZES = [2, 4, 8]
# 6 cells in each of 2 repetitions; the clock makes each take a few tenths of a second, so a run can be caught
# mid-way
GRID = ["--solver", *SOLVERS, "--n", *map(str, SIZES), "--warmup", "0.05", "--min-time", "0.1", "--threads", "1",
        "--repeats", "2"]
CELLS = 12
# `matinv-bench` with a small, short peak probe after each cell (SMALL_PROBE): cheap cells
SMALL_PROBE_MAIN = ("from matinv_bench.experiments import scaling; "
                    + "".join(f"scaling.{name} = {value!r}; " for name, value in SMALL_PROBE.items())
                    + "from matinv_bench.cli import main; raise SystemExit(main())")


def _cell_rows(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["row"] for p in (out / "cells").glob("*.json")}


def _wait_for_cells(proc: subprocess.Popen, out: Path, k: int) -> None:
    deadline = time.monotonic() + 120
    while len(list((out / "cells").glob("*.json"))) < k:
        assert proc.poll() is None, f"the run ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "the run never finished a cell"
        time.sleep(0.02)


def test_sigkill_then_resume_measures_each_cell_once_and_analyses_all(tmp_path, capsys, small_probe):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # --cell-timeout: the cells (and the hook) run in a child process; the resumed run keeps the setting
    proc = subprocess.Popen([sys.executable, "-c", SMALL_PROBE_MAIN, "scaling", *GRID, "--cell-timeout", "120",
                             "--quiet", "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_cells(proc, out, 3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    before = _cell_rows(out)
    assert 3 <= len(before) < CELLS, "the run must be killed mid-way for this test to mean anything"
    assert not (out / "slopes.csv").exists()

    assert main(["scaling", "--resume", str(out), "--quiet"]) == 0
    after = _cell_rows(out)
    assert len(after) == CELLS
    for key, row in before.items():  # cells finished before the kill are kept, not measured again
        assert after[key] == row
    df = pd.read_parquet(out / "results.parquet")
    assert len(df) == CELLS and not df.duplicated(["solver_label", "n", "dtype", "repeat"]).any()
    assert set(zip(df["solver_label"], df["n"], df["repeat"])) == set(itertools.product(SOLVERS, SIZES, [0, 1]))
    # each repetition ran in processes of its own (the killed run's and the resumed run's)
    assert not set(df.loc[df["repeat"] == 0, "pid"]) & set(df.loc[df["repeat"] == 1, "pid"])
    assert (df["status"] == "ok").all() and (df["threads"] == 1).all()
    assert set(SCALING_COLUMNS) <= set(df.columns) and (df["peak_gflops"] > 0).all()
    assert df.loc[df["library"] == "torch", "h2d_s_per_matrix"].notna().all()
    slopes = pd.read_csv(out / "slopes.csv")
    fitted = slopes[slopes["fit_range"] != "bound"]  # compute-bound: only where a family shares 3 such sizes
    assert set(slopes["solver_label"]) == set(SOLVERS) and np.isfinite(fitted["slope"]).all()
    assert fitted["ci_method"].str.contains("repetition medians").all()
    summary = (out / "summary.md").read_text()
    assert "Made by: `matinv-bench scaling --solver lu torch-inv" in summary  # the command that set the grid
    assert "12 rows: 12 ok, 0 skipped, 0 failed" in summary
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["settings"]["cell_timeout"] == 120 and manifest["settings"]["hook"] == scaling.HOOK


def test_workers_run_the_cells_on_dask_and_give_the_same_rows(tmp_path, monkeypatch, small_probe):
    pytest.importorskip("distributed", reason="dask.distributed (the 'dask' extra) is not installed")
    grid = [
        "--solver",
        "lu",
        "torch-inv",
        "mlp-2fc[hidden=2n^2,recipe=none]",
        "mlp-3fc[hidden=8n^2,recipe=none]",
        "--n",
        "2",
        "4",
        "--batch",
        "4",
        "--max-memory",
        str(100 * 2**10 / 2**30),
        "--warmup",
        "0",
        "--min-time",
        "0.02",
        "--threads",
        "1",
        "--repeats",
        "1",
        "--quiet",
    ]
    assert main(["scaling", *grid, "--out", str(tmp_path / "local")]) == 0
    assert main(["scaling", *grid, "--workers", "2", "--out", str(tmp_path / "dask")]) == 0
    local, dask = (pd.read_parquet(tmp_path / d / "results.parquet") for d in ("local", "dask"))
    assert (local["worker"] == "local").all()
    assert dask["worker"].str.startswith("tcp://127.0.0.1:").all()
    same = ["solver_label", "n", "dtype", "batch", "status", "reason", "mae", "param_bytes", "mem_need_bytes",
            "memory_limit_bytes"]
    order = ["solver_label", "n"]
    pd.testing.assert_frame_equal(local[same].sort_values(order).reset_index(drop=True),
                                  dask[same].sort_values(order).reset_index(drop=True))
    assert (dask["status"] == "skipped").sum() == 1  # the 3-layer network at n = 4 exceeds the limit on every worker
    assert (dask.loc[dask["status"] == "ok", "peak_gflops"] > 0).all()
    assert (tmp_path / "dask" / "slopes.csv").is_file()


@pytest.mark.parametrize("extra, words", [
    (["--n", "4"], "drop --n"),
    (["--solver", "qr", "--threads", "1"], "drop --solver, --threads"),
    (["--out", "elsewhere"], "drop --out"),
])
def test_resume_reuses_the_saved_grid(tmp_path, capsys, extra, words):
    assert main(["scaling", "--solver", "lu", "--n", "2", "--batch", "2", "--warmup", "0", "--min-time", "0.01",
                 "--repeats", "1", "--quiet", "--in-process", "--out", str(tmp_path)]) == 0  # a finished run
    capsys.readouterr()
    assert main(["scaling", "--resume", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_resume_of_a_folder_made_by_run_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--no-timing", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["scaling", "--resume", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no run.json there from `matinv-bench scaling`" in err and "(made by `matinv-bench run" in err
    assert len(err.splitlines()) == 1
