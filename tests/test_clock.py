"""The clock: its summary, and the CUDA path (events, L2 flush, device columns) as far as a
machine without a GPU can check it; tests marked ``cuda`` run where there is one."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from matinv_bench.engine import clock


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


def test_a_timing_has_at_least_five_blocks_however_long_a_call_is():
    slow = lambda: time.sleep(0.004)  # noqa: E731  (blocked_autorange alone would stop after about 3 blocks)
    t = clock.measure(slow, warmup_s=0.0, min_run_s=0.01)
    assert t.n_blocks >= clock.MIN_BLOCKS == 5 and len(t.times) == t.n_blocks
    assert t.calls_per_block >= 1 and (t.median_s, t.iqr_s) == clock.summarize(t.times)
    assert clock.measure(slow, warmup_s=0.0, min_run_s=0.01, min_blocks=8).n_blocks >= 8
    with pytest.raises(ValueError, match="min_blocks must be at least 1"):
        clock.measure(slow, min_blocks=0)
