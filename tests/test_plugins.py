"""Plugins: the documented example solver and dataset through every front end (the CLI in this
process, in a --cell-timeout child and on Dask workers; pytest-benchmark; asv's name lists),
entry points, and broken plugins as one warning line that does not stop the suite."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from matinv_bench import cli, plugins
from matinv_bench.datasets import DATASETS, make_dataset
from matinv_bench.solvers import SOLVERS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
SOLVER_FILE, DATASET_FILE = EXAMPLES / "my_solver.py", EXAMPLES / "my_dataset.py"


@pytest.fixture
def fresh(monkeypatch):
    """This process as if no plugin had been imported; the registries and $MATINV_BENCH_PLUGINS
    are restored afterwards, so that what a test registers does not leak into other tests."""
    monkeypatch.setenv(plugins.ENV, "")
    monkeypatch.setattr(plugins, "_imported", {})
    for reg in (SOLVERS, DATASETS):
        monkeypatch.setattr(reg, "_classes", dict(reg._classes))
        monkeypatch.setattr(reg, "_origins", dict(reg._origins))
        monkeypatch.setattr(reg, "_plugins_state", "pending")  # plugins load on next use, as in a new process
    before = set(sys.modules)
    yield monkeypatch
    for name in set(sys.modules) - before:
        if name.startswith(("matinv_bench_plugin_", "ep_plugin_")):
            del sys.modules[name]


def _code_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.S | re.M)


@pytest.mark.parametrize("example", [SOLVER_FILE, DATASET_FILE], ids=lambda p: p.name)
def test_the_doc_shows_each_example_verbatim(example):
    doc = (ROOT / "docs" / "extending.md").read_text()
    assert example.read_text() in _code_blocks(doc), f"docs/extending.md must show {example.name} as it is"
    assert f"docs/examples/{example.name}" in doc
    assert len(example.read_text().splitlines()) <= 30


def _rows(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "results.parquet").set_index(["solver", "dataset"])


@pytest.mark.parametrize("where", ["here", "child", pytest.param("dask", marks=pytest.mark.slow)])
def test_cli_runs_the_example_plugins(fresh, tmp_path, where):
    """``--plugin`` twice: the solver on the plugin's own dataset and on a package dataset, in
    this process, in the --cell-timeout child and on a local Dask worker (both only see the
    plugins through the environment variable the CLI sets)."""
    extra = {"here": [], "child": ["--cell-timeout", "120"], "dask": ["--workers", "1"]}[where]
    out = tmp_path / "run"
    fresh.chdir(ROOT)
    rc = cli.main(
        [
            "--plugin",
            "docs/examples/my_solver.py",
            "--plugin",
            str(DATASET_FILE),
            "run",
            "--solver",
            "my-solver",
            "lu",
            "--dataset",
            "tridiag[n=8]",
            "randsvd[n=8,cond=1e3]",
            "hilbert[n=10]",
            "--n-matrices",
            "8",
            "--no-timing",
            "--quiet",
            "--out",
            str(out),
            *extra,
        ]
    )
    assert rc == 0
    assert os.environ[plugins.ENV].split(os.pathsep) == [str(SOLVER_FILE), str(DATASET_FILE)]  # absolute
    rows = _rows(out)
    for ds in ("tridiag[n=8]", "randsvd[cond=1000,n=8]"):
        row = rows.loc[("my-solver", ds)]
        assert row.status == "ok", row.reason
        assert row.mae < 1e-12 and row.failure_rate == 0 and row.flops_per_matrix == 4 * 40 * 8**3
    assert rows.loc[("my-solver", "hilbert[n=10]")].status == "skipped"  # the example's skip(), with its reason
    assert "converge only below 1e4" in rows.loc[("my-solver", "hilbert[n=10]")].reason
    assert rows.loc[("lu", "hilbert[n=10]")].status == "ok"


def test_pytest_benchmark_and_asv_pick_up_a_plugin_from_the_environment():
    """With MATINV_BENCH_PLUGINS naming the example, pytest-benchmark's grid (tests/benchmarks)
    collects and runs ``my-solver``, and bench/names.py adds it to asv's time and accuracy lists."""
    script = (
        "import json, pytest\n"
        "rc = pytest.main(['tests/benchmarks', 'tests/test_bench_names.py', '-n', '0', '-p', 'no:cacheprovider',\n"
        "                  '-rA', '-q',\n"
        "                  '-k', 'my-solver or plugin_solvers or suites_use'])\n"
        "from bench import bench_accuracy, bench_time, names\n"
        "print(json.dumps({'rc': int(rc), 'time': bench_time.TimeInvert.params[0],\n"
        "                  'accuracy': bench_accuracy.Accuracy.params[0], 'plugins': names.PLUGIN_OTHERS}))\n")
    env = {**os.environ, plugins.ENV: str(SOLVER_FILE)}
    res = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    lists = json.loads(out.strip().splitlines()[-1])
    assert lists["rc"] == 0, out
    assert lists["plugins"] == ["my-solver"]
    assert lists["time"][-1] == "my-solver" and lists["accuracy"][-1] == "my-solver"
    benchmarks = re.findall(
        r"^PASSED tests/benchmarks/test_bench_invert.py::test_invert\[(my-solver-[^\]]*\])\]", out, re.M
    )
    assert len(benchmarks) == 4, out  # 2 datasets x 2 sizes
    for test in ("test_plugin_solvers_are_tracked_by_family", "test_suites_use_the_lists"):
        assert f"PASSED tests/test_bench_names.py::{test}" in out, out


def _distribution(where: Path, entry_points: str, modules: dict[str, str]) -> None:
    """An installed distribution as importlib.metadata finds it: a .dist-info beside its modules."""
    info = where / "ep_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    for name, text in modules.items():
        (where / f"{name}.py").write_text(text)


def test_entry_points_register_solvers_and_datasets(fresh, tmp_path, caplog):
    _distribution(tmp_path, (
        "[matinv_bench.solvers]\n"
        "ep-solver = ep_plugin_solver\n"
        "broken = ep_plugin_broken:Whatever\n"
        "[matinv_bench.datasets]\n"
        "tridiag = ep_plugin_dataset\n"
    ), {
        "ep_plugin_solver": SOLVER_FILE.read_text().replace('register("my-solver")', 'register("ep-solver")'),
        "ep_plugin_dataset": DATASET_FILE.read_text(),
        "ep_plugin_broken": "raise RuntimeError('this plugin is broken\\non two lines')\n",
    })
    fresh.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="matinv_bench.plugins"):
        assert "ep-solver" in SOLVERS and "lu" in SOLVERS
        assert SOLVERS.origin("ep-solver") == "entry point 'ep-solver' (ep_plugin_solver)"
        assert SOLVERS.origin("lu") is None and SOLVERS.from_plugins() == ["ep-solver"]
        data = make_dataset("tridiag[n=6]", n_test=4, seed=1)
    assert DATASETS.from_plugins() == ["tridiag"]
    assert data.A.shape == (4, 6, 6) and (data.kappa < 10).all()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "plugin entry point 'broken' (ep_plugin_broken:Whatever) not loaded: RuntimeError" in warnings[0]


def test_a_broken_plugin_is_one_warning_and_the_suite_goes_on(fresh, tmp_path, caplog, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_here\n")
    clash = tmp_path / "clash.py"  # registers a name the package has
    clash.write_text(SOLVER_FILE.read_text().replace('register("my-solver")', 'register("lu")'))
    fresh.setenv(plugins.ENV, os.pathsep.join([str(broken), str(tmp_path / "missing.py")]))
    with caplog.at_level(logging.WARNING, logger="matinv_bench.plugins"):
        assert cli.main(["--plugin", str(clash), "--plugin", str(SOLVER_FILE), "list", "solvers"]) == 0
    listed = capsys.readouterr().out
    assert "my-solver[steps=40]" in listed and re.search(r"^  lu\s+direct", listed, re.M)
    assert SOLVERS.origin("lu") is None  # still the package's LU
    warnings = sorted(r.getMessage() for r in caplog.records)
    assert len(warnings) == 3 and not any("\n" in w for w in warnings)
    assert f"file {broken} not loaded: ModuleNotFoundError" in warnings[0]
    assert f"file {clash} not loaded: ValueError: solver 'lu' registered twice" in warnings[1]
    assert f"file {tmp_path / 'missing.py'} not loaded: FileNotFoundError" in warnings[2]


@pytest.mark.parametrize("path", ["no-such-plugin.py", "README.md"])
def test_a_plugin_option_that_names_no_python_file_is_a_one_line_error(fresh, capsys, path):
    assert cli.main(["--plugin", path, "list", "solvers"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"matinv-bench: error: --plugin '{path}'") and "\n" not in err
    assert os.environ[plugins.ENV] == ""  # nothing was added


def test_a_plugin_may_read_the_registry_while_it_loads_and_other_threads_wait_for_it(fresh, tmp_path):
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import time\n"
        "from matinv_bench.solvers import SOLVERS\n"
        "assert 'lu' in SOLVERS  # reading the registry from inside its own plugin loading\n"
        "time.sleep(0.3)\n" + SOLVER_FILE.read_text().replace('register("my-solver")', 'register("slow-solver")'))
    fresh.setenv(plugins.ENV, str(slow))
    seen = {}

    def build(i: int) -> None:
        try:
            seen[i] = SOLVERS.build("slow-solver").spec
        except Exception as exc:  # noqa: BLE001 (reported below)
            seen[i] = repr(exc)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seen == {i: "slow-solver" for i in range(4)}
    assert plugins._imported == {f"file {slow}": True}  # imported once
