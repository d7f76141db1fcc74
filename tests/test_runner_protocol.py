"""What every row of every command records about the machine's load, and fresh processes per
value of a tag (the scaling study's repetitions)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from matinv_bench import system
from matinv_bench.cli import main
from matinv_bench.engine import runner

LOAD = ("loadavg_1m_before", "loadavg_1m_after", "other_cores_busy", "load_above_threads")


def test_every_row_of_run_records_the_load_and_the_process(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--solver", "lu", "cholesky", "--dataset", "paper-3x3", "--n-matrices", "8",
                 "--warmup", "0", "--min-time", "0.01", "--quiet", "--out", str(out)]) == 0
    df = pd.read_parquet(out / "results.parquet")
    assert set(df["status"]) == {"ok", "skipped"}  # Cholesky skips the non-SPD paper box
    for col in LOAD:
        assert df[col].notna().all(), col
    assert df["load_above_threads"].isin([True, False]).all() and (df["other_cores_busy"] >= 0).all()
    assert (df["pid"] == os.getpid()).all()


def test_the_load_flag_compares_the_load_average_with_the_threads(monkeypatch):
    loads = iter([3.5, 0.5])
    monkeypatch.setattr(system, "load_average", lambda: next(loads))
    with system.load_watch(2) as load:
        pass
    assert load["loadavg_1m_before"] == 3.5 and load["loadavg_1m_after"] == 0.5 and load["load_above_threads"]
    loads = iter([1.0, 1.9])
    with system.load_watch(2) as load:
        pass
    assert not load["load_above_threads"]


def test_a_row_the_parent_writes_has_the_load_too():
    row = runner.failed_row(runner.Cell("lu", "paper-3x3"), "timed out")
    assert row["status"] == "failed" and "loadavg_1m_after" in row


@pytest.mark.slow
def test_a_fresh_process_for_every_value_of_the_tag(tmp_path):
    cells = [runner.Cell("lu", "paper-3x3", n_test=4, tags=(("rep", r), ("k", k))) for r in (0, 1) for k in (0, 1)]
    df = runner.run_grid(cells, tmp_path, time_it=False, progress=False, fresh_process_per="rep")
    pids = df.groupby("rep")["pid"].unique()
    assert [len(p) for p in pids] == [1, 1] and pids[0][0] != pids[1][0]
    assert os.getpid() not in set(df["pid"]) and (df["status"] == "ok").all()
