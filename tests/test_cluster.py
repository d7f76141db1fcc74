"""Sweeps on a Dask cluster: a LocalCluster on loopback gives the in-process accuracy rows."""

from __future__ import annotations

import logging
import sys
from concurrent.futures import Future, ThreadPoolExecutor

import pandas as pd
import pytest

from matinv_bench.cli import main
from matinv_bench.engine.runner import make_grid, run_grid
from matinv_bench.reporting.results import read_results
from matinv_bench.reporting.summary import summary_table

distributed = pytest.importorskip("distributed", reason="dask.distributed (the 'dask' extra) is not installed")

ACCURACY = ["solver", "dataset", "seed", "dtype", "n", "status", "reason", "mae", "max_abs_err", "rel_fro_err",
            "residual_ratio", "residual_ratio_right", "failure_rate", "ref_method"]


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded workers in this process, talking TCP over 127.0.0.1; always closed."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR) as c:
        yield c


def test_cluster_gives_the_in_process_accuracy_rows(cluster, tmp_path):
    cells = make_grid(["lu", "gauss-jordan", "torch-inv", "cholesky"], ["paper-3x3", "spd[n=6,cond=100]"], seeds=(0, 1))
    local = run_grid(cells, None, n_test=16, threads=1, time_it=False, progress=False)  # the workers have 1 thread
    with distributed.Client(cluster) as client:
        remote = run_grid(cells, tmp_path / "run", n_test=16, warmup_s=0.01, min_run_s=0.02, progress=False,
                          executor=client.get_executor())
    pd.testing.assert_frame_equal(remote[ACCURACY], local[ACCURACY])
    pd.testing.assert_frame_equal(read_results(tmp_path / "run")[ACCURACY], local[ACCURACY])
    assert len(list((tmp_path / "run" / "cells").glob("*.json"))) == len(cells)
    addresses = set(cluster.scheduler_info["workers"])
    assert set(remote.worker) <= addresses and remote.worker.str.startswith("tcp://127.0.0.1:").all()
    assert (remote.threads == 1).all(), "a worker's cells use the worker's threads"
    assert remote.host.notna().all() and (remote.cores >= 1).all() and (remote.memory_gib > 0).all()
    ok = remote[remote.status == "ok"]
    assert (ok.time_per_matrix_s > 0).all()
    assert (local.worker == "local").all()


def test_cli_sends_cells_to_a_scheduler(cluster, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--solver", "lu", "--dataset", "paper-2x2-1st", "--n-matrices", "8", "--no-timing",
                 "--scheduler", cluster.scheduler_address, "--out", str(out)]) == 0
    df = read_results(out)
    assert df.status.tolist() == ["ok"] and df.worker[0] in cluster.scheduler_info["workers"]
    assert "Dask scheduler tcp://127.0.0.1" in capsys.readouterr().err


def test_rows_from_two_machines_are_labelled():
    df = pd.DataFrame({"solver": ["lu", "lu"], "dataset": ["d", "d"], "status": ["ok", "ok"],
                       "time_per_matrix_s": [1e-6, 2e-6], "host": ["a", "b"]})
    assert summary_table(df).splitlines()[0].split("|")[3].strip() == "host"


class _LosingExecutor(ThreadPoolExecutor):
    """Every task is lost, as when a Dask worker dies more often than the scheduler retries."""

    def submit(self, fn, *args, **kwargs):
        fut: Future = Future()
        fut.set_exception(RuntimeError("KilledWorker: worker tcp://10.0.0.9:4000 died"))
        return fut


def test_a_lost_worker_is_a_failed_row(tmp_path):
    cells = make_grid(["lu"], ["paper-3x3"])
    with _LosingExecutor() as ex:
        df = run_grid(cells, tmp_path / "run", n_test=4, progress=False, executor=ex)
    assert df.status.tolist() == ["failed"] and "lost on the cluster" in df.reason[0]
    assert df.worker[0] == "lost"


def test_missing_extra_and_unreachable_scheduler_are_one_line(monkeypatch, capsys):
    from matinv_bench.engine.cluster import ClusterError, dask_executor

    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"):
        with dask_executor("tcp://127.0.0.1:9", connect_timeout_s=0.5):  # nothing listens on port 9
            pass
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    assert main(["run", "--workers", "1", "--solver", "lu", "--dataset", "paper-3x3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "matinv-bench[dask]" in err and len(err.splitlines()) == 1


def test_cli_workers_start_and_close_a_local_process_cluster(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--solver", "lu", "gauss-jordan", "--dataset", "paper-2x2-1st", "--n-matrices", "8",
                 "--no-timing", "--quiet", "--workers", "1", "--out", str(out)]) == 0
    df = read_results(out)
    assert (df.status == "ok").all() and df.worker.str.startswith("tcp://127.0.0.1:").all()
    assert df.worker.nunique() == 1 and (df.threads >= 1).all()
