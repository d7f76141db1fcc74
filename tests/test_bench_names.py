"""bench/names.py reads the registered solvers from today's source files (asv runs today's suites
against old commits, so the lists must not depend on the installed package): check what it reads
against today's registries, that it imports nothing of the package, and the asv configuration the
docs describe."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from asv.util import load_json

from bench import bench_accuracy, bench_memory, bench_time, names
from matinv_bench import plugins
from matinv_bench.datasets import DATASETS
from matinv_bench.solvers import SOLVERS
from matinv_bench.specs import parse_spec

ROOT = Path(__file__).resolve().parents[1]
SOLVER_LISTS = {k: getattr(names, k) for k in ("DIRECT", "APPROXIMATION", "TRAINED", "UNTRAINED")}
ALL_SPECS = [s for specs in SOLVER_LISTS.values() for s in specs] + [names.MEMORY_SOLVER]
ALL_DATASETS = sorted({*names.ACCURACY_DATASETS, *names.MLP_DATASETS, *names.TRAINED_DATASETS,
                       *(names.TIME_DATASET.format(n=n) for n in names.TIME_N)})
LISTS = ("DIRECT", "APPROXIMATION", "TRAINED", "UNTRAINED", "PLUGIN_LEARNED", "PLUGIN_OTHERS")


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_solver_specs_build_today(spec):
    SOLVERS.build(spec)  # a typo or a renamed parameter raises SpecError


@pytest.mark.parametrize("spec", ALL_DATASETS)
def test_dataset_specs_build_today(spec):
    DATASETS.build(spec)


def test_the_source_gives_the_registry():
    """What ast reads from matinv_bench/solvers is what the package registers, families included."""
    own = {n: SOLVERS.get(n).family for n in SOLVERS if SOLVERS.origin(n) is None}
    assert names.REGISTERED["package"] == own
    assert list(own) == sorted(own)


def test_every_registered_solver_is_tracked():
    listed = {parse_spec(s)[0] for s in ALL_SPECS} | set(names.PLUGIN_LEARNED + names.PLUGIN_OTHERS)
    assert listed == set(SOLVERS)
    assert set(names.TRACKED_AS) <= set(SOLVERS), "bench/names.py TRACKED_AS names a solver nobody registers"
    assert all(parse_spec(s)[0] == name for name, specs in names.TRACKED_AS.items() for s in specs)


def test_lists_sit_in_the_right_family():
    family = {k: {SOLVERS.build(s).family for s in v} for k, v in SOLVER_LISTS.items()}
    assert family["DIRECT"] <= {"direct"}
    assert family["APPROXIMATION"] <= {"approximation", "iterative"}
    assert family["TRAINED"] | family["UNTRAINED"] <= {"learned"}
    assert all(SOLVERS.build(s).params.get("recipe", "none") != "none" for s in names.TRAINED)
    assert all(SOLVERS.build(s).params["recipe"] == "none" for s in names.UNTRAINED)


def test_a_new_solver_file_joins_the_lists(tmp_path):
    """Copy the package's solver sources, add one file: its solver is tracked by its name, in its
    family's list, with no other edit."""
    src = tmp_path / "solvers"
    for path in names.SOLVER_SOURCES.rglob("*.py"):
        (src / path.relative_to(names.SOLVER_SOURCES)).parent.mkdir(parents=True, exist_ok=True)
        (src / path.relative_to(names.SOLVER_SOURCES)).write_text(path.read_text())
    (src / "zz_new.py").write_text(
        "from matinv_bench.solvers._hyperpower import HyperpowerSolver\n"
        "from matinv_bench.solvers.base import register\n\n\n"
        "@register('aa-new')\nclass New(HyperpowerSolver):\n    pass\n")
    registered = names.registered_solvers(src, plugins=[])
    assert registered["package"]["aa-new"] == "iterative"  # inherited from HyperpowerSolver
    lists = names.tracked(registered["package"])
    assert lists["approximation"][0] == "aa-new" and lists["direct"] == names.DIRECT


def test_the_lists_do_not_depend_on_the_installed_package():
    """bench/names.py imports nothing of matinv_bench: with the package unimportable (an old commit
    that lacks a module is the same to it), the lists come out the same."""
    script = ("import json, sys\nsys.modules['matinv_bench'] = None  # any import of it raises ImportError\n"
              "from bench import names\n"
              f"print(json.dumps({{k: getattr(names, k) for k in {LISTS!r}}}))\n")
    res = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != names.PLUGINS_ENV},
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {k: list(getattr(names, k)) for k in LISTS}


def test_constants_written_out_agree_with_the_package():
    assert names.PLUGINS_ENV == plugins.ENV
    assert names.PLUGIN_GROUP == SOLVERS.plugin_group


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
