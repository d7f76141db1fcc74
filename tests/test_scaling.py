"""The scaling study: flop formulas, width rules, memory-based skips, the sweep end to end."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matinv_bench.analysis.scaling import PER_CELL, SCALING_COLUMNS, analyse, complete
from matinv_bench.cli import main
from matinv_bench.datasets import make_dataset
from matinv_bench.engine import runner
from matinv_bench.experiments import scaling
from matinv_bench.reporting import scaling as report
from matinv_bench.reporting import results
from matinv_bench.reporting.results import read_results
from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers.lapack import spd_skip_reason
from matinv_bench.solvers.mlp import mlp_flops, mlp_param_count

from tests.conftest import SMALL_PROBE


def test_width_rule_expands_per_size():
    assert scaling.expand("mlp-2fc[hidden=2n^2]", 4) == "mlp-2fc[hidden=32]"
    assert scaling.expand("mlp-3fc[hidden=8n^2,seed=1]", 16) == "mlp-3fc[hidden=2048,seed=1]"
    assert scaling.expand("lu", 512) == "lu"


@pytest.mark.parametrize("n", [3, 16, 48])
def test_mlp_flops_and_params_follow_the_dense_layers(n):
    h = 2 * n * n
    # 2 layers: n^2 -> h -> n^2, a multiply-add per weight: 2 (n^2 h + h n^2) = 8 n^4 for h = 2 n^2
    assert mlp_flops(n, h, 2) == 8 * n**4
    assert mlp_flops(n, h, 3) == 2 * (2 * n * n * h + h * h) == 16 * n**4
    assert mlp_param_count(n, h, 2) == 2 * n * n * h + h + n * n
    net = SOLVERS.build(scaling.expand("mlp-2fc[hidden=2n^2,recipe=none]", n))
    net.fit(make_dataset(f"spd-box[n={n}]", n_test=1))
    assert sum(p.numel() for p in net.model_.parameters()) == mlp_param_count(n, h, 2)
    assert net.param_bytes(n) == 8 * mlp_param_count(n, h, 2)


@pytest.mark.parametrize("spec", ["lu", "numpy-inv", "cholesky", "qr", "torch-inv", "gauss-jordan",
                                  "gauss-jordan[block=16]"])
def test_direct_solvers_are_cubic_and_networks_quartic(spec):
    s = SOLVERS.build(spec)
    assert s.flops(64) / s.flops(32) == pytest.approx(8.0)
    for rule in ("mlp-2fc[hidden=2n^2]", "mlp-3fc[hidden=8n^2]"):
        f = [SOLVERS.build(scaling.expand(rule, n)).flops(n) for n in (32, 64)]
        assert f[1] / f[0] == pytest.approx(16.0)
    # blocking regroups the arithmetic, it does not change the model count
    assert SOLVERS.build("gauss-jordan[block=16]").flops(100) == SOLVERS.build("gauss-jordan").flops(100) == 2e6


def test_spd_box_is_spd_non_singular_and_reproducible():
    a, b = (make_dataset("spd-box[n=12]", n_test=6, seed=4) for _ in range(2))
    np.testing.assert_array_equal(a.A, b.A)
    assert spd_skip_reason(a.A) is None
    assert a.theta == pytest.approx(0.5) and a.sigma_min.min() > 0
    np.testing.assert_allclose(a.A, a.base + a.eps * a.T, rtol=0, atol=1e-15)
    with pytest.raises(Exception, match="theta must be in"):
        make_dataset("spd-box[n=4,theta=1.5]", n_test=1)


def sweep(out: Path, solvers: list[str], ns: list[int], *options: str, repeats: int = 1, batch: int | None = 2,
          in_process: bool = True) -> pd.DataFrame:
    """``matinv-bench scaling`` into ``out`` with a cheap clock; the rows with every scaling column."""
    argv = ["scaling", "--solver", *solvers, "--n", *map(str, ns), "--device", "cpu", "--warmup", "0",
            "--min-time", "0.01", "--repeats", str(repeats), "--quiet", "--out", str(out), *options]
    argv += ["--batch", str(batch)] if batch else []
    argv += ["--in-process"] if in_process else []
    main(argv)
    return complete(read_results(out))


def test_memory_need_counts_weights_and_batch():
    net = SOLVERS.build("mlp-2fc[hidden=512]")
    need = scaling.memory_need(net, 16, 4, 8)
    assert need >= net.param_bytes(16) + 4 * 2 * 16 * 16 * 8
    assert scaling.memory_need(SOLVERS.build("lu"), 16, 4, 8) < need


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A fast sweep: three sizes, two repetitions (each in its own process), a direct solver, a
    torch solver, a network, and a memory limit that the 3-layer network exceeds at n = 8 but
    not at n = 4."""
    out = tmp_path_factory.mktemp("scaling")
    limit = 2**20
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SMALL_PROBE.items():  # a cheap peak probe for the test
            mp.setattr(scaling, name, value)
        df = sweep(out, ["lu", "torch-inv", "mlp-2fc[hidden=2n^2,recipe=none]", "mlp-3fc[hidden=8n^2,recipe=none]"],
                   [2, 4, 8], "--max-memory", str(limit / 2**30), repeats=2, batch=3, in_process=False)
    return out, df, pd.read_csv(out / "slopes.csv"), pd.read_csv(out / "crossovers.csv"), limit


def test_memory_skip_gives_the_bytes_needed(tiny_run):
    out, df, *_ , limit = tiny_run
    big = df[(df["solver_label"] == "mlp-3fc[hidden=8n^2,recipe=none]") & (df["n"] == 8)].iloc[0]
    assert big["status"] == "skipped"
    assert big["mem_need_bytes"] > limit
    assert f"({int(big['mem_need_bytes'])} bytes)" in big["reason"] and f"({limit} bytes)" in big["reason"]
    assert big["param_bytes"] == 8 * mlp_param_count(8, 8 * 64, 3)
    small = df[(df["solver_label"] == "mlp-3fc[hidden=8n^2,recipe=none]") & (df["n"] == 4)].iloc[0]
    assert small["status"] == "ok" and small["mem_need_bytes"] <= limit


def test_an_unknown_solver_is_a_one_line_error_before_anything_runs(tmp_path, capsys):
    assert main(["scaling", "--solver", "lu", "lux", "--n", "8", "--repeats", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lux" in err[0] and not (tmp_path / "r").exists()


def test_rows_record_what_the_scaling_question_needs(tiny_run):
    _, df, *_ = tiny_run
    ok = df[df["status"] == "ok"]
    assert set(ok["solver_label"]) == {"lu", "torch-inv", "mlp-2fc[hidden=2n^2,recipe=none]",
                                       "mlp-3fc[hidden=8n^2,recipe=none]"}
    assert (ok["peak_gflops"] > 0).all() and (ok["peak_fraction"] > 0).all()
    np.testing.assert_allclose(ok["gflops"], ok["flops_per_matrix"] / ok["time_per_matrix_s"] / 1e9)
    assert (ok["peak_mem_bytes"] > 0).all() and ok["threads"].notna().all()
    assert (ok["batch"] == 3).all() and (ok["n_matrices"] == 3).all()
    torch_rows = ok[ok["library"] == "torch"]
    assert torch_rows["h2d_s_per_matrix"].notna().all() and torch_rows["d2h_s_per_matrix"].notna().all()
    assert ok[ok["library"] == "numpy"]["h2d_s_per_matrix"].isna().all()
    for raw, med in zip(ok["times_per_matrix_s"], ok["time_per_matrix_s"]):
        assert np.median(json.loads(raw)) == pytest.approx(med)
    # the sizes a network ran are exactly those under the limit, in each repetition
    net = ok[ok["solver_label"] == "mlp-2fc[hidden=2n^2,recipe=none]"]
    assert sorted(net["n"]) == [2, 2, 4, 4, 8, 8] and sorted(net["repeat"]) == [0, 0, 0, 1, 1, 1]
    assert (ok["timing_blocks"] >= 5).all()
    np.testing.assert_allclose(ok["ns_per_flop"], ok["time_per_matrix_s"] / ok["flops_per_matrix"] * 1e9)
    for col in ("loadavg_1m_before", "loadavg_1m_after", "other_cores_busy"):
        assert df[df["status"] != "skipped"][col].notna().all(), col
    assert df["load_above_threads"].dropna().isin([True, False]).all()


def test_outputs_are_written_and_readable(tiny_run):
    out, df, slopes, cross, _ = tiny_run
    for name in ("results.parquet", "results.csv", "slopes.csv", "crossovers.csv", "summary.md",
                 "time_vs_n-float64-cpu.png", "time_vs_n-float64-cpu.svg", "mlp_memory-float64.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    fitted = slopes[slopes["fit_points"] >= 3]
    assert set(fitted["solver_label"]) == {"lu", "torch-inv", "mlp-2fc[hidden=2n^2,recipe=none]"}
    assert slopes[slopes["solver_label"] == "mlp-3fc[hidden=8n^2,recipe=none]"]["slope"].isna().all()  # 2 sizes: no fit
    assert set(cross["baseline"]) == {"lu", "torch-inv"}
    text = (out / "summary.md").read_text()
    assert (
        "Made by: `matinv-bench scaling --solver lu torch-inv" in text
        and "Where the networks' weights stop fitting" in text
    )
    assert pd.read_csv(out / "results.csv")["status"].tolist() == df["status"].tolist()


@pytest.mark.parametrize("argv, words", [
    (["scaling", "--n", "0", "4"], "--n must be at least 1"),
    (["scaling", "--batch", "0"], "--batch must be more than 0"),
    (["scaling", "--solver", "lu[", "--n", "2"], "malformed spec"),
    (["scaling", "--solver", "lu[bogus=1]", "--n", "2"], "has no parameter bogus"),
    (["scaling", "--solver", "lu", "--n", "2", "--warmup", "-1"], "--warmup must be 0 or more seconds"),
    (["scaling", "--solver", "lu", "--n", "2", "--min-time", "0"], "--min-time must be more than 0 seconds"),
    (["scaling", "--solver", "lu", "--n", "2", "--min-time", "-0.5"], "--min-time must be more than 0 seconds"),
    (["scaling", "--solver", "lu", "--n", "2", "--threads", "100000"], "is more than the"),
    (["scaling", "--solver", "lu", "--n", "2", "--batch", "0"], "--batch must be more than 0"),
    (["scaling", "--replot", "--workers", "2"], "--replot measures nothing"),
])
def test_cli_rejects_bad_arguments_in_one_line(argv, words, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_cli_replot_needs_results(capsys, tmp_path):
    assert main(["scaling", "--replot", "--out", str(tmp_path)]) == 2
    assert "no results.parquet" in capsys.readouterr().err
    assert main(["scaling", "--replot"]) == 2  # there is no default folder to replot any more
    assert "--replot needs --out DIR" in capsys.readouterr().err


def test_replot_of_a_folder_made_by_run_is_one_line(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--no-timing", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["scaling", "--replot", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not a scaling run" in err and len(err.splitlines()) == 1


def test_a_run_without_torch_solvers_is_analysed(tmp_path, small_probe):
    # the summary reads the host-device copy columns, which only torch solvers' rows fill
    out = tmp_path / "run"
    assert main(["scaling", "--solver", "lu", "--n", "8", "16", "--warmup", "0", "--min-time", "0.01", "--repeats", "1",
                 "--quiet", "--in-process", "--out", str(out)]) == 0
    df = pd.read_parquet(out / "results.parquet")
    assert (df["status"] == "ok").all() and set(SCALING_COLUMNS) <= set(df.columns)
    assert df["h2d_s_per_matrix"].isna().all() and df["param_bytes"].isna().all()
    assert "## At the largest size each solver ran" in (out / "summary.md").read_text()
    assert (out / "time_vs_n-float64-cpu.png").is_file() and (out / "slopes.csv").is_file()


def test_a_cell_over_the_memory_limit_never_builds_its_dataset(tmp_path, monkeypatch, small_probe):
    def boom(*args, **kwargs):
        raise AssertionError("the dataset of a cell skipped for memory was built")

    monkeypatch.setattr(runner, "make_dataset", boom)
    df = sweep(tmp_path, ["mlp-2fc[hidden=8n^2,recipe=none]"], [16], "--max-memory", str(2**20 / 2**30), batch=4)
    row = df.iloc[0]
    assert row["status"] == "skipped" and row["reason"].startswith("needs about")
    assert row["param_bytes"] == 8 * mlp_param_count(16, 8 * 256, 2) and row["mem_need_bytes"] > 2**20
    assert row["flops_per_matrix"] == mlp_flops(16, 8 * 256, 2) and row["memory_limit_bytes"] == 2**20


def test_default_out_is_a_new_dated_folder(tmp_path, monkeypatch, small_probe):
    from matinv_bench.engine import options

    monkeypatch.setattr(options, "RESULTS", Path("results"))  # the real default (conftest moves it for tests)
    monkeypatch.chdir(tmp_path)
    assert main(["scaling", "--solver", "lu", "--n", "2", "--warmup", "0", "--min-time", "0.01", "--repeats", "1",
                 "--quiet", "--in-process"]) == 0
    made = list((tmp_path / "results").iterdir())
    assert len(made) == 1 and re.fullmatch(r"scaling-\d{8}-\d{6}", made[0].name), made
    assert (made[0] / "summary.md").is_file() and len(list((made[0] / "cells").glob("*.json"))) == 1


def test_every_solver_gets_the_same_batch_at_every_size():
    cells = scaling.make_cells(["lu", "mlp-2fc[hidden=2n^2,recipe=none]", "neumann[order=2]"], [4, 64, 512],
                               ["float64"], "cpu")
    assert {c.n_test for c in cells} == {scaling.BATCH} and dict(cells[0].tags)["batch"] == scaling.BATCH
    assert {c.n_test for c in scaling.make_cells(["lu"], [4, 512], ["float64"], "cpu", batch=1)} == {1}  # latency


def test_a_fixed_batch_sweep_of_dense_layers_scales_as_their_flops(tmp_path, small_probe):
    # at one batch across n a dense layer n^2 -> 8 n^2 -> n^2 reads its weights once per batch: its time follows
    # its O(n^4) flops (a batch that shrank with n made the same networks read n^4.9). 256 matrices keep it
    # compute-bound with a second test process reading memory beside it
    df = sweep(tmp_path, ["mlp-2fc[hidden=8n^2,recipe=none]", "mlp-3fc[hidden=8n^2,recipe=none]"], [8, 12, 16],
               "--threads", "1", "--min-time", "0.15", repeats=3, batch=256)
    assert (df["status"] == "ok").all() and (df["batch"] == 256).all()
    slopes, _ = analyse(df)
    own = slopes[slopes["fit_range"] == "own"].set_index("solver_label")
    for label in own.index:
        assert own.loc[label, "flops_exponent"] == pytest.approx(4.0, abs=0.2), label
        assert 3.5 <= own.loc[label, "slope"] <= 4.5, (label, own.loc[label, ["slope", "ci_lo", "ci_hi"]].tolist())


def test_a_cell_that_raises_is_a_failed_row_with_every_column(tmp_path, monkeypatch, small_probe):
    def boom(*args, **kwargs):
        raise MemoryError("1000 matrices of size 4 x 4 need about 9 GiB")

    monkeypatch.setattr(runner, "make_dataset", boom)
    df = sweep(tmp_path, ["lu", "qr"], [4])
    assert df["status"].tolist() == ["failed", "failed"]
    assert df["reason"].str.contains("MemoryError: 1000 matrices").all()
    assert set(SCALING_COLUMNS) <= set(df.columns)
    assert df["n"].tolist() == [4, 4] and df["solver_label"].tolist() == ["lu", "qr"] and (df["batch"] == 2).all()
    report.finish(tmp_path, "test", scaling.PROTOCOL)  # the analysis, summary and figures take rows that never ran
    assert "## Skipped and failed cells" in (tmp_path / "summary.md").read_text()


def test_cli_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["scaling", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--n", "--solver", "--dtype", "--batch", "--device", "--out", "--max-memory", "--replot"):
        assert option in out


# --- the measurement protocol ---------------------------------------------------------------

def test_solvers_take_turns_at_each_size_and_rotate_with_the_repetition():
    cells = scaling.plan(["lu", "qr", "torch-inv", "cholesky"], [4, 8], ["float64"], "cpu", repeats=2)
    order = [(c["repeat"], c["n"], c["label"]) for c in cells]
    # repetition by repetition, size by size; numpy solvers before torch ones, rotating by one each repetition
    assert order == [(0, 4, "lu"), (0, 4, "qr"), (0, 4, "cholesky"), (0, 4, "torch-inv"),
                     (0, 8, "lu"), (0, 8, "qr"), (0, 8, "cholesky"), (0, 8, "torch-inv"),
                     (1, 4, "qr"), (1, 4, "cholesky"), (1, 4, "lu"), (1, 4, "torch-inv"),
                     (1, 8, "qr"), (1, 8, "cholesky"), (1, 8, "lu"), (1, 8, "torch-inv")]


def test_each_repetition_runs_in_a_fresh_process(tiny_run):
    _, df, *_ = tiny_run
    ran = df[df["status"] == "ok"]
    pids = ran.groupby("repeat")["pid"].unique()
    assert [len(p) for p in pids] == [1, 1]  # one process per repetition
    assert pids[0][0] != pids[1][0] and os.getpid() not in set(ran["pid"])


def test_slopes_bootstrap_over_repetitions_and_say_so(tiny_run):
    _, _, slopes, *_ = tiny_run
    fitted = slopes[slopes["fit_points"] >= 3]
    assert set(fitted["fit_range"]) <= {"own", "common", "bound"} and {"own", "common"} <= set(fitted["fit_range"])
    assert fitted["ci_method"].str.startswith("scipy.stats.bootstrap percentile").all()
    assert fitted["ci_method"].str.contains("repetition medians").all()
    assert (fitted["repeats"] == 2).all() and (fitted["ci_lo"] <= fitted["ci_hi"]).all()
    # the common range is the one every solver ran: the 3-layer net stopped at n = 4, so it has none
    common = slopes[slopes["fit_range"] == "common"]
    assert common["slope"].notna().sum() == 3 and (common["fit_n_hi"].dropna() == 8).all()
    assert slopes["fit_range"].tolist().index("common") < slopes["fit_range"].tolist().index("own")


def test_a_single_repetition_bootstraps_its_timed_blocks_and_says_so(tmp_path, small_probe):
    df = sweep(tmp_path, ["lu"], [2, 4, 8])
    slopes, _ = analyse(df)
    own = slopes[slopes["fit_range"] == "own"].iloc[0]
    assert own["repeats"] == 1 and "timed blocks within one run" in own["ci_method"]


def test_a_cell_over_the_time_budget_is_skipped_with_its_estimate(tmp_path, small_probe):
    df = sweep(tmp_path, ["lu"], [8, 256, 512], "--cell-budget", "1e-9", batch=1)
    rows = df.set_index("n")
    assert rows.loc[8, "status"] == "ok"
    for n in (256, 512):  # the estimate chains from the last size measured
        assert rows.loc[n, "status"] == "skipped" and rows.loc[n, "estimated_cell_s"] > 1e-9
        assert "over the cell budget" in rows.loc[n, "reason"] and "at n = 8" in rows.loc[n, "reason"]
    ratio = SOLVERS.build("lu").flops(512) / SOLVERS.build("lu").flops(8)
    assert rows.loc[512, "estimated_cell_s"] == pytest.approx(rows.loc[8, "time_per_matrix_s"] * ratio * 7)


def test_the_budget_reads_what_other_processes_measured_from_the_run_folder(tmp_path):
    def cell(label, n, repeat=0):
        return runner.Cell(label, f"spd-box[n={n}]", n_test=2,
                           tags=(("solver_label", label), ("batch", 2), ("repeat", repeat)))

    folder = runner.checkpoint.RunFolder(tmp_path)  # what the process running the sweep writes after every cell
    folder.save_cell("a", {"solver": "lu", "dataset": "spd-box[n=64]", "solver_label": "lu", "dtype": "float64",
                           "repeat": 0, "n": 64, "status": "ok", "time_per_matrix_s": 1e-3,
                           "flops_per_matrix": 2 * 64**3})
    folder.save_cell("b", {"solver": "qr", "dataset": "spd-box[n=96]", "solver_label": "qr", "dtype": "float64",
                           "repeat": 0, "n": None, "status": "failed",
                           "reason": "timed out after 600 s (--cell-timeout); the cell's process was killed"})
    hook = scaling.ScalingHook(host_limit_bytes=2**40, host_total_bytes=2**40, cell_budget_s=10.0, rows=str(tmp_path))
    runs = hook.before(cell("lu", 128), SOLVERS.build("lu"))  # read the cell files: 0.11 s, under the budget
    assert runs.get("status") is None and set(runs) >= {"mem_need_bytes", "peak_gflops"}  # it runs, every column
    seconds, how = hook.estimate(cell("lu", 128), SOLVERS.build("lu"), 128)
    assert seconds == pytest.approx(1e-3 * 8 * 2 * 7) and "n = 64" in how
    assert hook.estimate(cell("lu", 128, repeat=1), SOLVERS.build("lu"), 128) is None  # another repetition
    skipped = hook.before(cell("qr", 128), SOLVERS.build("qr"))
    assert skipped["status"] == "skipped" and "timed out at n = 96" in skipped["reason"]
    assert hook.before(cell("qr", 128, repeat=1), SOLVERS.build("qr")).get("status") is None


def test_cli_rejects_bad_repeats_and_budget(capsys, tmp_path):
    for argv, words in ((["--repeats", "0"], "--repeats must be at least 1"),
                        (["--cell-budget", "0"], "--cell-budget must be more than 0")):
        assert main(["scaling", "--solver", "lu", "--n", "2", *argv, "--out", str(tmp_path)]) == 2
        assert words in capsys.readouterr().err


# --- the analysis: fits over n >= 256, the matmul probes, Gauss-Jordan's targets -------------

def _timed_rows(label: str, ns: list[int], exponent: float, repeats: int = 2, library: str = "numpy") -> list[dict]:
    """Synthetic ok rows: time = 1e-10 n^exponent, 1 % apart between repetitions."""
    return [{"solver_label": label, "dtype": "float64", "device": "cpu", "status": "ok", "n": n, "repeat": r,
             "library": library, "time_per_matrix_s": 1e-10 * n**exponent * (1 + 0.01 * r)}
            for n in ns for r in range(repeats)]


def _flop_rows(rows: list[dict], exponent: float, best: float = 50.0) -> list[dict]:
    """The rows with model flops ~ n^exponent and GFLOP/s rising to ``best`` (half of it below n = 64)."""
    for r in rows:
        r.update(family=r.get("family", "direct"), flops_per_matrix=float(r["n"]) ** exponent,
                 gflops=best if r["n"] >= 64 else best / 4)
    return rows


def test_exponents_are_fitted_where_each_family_is_compute_bound_beside_its_flop_count():
    lu = _flop_rows(_timed_rows("lu", [16, 32, 64, 256, 512, 1024], 3.0), 3.0)
    qr = _flop_rows(_timed_rows("qr", [16, 32, 64, 256, 512], 3.0), 3.0)
    net = [dict(r, family="learned") for r in _timed_rows("mlp-2fc[hidden=2n^2]", [16, 32, 64, 128], 4.0)]
    net = _flop_rows(net, 4.0)
    for r in net:
        r["gflops"] = 50.0 if r["n"] >= 32 else 10.0
    slopes, _ = analyse(pd.DataFrame(lu + qr + net))
    bound = slopes[slopes["fit_range"] == "bound"].set_index("solver_label")
    # classical: every member compute-bound from 64; the shared sizes are those both ran: 64-512
    assert (bound.loc["lu", "fit_n_lo"], bound.loc["lu", "fit_n_hi"]) == (64, 512)
    assert (bound.loc["qr", "fit_n_lo"], bound.loc["qr", "fit_n_hi"]) == (64, 512)
    assert bound.loc["lu", "slope"] == pytest.approx(3.0, abs=1e-6)
    assert bound.loc["lu", "flops_exponent"] == pytest.approx(3.0)
    assert (bound.loc["mlp-2fc[hidden=2n^2]", "fit_n_lo"], bound.loc["mlp-2fc[hidden=2n^2]", "fit_n_hi"]) == (32, 128)
    assert bound.loc["mlp-2fc[hidden=2n^2]", "flops_exponent"] == pytest.approx(4.0)
    common = slopes[slopes["fit_range"] == "common"].set_index("solver_label")
    assert set(common["fit_n_lo"]) == {16} and set(common["fit_n_hi"]) == {64}  # the sizes all three ran
    assert slopes["fit_range"].tolist()[0] == "common"  # readers that take a label's first row get the common range


def test_a_family_without_a_shared_compute_bound_range_gets_no_exponent_there():
    lu = _flop_rows(_timed_rows("lu", [16, 32, 64, 128, 256], 3.0), 3.0)  # compute-bound at 64, 128, 256
    gj = _flop_rows(_timed_rows("gauss-jordan", [256, 512, 1024], 3.0), 3.0)  # shares one of them
    slopes, _ = analyse(pd.DataFrame(lu + gj))
    bound = slopes[slopes["fit_range"] == "bound"]
    assert bound["slope"].isna().all() and (bound["fit_points"] == 0).all()


def test_the_summary_shows_every_repetitions_matmul_probe_and_each_exponents_range(tmp_path):
    rows = _flop_rows(_timed_rows("lu", [16, 32, 64, 256, 512, 1024], 3.0), 3.0)
    for row in rows:
        row.update(peak_gflops=[40.0, 90.0][row["repeat"]], reason="", peak_mem_kind="peak_rss", batch=1,
                   peak_fraction=0.5, ns_per_flop=1.0, peak_mem_bytes=1.0)
    df = complete(pd.DataFrame(rows))
    slopes, cross = analyse(df)
    report.write_summary(df, slopes, cross, tmp_path, "matinv-bench scaling", scaling.PROTOCOL)
    text = (tmp_path / "summary.md").read_text()
    assert "numpy float64 cpu: 40.0, 90.0 (best 90.0)" in text
    assert "| compute-bound " in text and "3.00 [3.00, 3.00] over n = 64-1024" in text
    assert "flop count's, same sizes" in text


def test_gauss_jordan_is_held_to_its_targets_within_each_repetition():
    rows = (_timed_rows("lu", [1024], 0.0) + _timed_rows("torch-inv", [1024], 0.0, library="torch")
            + _timed_rows("gauss-jordan[block=16]", [1024], 0.0) + _timed_rows("gauss-jordan[block=64]", [1024], 0.0))
    df = pd.DataFrame(rows)
    scale = {"lu": 1.0, "torch-inv": 0.5, "gauss-jordan[block=16]": 3.0, "gauss-jordan[block=64]": 1.5}
    df["time_per_matrix_s"] *= df["solver_label"].map(scale)
    df["gflops"] = 2.0 / df["time_per_matrix_s"]  # any work: the fractions below are gflops / peak
    df["peak_gflops"] = np.where(df["repeat"] == 0, 40.0, 80.0)
    df["peak_fraction"] = df["gflops"] / df["peak_gflops"]
    gj = report.gauss_jordan_targets(df).set_index("solver_label")
    assert list(gj.index) == ["gauss-jordan[block=16]", "gauss-jordan[block=64]"]
    assert gj.loc["gauss-jordan[block=64]", "time / lu"].startswith("1.50 [1.50, 1.50]")
    assert gj.loc["gauss-jordan[block=64]", "time / torch-inv"].startswith("3.00")
    assert gj.loc["gauss-jordan[block=64]", "time vs smaller block"] == "0.50 [0.50, 0.50] (gauss-jordan[block=16])"
    # its own repetition's probe (40 then 80) against the run's best (80): the stricter reading
    gflops = df[df["solver_label"] == "gauss-jordan[block=64]"]["gflops"].to_numpy()
    assert gj.loc["gauss-jordan[block=64]", "% of best probe"].startswith(f"{100 * np.median(gflops) / 80:.0f} [")
    assert report.gauss_jordan_targets(df[df["solver_label"] != "lu"]).empty


def test_a_size_that_only_one_repetition_ran_is_left_out_of_the_fits():
    rows = _timed_rows("gauss-jordan", [16, 32, 64, 128], 3.0) + _timed_rows("gauss-jordan", [256], 3.0, repeats=1)
    slopes, _ = analyse(pd.DataFrame(rows))
    own = slopes[slopes["fit_range"] == "own"].iloc[0]
    assert own["fit_n_hi"] == 128 and own["repeats"] == 2  # 256 (one repetition: others skipped it) is left out
    assert "repetition medians" in own["ci_method"]


def test_the_matmul_probe_runs_right_after_every_cell(tiny_run, monkeypatch):
    # a peak probed once per process let a machine that slowed down for minutes divide slow cells by a fast peak
    out, df, *_ = tiny_run
    ok = df[df["status"] == "ok"]
    assert (ok["peak_probe"] == PER_CELL).all()
    assert ok.groupby(["library", "repeat"])["peak_gflops"].nunique().max() > 1  # one probe per cell, not per process
    np.testing.assert_allclose(ok["peak_fraction"], ok["gflops"] / ok["peak_gflops"])
    text = (out / "summary.md").read_text()
    assert "timed right after every cell" in text and "over its own probe, taken in the same minute" in text
    # rows of older runs (one probe per process) keep the description that fits them
    old = ok.drop(columns="peak_probe")
    assert "measured once in each repetition's process" in report._peak_lines(old, scaling.PROTOCOL)[0]
    assert "repetition's own matmul probe" in report.gj_note(report._per_cell(old))


def test_replotting_an_older_run_leaves_its_rows_as_they_were(tiny_run, tmp_path):
    # rows made before the per-cell probe have no peak_probe column: a replot must not rewrite them to add it
    import shutil

    out, df, *_ = tiny_run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    results.write_tables(read_results(old).drop(columns="peak_probe"), old)
    before = (old / "results.parquet").read_bytes(), (old / "results.csv").read_bytes()
    assert main(["scaling", "--replot", "--quiet", "--out", str(old)]) == 0
    assert ((old / "results.parquet").read_bytes(), (old / "results.csv").read_bytes()) == before
    assert "measured once in each repetition's process" in (old / "summary.md").read_text()
