"""The clock: its summary, and the CUDA path (events, L2 flush, device columns) as far as a
machine without a GPU can check it; tests marked ``cuda`` run where there is one."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from matinv_bench.datasets import make_dataset
from matinv_bench.engine import clock, runner
from matinv_bench.solvers.base import Solver


def test_summary_is_the_median_and_the_interquartile_range():
    assert clock.summarize([4.0, 1.0, 3.0, 2.0]) == (2.5, 1.5)  # quartiles 1.75 and 3.25
    assert clock.summarize([7.0]) == (7.0, 0.0)
    times = np.random.default_rng(0).exponential(size=101)
    median, iqr = clock.summarize(times)
    assert median == np.sort(times)[50] and iqr == pytest.approx(np.subtract(*np.percentile(times, [75, 25])))
    with pytest.raises(ValueError, match="not all finite"):
        clock.summarize([1.0, float("nan")])
    with pytest.raises(ValueError, match="cannot summarise 0"):
        clock.summarize([])


def test_the_cpu_clock_says_what_it_measured():
    t = clock.measure(lambda: sum(range(100)), warmup_s=0.0, min_run_s=0.01)
    assert t.clock == "perf_counter" and t.cache == "warm"
    assert (t.median_s, t.iqr_s) == clock.summarize(t.times)


def test_the_flush_buffer_is_twice_the_l2_cache_or_triton_s_256_mib():
    assert clock.flush_bytes(SimpleNamespace(L2_cache_size=50 * 2**20)) == 100 * 2**20
    assert clock.flush_bytes(SimpleNamespace(L2_cache_size=0)) == 256 * 2**20
    assert clock.flush_bytes(SimpleNamespace()) == 256 * 2**20


def test_nvidia_smi_lines_become_driver_and_clock_columns():
    assert clock.parse_nvidia_smi("550.54.15, 1755 MHz, 1980 MHz\n") == {
        "gpu_driver_version": "550.54.15", "gpu_sm_clock_mhz": 1755, "gpu_sm_clock_max_mhz": 1980}
    assert clock.parse_nvidia_smi("550.54.15, [N/A], 1980 MHz")["gpu_sm_clock_mhz"] is None
    assert clock.parse_nvidia_smi("") == {"gpu_driver_version": "", "gpu_sm_clock_mhz": None,
                                          "gpu_sm_clock_max_mhz": None}


def test_cuda_timing_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="torch.cuda.is_available\\(\\) is False"):
        clock.measure_cuda(lambda: None)
    with pytest.raises(RuntimeError, match="is False"):
        clock.device_description("cuda")
    assert clock.device_description("cpu") == {}


@pytest.mark.cuda
@pytest.mark.parametrize("flush", [True, False])
def test_measure_cuda_times_every_call_with_events(flush):
    a = torch.randn(512, 512, device="cuda")
    t = clock.measure_cuda(lambda: a @ a, warmup_s=0.01, min_run_s=0.02, flush=flush)
    assert t.clock == "cuda_events" and t.cache == ("cold" if flush else "warm")
    assert t.n_blocks == len(t.times) >= 1 and t.calls_per_block == 1 and all(x > 0 for x in t.times)
    assert (t.median_s, t.iqr_s) == clock.summarize(t.times)


@pytest.mark.cuda
def test_device_description_names_the_gpu():
    d = clock.device_description("cuda")
    assert d["gpu_name"] == torch.cuda.get_device_name(0) and d["cuda_version"] == torch.version.cuda
    assert d["gpu_memory_bytes"] > 0 and isinstance(d["gpu_driver_version"], str)


# ----------------------------------------------------------------------------- the run loop's clock

class _OnCuda(Solver):
    """numpy's inverse, posing as a solver on a GPU (the runner goes by ``device`` alone)."""

    device = "cuda:0"
    library = "torch"

    def invert(self):
        return np.linalg.inv(self._A)

    def flops(self, n: int) -> float:
        return float(n) ** 3


def _fake_gpu(monkeypatch) -> list[dict]:
    """The runner's CUDA clock and device columns, replaced by fakes that record their calls."""
    calls: list[dict] = []

    def measure_cuda(fn, *, device=None, warmup_s, min_run_s, flush=True, max_reps=clock.MAX_REPS):
        fn()
        calls.append({"device": device, "flush": flush, "warmup_s": warmup_s, "min_run_s": min_run_s})
        return clock.Timing(2e-3, 1e-4, 7, 1, 3, (2e-3,) * 7, clock="cuda_events", cache="cold" if flush else "warm")

    monkeypatch.setattr(runner, "measure_cuda", measure_cuda)
    monkeypatch.setattr(runner, "measure", lambda *a, **k: pytest.fail("a CUDA solver was timed with the CPU clock"))
    monkeypatch.setattr(runner, "device_description",
                        lambda device: {"gpu_name": "Fake H200", "gpu_driver_version": "1.0", "asked": str(device)})
    real_build = runner.SOLVERS.build
    monkeypatch.setattr(runner.SOLVERS, "build",
                        lambda spec: _OnCuda() if spec == "on-cuda" else real_build(spec))
    return calls


def test_the_runner_times_solvers_on_cuda_with_events_cold_and_names_the_gpu(monkeypatch):
    calls = _fake_gpu(monkeypatch)
    data = make_dataset("paper-3x3", n_test=4)
    row = runner.run_cell(runner.Cell("on-cuda", "paper-3x3"), data, warmup_s=0.01, min_run_s=0.02)
    assert row["status"] == "ok", row["reason"]
    assert calls == [{"device": "cuda:0", "flush": True, "warmup_s": 0.01, "min_run_s": 0.02}]
    assert (row["timing_clock"], row["timing_cache"]) == ("cuda_events", "cold")
    assert row["time_per_matrix_s"] == pytest.approx(2e-3 / 4) and row["timing_blocks"] == 7
    assert row["gpu_name"] == "Fake H200" and row["asked"] == "cuda:0" and row["device"] == "cuda:0"


def test_untimed_rows_on_cuda_name_the_gpu_too(monkeypatch):
    # the GPU tables run with --no-timing: their rows must still say which GPU ran them
    _fake_gpu(monkeypatch)
    data = make_dataset("paper-3x3", n_test=4)
    row = runner.run_cell(runner.Cell("on-cuda", "paper-3x3"), data, warmup_s=0.01, min_run_s=0.02, time_it=False)
    assert row["status"] == "ok", row["reason"]
    assert "time_per_matrix_s" not in row and row["gpu_name"] == "Fake H200" and row["asked"] == "cuda:0"


def test_cpu_rows_say_perf_counter_and_warm_and_name_no_gpu(monkeypatch):
    _fake_gpu(monkeypatch)
    monkeypatch.setattr(runner, "measure", clock.measure)  # the CPU clock is the one expected here
    data = make_dataset("paper-3x3", n_test=4)
    row = runner.run_cell(runner.Cell("lu", "paper-3x3"), data, warmup_s=0.0, min_run_s=0.01)
    assert row["status"] == "ok", row["reason"]
    assert (row["timing_clock"], row["timing_cache"]) == ("perf_counter", "warm")
    assert "gpu_name" not in row


@pytest.mark.cuda
def test_the_runner_times_torch_inv_on_the_gpu_with_events():
    data = make_dataset("paper-3x3", n_test=64)
    row = runner.run_cell(runner.Cell("torch-inv[device=cuda]", "paper-3x3"), data, warmup_s=0.01, min_run_s=0.05)
    assert row["status"] == "ok", row["reason"]
    assert (row["timing_clock"], row["timing_cache"]) == ("cuda_events", "cold")
    assert row["gpu_name"] == torch.cuda.get_device_name(0) and row["time_per_matrix_s"] > 0


@pytest.mark.cuda
def test_the_cuda_clock_agrees_with_tritons_do_bench():
    # measure_cuda follows do_bench (see the clock's docstring): on the same cold-cache kernel, the same median
    testing = pytest.importorskip("triton.testing", reason="triton ships with CUDA builds of torch only")
    a = torch.randn(2048, 2048, device="cuda")
    ours = clock.measure_cuda(lambda: a @ a, warmup_s=0.05, min_run_s=0.2, flush=True).median_s
    theirs = testing.do_bench(lambda: a @ a, warmup=50, rep=200, return_mode="median") / 1e3
    assert ours == pytest.approx(theirs, rel=0.25)


def test_a_timing_has_at_least_five_blocks_however_long_a_call_is():
    slow = lambda: time.sleep(0.004)  # noqa: E731  (blocked_autorange alone would stop after about 3 blocks)
    t = clock.measure(slow, warmup_s=0.0, min_run_s=0.01)
    assert t.n_blocks >= clock.MIN_BLOCKS == 5 and len(t.times) == t.n_blocks
    assert t.calls_per_block >= 1 and (t.median_s, t.iqr_s) == clock.summarize(t.times)
    assert clock.measure(slow, warmup_s=0.0, min_run_s=0.01, min_blocks=8).n_blocks >= 8
    with pytest.raises(ValueError, match="min_blocks must be at least 1"):
        clock.measure(slow, min_blocks=0)
