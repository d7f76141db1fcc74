"""``matinv-bench reproduce gpu``: its steps, end to end on the tiny budget (what CI can run), the
gpu budget's commands as the CLI parses them, and how a failed or interrupted step is recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from matinv_bench.cli import build_parser, main
from matinv_bench.experiments import gpu, scaling
from matinv_bench.experiments.tables import PAPER_DATASETS
from matinv_bench.reporting.results import read_results
from matinv_bench.solvers.learned import training
from matinv_bench.solvers.learned.cache import CACHE_ENV


def _steps(run_md: str) -> dict[str, list[str]]:
    """run.md's steps table: step name -> [status, exit, seconds, output, note]."""
    rows = {}
    for line in run_md.split("## Steps")[1].split("## Commands")[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in gpu.STEPS:
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.slow
def test_the_tiny_budget_runs_every_step_end_to_end_and_resumes(tmp_path, paper_data, monkeypatch, small_probe):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "models"))  # every network trains here, in this run's stacks
    # the scaling steps' cost: a small peak probe after each cell (small_probe) and one repetition rather than
    # three; tests/test_scaling*.py check the repetitions
    monkeypatch.setattr(scaling, "REPEATS", 1)
    # ... and that repetition in this process (a fresh process imports torch again: seconds per step);
    # tests/test_scaling*.py run the sweep in fresh processes
    plan = gpu.plan
    monkeypatch.setattr(gpu, "plan", lambda *a, **k: [replace(s, argv=(*s.argv, "--in-process"))
                                                      if s.name.startswith("scaling") else s for s in plan(*a, **k)])
    out = tmp_path / "run"
    assert main(["reproduce", "gpu", "--budget", "tiny", "--paper-data", str(paper_data), "--out", str(out),
                 "--quiet"]) == 0
    run_md = (out / "run.md").read_text()
    steps = _steps(run_md)
    assert list(steps) == list(gpu.STEPS) and all(s[0] == "ok" for s in steps.values()), steps
    assert "wall time of the whole command" in run_md and "(finished)" in run_md and "| cores |" in run_md
    # the compiled step measured against eager (aot_eager on the CPU: the same step, traced)
    compiled = pd.read_csv(out / "compile.csv")
    assert list(compiled.variant) == ["eager", "compiled (aot_eager)"] and (compiled.steps_per_s > 0).all()
    assert compiled.max_rel_diff.max() < 1e-12 and "| compiled (aot_eager) |" in (out / "compile.md").read_text()
    for dtype in ("float32", "float64"):
        rows = read_results(out / f"scaling-{dtype}")
        assert set(rows.dtype) == {dtype} and set(rows.n) == {2, 4, 8} and (rows.status == "ok").all()
        assert set(rows.timing_clock) == {"perf_counter"} and (out / f"scaling-{dtype}" / "slopes.csv").is_file()
    t1 = read_results(out / "table1" / "table1-tiny")
    assert set(t1.seed) == {0, 1} and {"paper-2x2-1st", "paper-2x2-2nd"} <= set(t1.dataset)
    assert t1.dataset.str.startswith("paper-dir:").any() and (t1.status == "ok").all()
    mlp = t1[t1.solver.str.startswith("mlp")]
    # both 2x2 boxes x 2 seeds in one stack per network, trained before the grid: every fit a cache hit
    assert mlp.train_cache_hit.astype(bool).all() and (mlp.train_stacked == 4).all()
    t2 = read_results(out / "table2" / "table2-tiny")
    assert (t2.status == "ok").all() and t2.solver.str.contains(r"hidden=8[,\]]").any()
    assert t2.loc[t2.solver.str.startswith("mlp-3fc"), "train_stacked"].eq(4).all()  # Table 1's stack, reused
    for table in ("table1", "table2"):
        assert pd.read_csv(out / table / f"{table}-tiny.csv").mae_mean.notna().all()

    # --resume DIR continues every step in DIR: finished cells are kept, nothing trains again
    def no_training(*args, **kwargs):
        raise AssertionError("a resumed run trained a network its finished cells do not need")

    monkeypatch.setattr(training, "fit", no_training)
    monkeypatch.setattr(training, "fit_many", no_training)
    assert main(["reproduce", "gpu", "--budget", "tiny", "--paper-data", str(paper_data), "--resume", str(out),
                 "--only", "scaling-float32", "table1", "--quiet"]) == 0
    run_md = (out / "run.md").read_text()
    assert list(_steps(run_md)) == ["scaling-float32", "table1"]
    assert f"scaling --resume {out / 'scaling-float32'}" in run_md and f"--resume {out / 'table1'}" in run_md
    again = read_results(out / "table1" / "table1-tiny")
    assert again.timestamp.tolist() == t1.timestamp.tolist() and again.mae.tolist() == t1.mae.tolist()


def test_the_gpu_budget_runs_the_paper_recipe_everywhere_and_scales_to_8192(tmp_path):
    steps = gpu.plan(gpu.BUDGETS["gpu"], tmp_path, paper_data=tmp_path / "paper-data")
    assert [s.name for s in steps] == list(gpu.STEPS)
    parser = build_parser()
    by_name = {s.name: s for s in steps}
    for name in ("table1", "table2"):
        args = parser.parse_args(list(by_name[name].argv))  # the CLI takes every planned command
        assert (args.recipe, args.seeds, args.n_matrices, args.device) == ("paper", 3, 10_000, "cuda")
        assert args.paper_data == tmp_path / "paper-data" and args.out == tmp_path / name and not args.no_stack
    assert parser.parse_args(list(by_name["table1"].argv)).dataset == list(PAPER_DATASETS)  # 16x16 included
    for dtype in ("float32", "float64"):
        args = parser.parse_args(list(by_name[f"scaling-{dtype}"].argv))
        assert args.dtype == [dtype] and args.device == "cuda" and max(args.n) == 8192
        assert any(s.startswith("mlp-") for s in args.solver) and "torch-inv" in args.solver
    # resumed: each step continues its folder (a scaling run only where it started one)
    (tmp_path / "table1").mkdir()
    (tmp_path / "scaling-float64").mkdir()
    (tmp_path / "scaling-float64" / "run.json").write_text("{}")
    resumed = {s.name: s.argv for s in gpu.plan(gpu.BUDGETS["gpu"], tmp_path, resume=True, quiet=True)}
    assert resumed["scaling-float64"] == ("scaling", "--resume", str(tmp_path / "scaling-float64"), "--quiet")
    assert "--out" in resumed["scaling-float32"] and "--resume" in resumed["table1"] and "--out" in resumed["table2"]


def test_the_gpu_folder_is_named_after_the_gpu():
    assert gpu.slug("NVIDIA H200") == "nvidia-h200" and gpu.slug("NVIDIA A100-SXM4-80GB") == "nvidia-a100-sxm4-80gb"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_the_gpu_budget_without_a_gpu_is_one_line(tmp_path, capsys):
    assert main(["reproduce", "gpu", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "torch.cuda.is_available() is False" in err and "--budget tiny" in err
    assert not (tmp_path / "x").exists()


def test_a_failing_step_is_recorded_and_the_next_one_runs(tmp_path, monkeypatch, capsys):
    tiny = gpu.BUDGETS["tiny"]
    monkeypatch.setitem(gpu.BUDGETS, "tiny", replace(tiny, solvers=("lu[order=3]",)))  # lu has no parameters
    out = tmp_path / "run"
    assert main(["reproduce", "gpu", "--budget", "tiny", "--only", "scaling-float64", "table2", "--out", str(out),
                 "--quiet"]) == 1
    steps = _steps((out / "run.md").read_text())
    assert steps["scaling-float64"][:2] == ["failed", "2"] and "has no parameter order" in steps["scaling-float64"][4]
    assert steps["table2"][0] == "ok" and (out / "table2" / "table2-tiny.csv").is_file()
    assert "1 step(s) failed: scaling-float64" in capsys.readouterr().err


def test_sigterm_stops_the_command_and_no_further_step_starts(tmp_path, monkeypatch):
    started = []

    def step(step, cli):  # as if `timeout` sent SIGTERM while the step ran
        started.append(step.name)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not interrupt the step")

    def unhandled(signum, frame):  # were the command's handler missing, SIGTERM would end the whole test run
        raise RuntimeError("SIGTERM reached the test's own handler: the command did not handle it")

    monkeypatch.setattr(gpu, "run_command", step)
    before = signal.signal(signal.SIGTERM, unhandled)
    out = tmp_path / "run"
    try:
        assert main(["reproduce", "gpu", "--budget", "tiny", "--only", "table1", "table2", "--out", str(out)]) == 130
        assert signal.getsignal(signal.SIGTERM) is unhandled  # the command's handler is gone
    finally:
        signal.signal(signal.SIGTERM, before)
    steps = _steps((out / "run.md").read_text())
    assert started == ["table1"] and steps["table1"][0] == "interrupted" and steps["table2"][0] == "not run"
    assert "(finished)" not in (out / "run.md").read_text()


def test_a_step_s_error_line_or_crash_becomes_its_note():
    step = gpu.Step("table1", ("reproduce", "table1"))

    def fails(argv):
        print("matinv-bench: error: no such folder 'x'", file=sys.stderr)
        return 2

    def crashes(argv):
        raise ZeroDivisionError("bug")

    assert (gpu.run_command(step, fails).status, gpu.run_command(step, fails).note) == ("failed", "no such folder 'x'")
    assert gpu.run_command(step, crashes).note == "crashed: ZeroDivisionError: bug"
    assert gpu.run_command(step, lambda argv: 130).status == "interrupted"
    assert gpu.run_command(step, lambda argv: 0).status == "ok"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_the_device_script_stops_with_a_message_without_cuda(tmp_path):
    script = Path(__file__).resolve().parents[1] / "bench" / "gpu_run.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)})
    assert done.returncode == 2 and "torch.cuda.is_available() is False" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing installed, run or copied
