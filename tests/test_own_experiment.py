"""An experiment of one's own, written from docs/extending.md alone (docs/examples/my_experiment.py):
a plugin file whose class the package's driver runs, with --cell-timeout, --resume and --workers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from matinv_bench.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "my_experiment.py"


def test_an_experiment_from_the_docs_runs_resumes_on_workers_and_in_cell_processes(tmp_path, monkeypatch):
    pytest.importorskip("distributed", reason="dask.distributed (the 'dask' extra) is not installed")
    monkeypatch.delenv("MATINV_BENCH_PLUGINS", raising=False)
    out = tmp_path / "radius"
    base = ["--plugin", str(EXAMPLE), "reproduce", "radius-sweep"]
    assert main([*base, "--eps", "0.01", "0.3", "--n-matrices", "32", "--cell-timeout", "60", "--quiet",
                 "--out", str(out)]) == 0
    cells = sorted((out / "cells").glob("*.json"))
    rows = [json.loads(p.read_text())["row"] for p in cells]
    assert len(rows) == 4 and {r["worker"] for r in rows} == {"local"}
    assert all(r["pid"] != os.getpid() for r in rows)  # each in a cell process (--cell-timeout)
    assert all("worst_rel_err" in r for r in rows)  # the plugin's hook ran in the cell process
    cells[0].unlink()  # as if stopped before that cell
    assert main([*base, "--resume", str(out), "--workers", "2", "--quiet"]) == 0
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 4 and df["worst_rel_err"].notna().all() and (df["status"] == "ok").all()
    assert (df["worker"].str.startswith("tcp://")).sum() == 1  # only the missing cell ran, on a Dask worker
    assert "| box[base=paper-2x2-1st,eps=0.3]" in (out / "summary.md").read_text()
    assert json.loads((out / "run.json").read_text())["settings"]["cell_timeout"] == 60  # kept on resume
