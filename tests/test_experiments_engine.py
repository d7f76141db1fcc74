"""Every ``reproduce`` experiment runs its cells through the engine's ``run_grid``: Dask workers,
--cell-timeout (hooks run where the cell runs), --resume after SIGKILL (finished cells kept, cached
models not retrained), the progress lines without a terminal, and fresh dated output folders."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from matinv_bench.cli import build_parser, main
from matinv_bench.engine.hooks import Hook
from matinv_bench.engine.runner import Cell, make_grid, run_grid
from matinv_bench.experiments import tables, where_can
from matinv_bench.engine import options
from matinv_bench.experiments.driver import dated_folder
from matinv_bench.reporting.results import read_results

ROOT = Path(__file__).resolve().parents[1]
DATED = re.compile(r"^[a-z0-9-]+-\d{8}-\d{6}$")
EXPERIMENTS = ("table1", "table2", "where-can", "where-can-n", "out-of-box", "why-cant", "regions", "seeds")
# 16 cells: 8 fast LU cells, then 8 MLPs that each train on their own box (about a second each)
THETAS = ["0.01", "0.02", "0.05", "0.1", "0.2", "0.4", "0.7", "0.9"]
SWEEP = ["reproduce", "where-can", "--base", "paper-2x2-1st", "--theta", *THETAS,
         "--solver", "lu", "mlp-2fc[recipe=tiny]", "--n-matrices", "32", "--seeds", "1", "--quiet"]


def _cell_rows(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["row"] for p in (out / "cells").glob("*.json")}


def test_table2_runs_on_dask_workers(tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed (the 'dask' extra) is not installed")
    assert main(["reproduce", "table2", "--recipe", "tiny", "--workers", "2", "--n-matrices", "64", "--seeds", "1",
                 "--no-timing", "--quiet", "--out", str(tmp_path)]) == 0
    rows = read_results(tmp_path / "table2-tiny")
    assert len(rows) == 3 + len(tables.BASELINES) and (rows.status == "ok").all(), rows.loc[
        rows.status != "ok", "reason"
    ].tolist()
    assert rows.worker.str.startswith("tcp://").all(), "every cell ran on a Dask worker"
    summary = pd.read_csv(tmp_path / "table2-tiny.csv")
    assert set(summary.method) >= {"mlp-2fc[hidden=8]", "mlp-2fc", "mlp-3fc", "linear-approx", "lu"}
    assert "reproduce table2" in (tmp_path / "table2-tiny.md").read_text()


def test_killed_reproduce_resumes_without_losing_cells_or_retraining(tmp_path, monkeypatch):
    out, cache = tmp_path / "sweep", tmp_path / "models"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MATINV_BENCH_CACHE": str(cache)}
    proc = subprocess.Popen([sys.executable, "-m", "matinv_bench", *SWEEP, "--out", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while len(list((out / "cells").glob("*.json"))) < 10:  # all LU cells and two trained MLPs
        assert proc.poll() is None, f"the run ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "the run never got far enough"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    before = _cell_rows(out)
    assert 10 <= len(before) < 16, "the run must be killed mid-way for this test to mean anything"
    models = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.pt")}
    assert len(models) >= 2

    monkeypatch.setenv("MATINV_BENCH_CACHE", str(cache))
    assert main([*SWEEP, "--resume", str(out)]) == 0
    after = _cell_rows(out)
    assert len(after) == 16
    for key, row in before.items():  # finished cells are kept, not run again
        assert after[key] == row
    df = read_results(out)
    assert len(df) == 16 and not df.duplicated(["solver", "dataset", "seed"]).any()
    assert (df.status == "ok").all() and df.frac_bad.notna().all()
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.pt") if p.name in models} == models
    assert len(list(cache.glob("*.pt"))) == 8
    for key, row in after.items():
        if row["solver"].startswith("mlp"):
            # the networks train before the cells (those cached before the resume are loaded, never trained
            # again, as the unchanged files above show): every cell's fit is a cache hit
            assert row["train_cache_hit"] is True, (key, row["train_cache_hit"])
    assert f"--out {out}" in (out / "summary.md").read_text() and "--resume" not in (out / "summary.md").read_text()


def test_where_can_hook_runs_in_the_cell_process(tmp_path, monkeypatch):
    # the hook in this process is broken: with --cell-timeout the cells, hook included, run in a child
    monkeypatch.setattr(where_can.BadFraction, "after", lambda *a: {"frac_bad": -1.0})
    assert main(["reproduce", "where-can", "--base", "paper-3x3", "--theta", "0.1", "2", "--solver", "lu",
                 "neumann[order=1]", "--n-matrices", "32", "--seeds", "1", "--cell-timeout", "120", "--quiet",
                 "--out", str(tmp_path)]) == 0
    df = read_results(tmp_path)
    ok = df[df.status == "ok"]
    assert len(ok) == 4 and (ok.worker == "local").all()
    assert (ok[ok.solver == "lu"].frac_bad == 0).all() and ok.threshold.eq(1e-2).all()
    neumann = ok[ok.solver == "neumann[order=1]"].sort_values("theta")
    inside, beyond = neumann.frac_bad.tolist()
    assert 0 <= inside < 0.5 < beyond  # beyond theta = 1 it breaks down


def test_why_cant_keeps_every_matrix_through_a_cell_process(tmp_path):
    assert main(["reproduce", "why-cant", "--solver", "lu", "--dataset", "uniform[n=2]", "paper-3x3",
                 "--n-matrices", "100", "--radius", "0.1", "--K", "0.5", "--size", "20", "--replicates", "2",
                 "--t-min", "1e-3", "--cell-timeout", "120", "--quiet", "--out", str(tmp_path)]) == 0
    per = pd.read_parquet(tmp_path / "per_matrix.parquet")
    assert per.groupby("dataset").size().to_dict() == {"paper-3x3": 100, "uniform[n=2]": 100}
    assert per.rel_fro_err.max() < 1e-10 and per.sigma_min.gt(0).all() and per.failed.dtype == bool
    assert all(len(json.loads(row["per_matrix"])["sigma_min"]) == 100 for row in _cell_rows(tmp_path).values())
    df = read_results(tmp_path)  # the bulky column stays in the cell files only
    assert "per_matrix" not in df.columns and "per_matrix" not in pd.read_csv(tmp_path / "results.csv").columns
    assert len(df) == 2 and (df.status == "ok").all()


def test_regions_trains_as_a_cell_that_resume_keeps(tmp_path, monkeypatch):
    monkeypatch.setenv("MATINV_BENCH_CACHE", str(tmp_path / "models"))
    args = ["reproduce", "regions", "--recipe", "tiny", "--samples", "2000", "--max-regions", "2",
            "--milp-time-limit", "30", "--n-matrices", "64", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    cells = _cell_rows(tmp_path / "run")
    (row,) = cells.values()
    assert row["status"] == "ok" and row["train_steps"] == 300  # trained before the cell, which loads it
    assert len(list((tmp_path / "models").glob("*.pt"))) == 1
    census = pd.read_csv(tmp_path / "run" / "census.csv")
    assert main([*args, "--resume", str(tmp_path / "run")]) == 0
    assert _cell_rows(tmp_path / "run") == cells  # the cell is not run again
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "run" / "census.csv"), census)
    assert "The net (300 training steps): MAE" in (tmp_path / "run" / "summary.md").read_text()


def test_progress_without_a_terminal_prints_a_line_per_cell_with_an_eta(capsys, monkeypatch):
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(var, raising=False)
    cells = [Cell("lu", "paper-3x3"), Cell("qr", "paper-3x3"), Cell("lu", "paper-2x2-1st")]
    run_grid(cells, None, n_test=4, time_it=False, progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines
    for k, line in enumerate(lines, 1):
        assert re.fullmatch(rf"\[{k}/3\] done: \S+ on \S+ \(eta \d+:\d\d:\d\d\)", line), line
    assert lines[-1].endswith("(eta 0:00:00)")


def test_default_output_is_a_fresh_dated_folder_that_git_ignores(tmp_path, monkeypatch, capsys):
    parser = build_parser()
    for name in EXPERIMENTS:
        assert parser.parse_args(["reproduce", name]).out is None, name
    monkeypatch.setattr(options, "RESULTS", Path("results"))  # the real default (conftest moves it for tests)
    assert DATED.match(dated_folder("table2").name) and dated_folder("table2").parent == Path("results")
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "where-can", "--base", "paper-3x3", "--theta", "0.1", "--solver", "lu",
                 "--n-matrices", "8", "--quiet"]) == 0
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("where-can-") and DATED.match(folder.name)
    assert (folder / "results.parquet").is_file() and (folder / "where_can.png").is_file()
    assert f"to results/{folder.name}/results.parquet" in capsys.readouterr().out
    if shutil.which("git") and (ROOT / ".git").exists():
        def ignored(path: str) -> bool:
            return subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", path]).returncode == 0

        for path in (f"results/{folder.name}/results.csv", "results/table2-20260101-120000/table2-tiny.md",
                     "results/conditioning-20260101-120000/results.csv", "results/quick-20260101-120000/results.csv"):
            assert ignored(path), f"{path}: default output folders must be ignored by git"
        assert not ignored("results/where-can/results.csv"), "the committed results folders stay tracked"

@pytest.mark.parametrize("args, words", [
    (["reproduce", "where-can", "--resume", "{tmp}", "--out", "{tmp}/other"], "drop --out"),
    (["reproduce", "table2", "--resume", "{tmp}/missing"], "is not a folder"),
    (["reproduce", "regions", "--cell-timeout", "0"], "--cell-timeout must be more than 0"),
    (["reproduce", "why-cant", "--workers", "0"], "--workers must be at least 1"),
])
def test_bad_engine_options_give_one_line(tmp_path, capsys, args, words):
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


# -- hooks: columns from before(), and a hook that raises --------------------------------------

class AddsColumns(Hook):
    def before(self, cell, solver):
        return {"planned_by_hook": cell.solver}


class Raises(Hook):
    def before(self, cell, solver):
        raise RuntimeError("planted")


def test_columns_from_a_hooks_before_reach_the_row_and_a_raising_hook_fails_only_its_cell():
    cells = make_grid(["lu", "qr"], ["spd[n=4,cond=10]"])
    df = run_grid(cells, None, n_test=4, time_it=False, progress=False, hook=f"{__name__}:AddsColumns")
    assert (df["status"] == "ok").all() and list(df["planned_by_hook"]) == list(df["solver"])
    df = run_grid(cells, None, n_test=4, time_it=False, progress=False, hook=f"{__name__}:Raises")
    assert (df["status"] == "failed").all() and df["reason"].str.contains("RuntimeError: planted").all()
