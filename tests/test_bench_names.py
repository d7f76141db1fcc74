"""bench/ keeps literal name lists (asv runs today's suites against old commits); check them
against today's registries, and check the asv configuration the README documents."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from asv.util import load_json

from bench import bench_accuracy, bench_memory, bench_time, names
from matinv_bench.datasets import DATASETS
from matinv_bench.solvers import SOLVERS
from matinv_bench.specs import parse_spec

ROOT = Path(__file__).resolve().parents[1]
SOLVER_LISTS = {k: getattr(names, k) for k in ("DIRECT", "APPROXIMATION", "TRAINED", "UNTRAINED")}
ALL_SPECS = [s for specs in SOLVER_LISTS.values() for s in specs]
ALL_DATASETS = sorted({*names.ACCURACY_DATASETS, *names.MLP_DATASETS, *names.TRAINED_DATASETS,
                       *(names.TIME_DATASET.format(n=n) for n in names.TIME_N)})


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_solver_specs_build_today(spec):
    SOLVERS.build(spec)  # a typo or a renamed parameter raises SpecError


@pytest.mark.parametrize("spec", ALL_DATASETS)
def test_dataset_specs_build_today(spec):
    DATASETS.build(spec)


def test_every_registered_solver_is_tracked():
    listed = {parse_spec(s)[0] for s in ALL_SPECS} | set(names.PLUGIN_LEARNED + names.PLUGIN_OTHERS)
    missing = [name for name in SOLVERS if name not in listed]
    hint = {"direct": "DIRECT", "iterative": "APPROXIMATION", "approximation": "APPROXIMATION",
            "learned": "TRAINED (and UNTRAINED)"}
    assert not missing, "add to bench/names.py: " + "; ".join(
        f"{name!r} to {hint[SOLVERS.get(name).family]}" for name in missing)


def test_lists_sit_in_the_right_family():
    family = {k: {SOLVERS.build(s).family for s in v} for k, v in SOLVER_LISTS.items()}
    assert family["DIRECT"] <= {"direct"}
    assert family["APPROXIMATION"] <= {"approximation", "iterative"}
    assert family["TRAINED"] | family["UNTRAINED"] <= {"learned"}
    assert all(SOLVERS.build(s).params.get("recipe", "none") != "none" for s in names.TRAINED)


def test_plugin_solvers_are_tracked_by_family():
    """The names plugins registered in this process (none in a plain test run; the example plugin
    when MATINV_BENCH_PLUGINS names it, as tests/test_plugins.py runs this test) join the lists."""
    assert set(names.PLUGIN_LEARNED + names.PLUGIN_OTHERS) == set(SOLVERS.from_plugins())
    assert {SOLVERS.get(n).family for n in names.PLUGIN_LEARNED} <= {"learned"}
    assert "learned" not in {SOLVERS.get(n).family for n in names.PLUGIN_OTHERS}
    assert not set(names.PLUGIN_LEARNED + names.PLUGIN_OTHERS) & {parse_spec(s)[0] for s in ALL_SPECS}


def test_suites_use_the_lists():
    others, learned = list(names.PLUGIN_OTHERS), list(names.PLUGIN_LEARNED)
    assert bench_time.TimeInvert.params[0] == list(names.DIRECT + names.APPROXIMATION) + others
    assert bench_time.TimeMLPInference.params[0] == list(names.UNTRAINED) + learned
    assert bench_accuracy.Accuracy.params[0] == list(names.DIRECT + names.APPROXIMATION) + others
    assert bench_accuracy.TrainedAccuracy.params[:2] == (list(names.TRAINED) + learned, list(names.TRAINED_DATASETS))


def test_every_track_has_a_unit():
    tracks = [fn for cls in (bench_accuracy.Accuracy, bench_accuracy.TrainedAccuracy, bench_memory.MLPMemory)
              for name, fn in inspect.getmembers(cls, inspect.isfunction) if name.startswith("track_")]
    assert len(tracks) >= 5
    for fn in tracks:
        assert getattr(fn, "unit", "").strip(), f"{fn.__qualname__} has no unit"


def test_asv_conf_as_documented():
    conf = load_json(ROOT / "asv.conf.json", js_comments=True)
    assert conf["repo"] == "." and conf["benchmark_dir"] == "bench"
    assert conf["results_dir"] == "results/asv" and conf["html_dir"] == "results/asv/html"
    assert "results/asv/html/" in (ROOT / ".gitignore").read_text().splitlines()
    # the CPU-only install: the constraints file that pins torch is passed to pip
    assert any(".ci/constraints.txt" in cmd for cmd in conf["install_command"])
    assert "torch==" in (ROOT / ".ci" / "constraints.txt").read_text()
    threads = conf["matrix"]["env_nobuild"]
    assert {threads[k][0] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")} == {"1"}
