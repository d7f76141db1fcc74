"""Runs that are killed, interrupted or stuck keep every finished cell; --resume runs the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from matinv_bench.cli import main
from matinv_bench.engine import runner
from matinv_bench.engine.runner import Cell, make_grid, run_grid
from matinv_bench.reporting.results import read_results

ROOT = Path(__file__).resolve().parents[1]
# 12 cells; the clock makes each take a few tenths of a second, so a run can be caught mid-way
GRID = ["--solver", "lu", "qr", "gauss-jordan", "torch-inv",
        "--dataset", "paper-2x2-1st", "paper-3x3", "spd[n=6,cond=100]", "--n-matrices", "16", "--threads", "1"]
SLOW_CLOCK = ["--warmup", "0.05", "--min-time", "0.15"]
ACCURACY = ["solver", "dataset", "seed", "dtype", "n", "n_matrices", "status", "reason", "mae", "max_abs_err",
            "rel_fro_err", "rel_err_over_kappa_u", "residual_ratio", "residual_ratio_right", "failure_rate",
            "ref_method"]


def _default_sigint() -> None:
    # a shell starts background jobs (`pytest &`) with SIGINT ignored, and children inherit that:
    # the run would then never see the test's Ctrl-C. A user's foreground run has the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "matinv_bench", "run", *GRID, *SLOW_CLOCK, "--quiet",
                             "--out", str(out), *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


def _wait_for_cells(proc: subprocess.Popen, out: Path, k: int) -> None:
    deadline = time.monotonic() + 120
    while len(list((out / "cells").glob("*.json"))) < k:
        assert proc.poll() is None, f"the run ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "the run never finished a cell"
        time.sleep(0.02)


def _cell_rows(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["row"] for p in (out / "cells").glob("*.json")}


def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path):
    import psutil

    out = tmp_path / "run"
    proc = _start(out, "--cell-timeout", "120")  # cells run in a child process: it must not outlive the run
    _wait_for_cells(proc, out, 3)
    children = psutil.Process(proc.pid).children()
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert children, "with --cell-timeout the cells run in a child process"
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, "the cell process outlived its killed parent"
    before = _cell_rows(out)
    assert 3 <= len(before) < 12, "the run must be killed mid-way for this test to mean anything"

    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    after = _cell_rows(out)
    assert len(after) == 12
    for key, row in before.items():  # cells finished before the kill are kept, not run again
        assert after[key] == row
    df = read_results(out)
    assert len(df) == 12 and not df.duplicated(["solver", "dataset", "seed", "dtype"]).any()
    assert not list(out.glob(".*.tmp")) and not list((out / "cells").glob(".*.tmp"))
    assert (df.time_per_matrix_s > 0).all(), "resumed cells keep the saved clock settings"

    ref = tmp_path / "uninterrupted"
    assert main(["run", *GRID, "--no-timing", "--quiet", "--out", str(ref)]) == 0
    pd.testing.assert_frame_equal(df[ACCURACY], read_results(ref)[ACCURACY])


# Ctrl-C, and SIGTERM from `kill PID` or `timeout` (how a run started in the background is stopped)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_keeps_finished_cells_and_says_how_to_resume(tmp_path, sig):
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for_cells(proc, out, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"--resume {out}" in err and "Traceback" not in err
    kept = _cell_rows(out)
    assert 2 <= len(kept) < 12
    assert len(read_results(out)) == len(kept)  # the tables are rebuilt on the way out


def test_resume_runs_only_missing_or_unreadable_cells(tmp_path):
    cells = make_grid(["lu", "gauss-jordan"], ["paper-3x3", "paper-2x2-1st"])
    out = tmp_path / "run"
    first = run_grid(cells, out, n_test=8, time_it=False, progress=False)
    again: list[dict] = []
    second = run_grid(cells, out, n_test=8, time_it=False, progress=False, resume=True, on_row=again.append)
    assert again == [] and second.equals(first)

    victim = sorted((out / "cells").glob("*.json"))[0]
    victim.write_text(victim.read_text()[:20])  # a torn file (not possible with atomic writes, but still)
    (out / "cells" / ".x.json.123.tmp").write_text("left by a killed writer")
    rerun: list[dict] = []
    third = run_grid(cells, out, n_test=8, time_it=False, progress=False, resume=True, on_row=rerun.append)
    assert len(rerun) == 1 and len(third) == 4 and not list((out / "cells").glob(".*.tmp"))
    cols = ["solver", "dataset", "status", "mae", "residual_ratio"]
    pd.testing.assert_frame_equal(third[cols], first[cols])


def test_a_cell_named_twice_runs_once():
    cells = [Cell("lu", "paper-3x3"), Cell("lu", "paper-3x3")]
    assert len(run_grid(cells, None, n_test=4, time_it=False, progress=False)) == 1


def test_cell_timeout_kills_the_cell_and_goes_on(tmp_path):
    # mpmath references for 32 x 32 matrices at kappa 1e14 take far longer than the limit
    slow = "randsvd[n=32,cond=1e14]"
    cells = [Cell("lu", "paper-3x3"), Cell("lu", slow), Cell("gauss-jordan", "paper-3x3")]
    df = run_grid(cells, tmp_path / "run", n_test=64, time_it=False, progress=False, cell_timeout=1.5)
    assert df.status.tolist() == ["ok", "failed", "ok"]
    assert df.reason[1].startswith("timed out after 1.5 s") and "killed" in df.reason[1]
    assert df.host.notna().all() and (df.worker == "local").all()
    assert runner._CHILD.proc is None, "the child process must be gone after the run"
    with pytest.raises(ValueError, match="positive number of seconds"):
        run_grid(cells, None, cell_timeout=0)


@pytest.mark.parametrize("args, words", [
    (["run", "--resume", "{tmp}"], "no run.json there"),
    (["run", "--resume", "{tmp}/run", "--solver", "qr"], "drop --solver"),
    (["run", "--resume", "{tmp}/run", "--dtype", "float32", "--no-timing"], "drop --dtype ("),  # --no-timing agrees
    (["run", "--resume", "{tmp}/run", "--out", "{tmp}/other"], "drop --out"),
    (["run", "--cell-timeout", "-1"], "--cell-timeout must be more than 0"),
    (["run", "--workers", "0"], "--workers must be at least 1"),
])
def test_bad_resume_and_timeout_arguments_give_one_line(tmp_path, capsys, args, words):
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--n-matrices", "8", "--no-timing", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0  # a finished run to resume
    capsys.readouterr()
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_malformed_manifest_is_one_line(tmp_path, capsys):
    (tmp_path / "run.json").write_text('{"format": 1, "cells": [{"solver": "lu"}], "settings": {}}')
    assert main(["run", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "run.json is malformed" in err and len(err.splitlines()) == 1
