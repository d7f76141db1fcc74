"""Shared fixtures: the paper's released data (optional) and small matrix stacks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# CI replays the same examples every run (a red CI must be reproducible); locally they vary.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
PAPER_DATA = ROOT.parent / "shared" / "paper-data"


# options that ask pytest-benchmark for timings (to show, save or compare)
TIMING_OPTIONS = ("benchmark_only", "benchmark_save", "benchmark_autosave", "benchmark_compare", "benchmark_json")


# Plain ``python -m pytest`` runs on pytest-xdist workers, one per core, at most this many, each
# running whole test files (``--dist loadfile``: a module-scoped fixture, such as a command run
# once whose folder several tests read, is made once). Each worker imports torch and the package
# (about 1 GB at its peak), and some tests start a Dask cluster or a run in a child process of
# their own; beyond four workers the longest files, not the number of cores, set the time.
MAX_WORKERS = 4
ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _timing(config) -> bool:
    return any(config.getoption(name, default=None) for name in TIMING_OPTIONS)


# the scaling study's matmul peak probe, small and short, for tests that run sweeps: what it measures
# is checked, not how well (it travels to cell processes and Dask workers in the hook's arguments)
SMALL_PROBE = {"MATMUL_N": 64, "PROBE_S": 0.01}


@pytest.fixture
def small_probe(monkeypatch):
    """:data:`SMALL_PROBE` set on the scaling study for this test."""
    from matinv_bench.experiments import scaling

    for name, value in SMALL_PROBE.items():
        monkeypatch.setattr(scaling, name, value)


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config):
    """Without ``-n``, ``-n auto`` where pytest-xdist is installed (the test extra), except when
    timing benchmarks (pytest-benchmark times nothing on an xdist worker); without ``--dist``,
    ``--dist loadfile``; on workers, one BLAS and OpenMP thread each (:data:`ONE_THREAD`, unless
    set). ``-n 0`` runs every test in this process."""
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):  # not on a worker
        if config.getoption("numprocesses") is None and not _timing(config):
            config.option.numprocesses = "auto"
        if config.getoption("numprocesses") and config.getoption("dist") == "no":
            config.option.dist = "loadfile"
        if config.getoption("numprocesses"):
            # the workers already fill the cores: their BLAS and OpenMP pools (and the cell processes
            # they start) take one thread each rather than spinning against each other; a test
            # that asks for threads still pins its own
            for name in ONE_THREAD:
                os.environ.setdefault(name, "1")
    return (yield)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core this process may use (its CPU affinity, as
    ``matinv_bench.system.default_threads`` counts them), at most :data:`MAX_WORKERS`;
    pytest-xdist's ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still sets the number."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, MAX_WORKERS)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """pyproject's addopts hold ``--benchmark-disable``, so plain pytest runs every benchmark
    once, untimed; an option that asks for timings (``--benchmark-only``, ``--benchmark-autosave``,
    ``--benchmark-compare``, ...) re-enables them."""
    if _timing(config):
        config.option.benchmark_enable = True


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` are skipped where torch sees no CUDA device."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture
def paper_data() -> Path:
    """``../shared/paper-data`` next to the project; the test is skipped when it is absent."""
    if not (PAPER_DATA / "README.md").is_file():
        pytest.skip(f"paper data not found at {PAPER_DATA} (the authors' released sets live outside the repo)")
    return PAPER_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True, scope="session")
def _model_cache(tmp_path_factory) -> Path:
    """Trained models go to a temporary cache, never the user's (see matinv_bench.solvers.learned.training)."""
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("model-cache")
    mp.setenv("MATINV_BENCH_CACHE", str(path))
    mp.delenv("MATINV_BENCH_RETRAIN", raising=False)
    yield path
    mp.undo()


@pytest.fixture(autouse=True)
def _dated_folders_in_tmp(tmp_path_factory, monkeypatch):
    """A command given no --out writes a dated folder under results/: in tests, under a temporary
    folder instead, so that the test run leaves nothing in the checkout."""
    from matinv_bench.engine import options

    monkeypatch.setattr(options, "RESULTS", tmp_path_factory.mktemp("results"))
