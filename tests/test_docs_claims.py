"""What the pages say about the code, checked against the code: defaults, signatures, options,
messages, costs, and the example package of docs/extending.md. (The commands the pages show are
run by tests/test_docs_commands.py.)"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from matinv_bench import cli, plugins
from matinv_bench.datasets import DATASETS, make_dataset
from matinv_bench.engine.runner import make_grid
from matinv_bench.experiments import load_all, out_of_box, scaling, tables, where_can, where_can_n, why_cant
from matinv_bench.experiments.reproduce_all import cost_text
from matinv_bench.experiments.suites import SUITES
from matinv_bench.reporting import manifest
from matinv_bench.reporting.results import COLUMNS, read_results
from matinv_bench.solvers import SOLVERS

from tests.test_plugins import fresh  # noqa: F401  (a fixture: the registries as in a new process)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _passage(page: str, start: str) -> str:
    """The text of ``page`` from the line holding ``start`` to the next blank line or list item."""
    lines = (DOCS / page).read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if start in line)
    end = next((i for i in range(first + 1, len(lines)) if not lines[i].strip() or lines[i].startswith("- ")),
               len(lines))
    return "\n".join(lines[first:end])


def _recipe(name: str) -> str:
    return load_all()[name].shared["recipe"]


DEFAULT_LISTS = [
    ("measuring.md", "- **Sizes** `--n`", scaling.DEFAULT_SOLVERS),
    ("reproducing.md", "Beside them, on the same", tables.BASELINES),
    ("reproducing.md", "- **where-can** builds", [s.format(recipe=_recipe("where-can")) for s in where_can.SOLVERS]),
    ("reproducing.md", "- **where-can-n** runs",
     [s.format(recipe=_recipe("where-can-n"), steps=where_can_n.STEPS) for s in where_can_n.SOLVER_SPECS]),
    ("reproducing.md", "- **out-of-box** fits", [s.format(recipe=_recipe("out-of-box")) for s in out_of_box.SOLVERS]),
    ("reproducing.md", "- **why-cant**, part 1", [s.format(recipe=_recipe("why-cant")) for s in why_cant.SOLVERS_]),
]


@pytest.mark.parametrize("page, start, solvers", DEFAULT_LISTS, ids=[f"{p}:{s[:16]}" for p, s, _ in DEFAULT_LISTS])
def test_the_pages_name_every_default_solver(page, start, solvers):
    text = _passage(page, start)
    missing = [s for s in solvers if f"`{s}`" not in re.sub(r"\s+", " ", text)]
    assert not missing, f"docs/{page} ({start!r}) does not name these default solvers: {missing}"


def test_measuring_gives_the_default_sizes():
    assert f"`{' '.join(map(str, scaling.DEFAULT_N))}`" in _passage("measuring.md", "- **Sizes** `--n`")


def test_the_schema_on_the_page_is_the_code_s():
    text = re.sub(r"\s+", " ", _passage("running.md", "Each row has at least"))
    listed = re.search(r"at least: `([^`]*)`", text).group(1).split(", ")
    assert set(listed) <= set(COLUMNS), sorted(set(listed) - set(COLUMNS))


def test_the_cost_of_reproduce_all_is_the_manifest_s():
    """reproducing.md quotes the cost that `reproduce all --list` prints: the manifest's cost_s summed."""
    total = sum(s.cost_s or 0 for s in manifest.repo_manifest().sets if s.command is not None)
    line = next(x for x in (DOCS / "reproducing.md").read_text().splitlines()
                if x.startswith("matinv-bench reproduce all ") and "re-make every set" in x)
    assert f"({cost_text(total)} on 2 cores)" in line, f"reproducing.md says {line!r}; the manifest: {cost_text(total)}"


def _commands_with(flag: str) -> set[str]:
    """The commands (``run``, ``reproduce NAME``, ...) whose parser takes ``flag``."""
    found = set()

    def walk(parser, words):
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    if flag in sub._option_string_actions:
                        found.add(" ".join([*words, name]))
                    walk(sub, [*words, name])

    walk(cli.build_parser(), [])
    return found


def test_the_commands_that_take_retrain_are_those_reproducing_md_names():
    text = re.sub(r"\s+", " ", _passage("reproducing.md", "`--retrain` trains again"))
    said = re.search(r"It is an option of (.*?); not of (.*?), nor of (.*?),", text)
    assert said, "reproducing.md: the sentence on --retrain has changed; update this test with it"
    names = re.findall(r"`([^`]+)`", said.group(1))
    on = {n if n in ("run", "reproduce gpu") else f"reproduce {n}" for n in names if n != "reproduce"}
    assert on == _commands_with("--retrain")
    for off in re.findall(r"`([^`]+)`", said.group(2) + said.group(3)):
        assert off not in _commands_with("--retrain"), off


def test_make_dataset_as_design_md_gives_it():
    """design.md gives make_dataset's signature and a call; the call works."""
    text = (DOCS / "design.md").read_text()
    shown = re.search(r"`make_dataset\((.*?)\) -> MatrixSet`", text).group(1)
    params = inspect.signature(make_dataset).parameters.values()
    actual = ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in params)
    assert shown.replace('"', "'") == actual
    call = re.search(r"`(make_dataset\(\"paper-3x3\"[^`]*)`", text).group(1)
    data = eval(call, {"make_dataset": make_dataset})
    assert data.A.shape == (1000, 3, 3) and data.inv_ref.shape == (1000, 3, 3)


def test_the_plugin_messages_are_those_extending_md_quotes(fresh, tmp_path, capsys, caplog):  # noqa: F811
    text = re.sub(r"\s+", " ", (DOCS / "extending.md").read_text())
    error = re.search(r"\(`(matinv-bench: error: --plugin 'x.py': [^`]*)`\)", text).group(1)
    fresh.chdir(tmp_path)
    assert cli.main(["--plugin", "x.py", "list", "solvers"]) == 2
    assert capsys.readouterr().err.strip() == error
    quoted = "matinv-bench: plugin file /path/x.py not loaded: "
    assert f"(`{quoted}ModuleNotFoundError: ...`)" in text
    fresh.setenv(plugins.ENV, str(tmp_path / "x.py"))  # missing, through the variable: a warning, and the rest runs
    assert cli.main(["list", "solvers"]) == 0
    logged = [r.getMessage() for r in caplog.records if r.name == plugins.__name__]
    assert len(logged) == 1 and logged[0].startswith(quoted.replace("/path/x.py", str(tmp_path / "x.py"))
                                                     + "FileNotFoundError"), logged


def test_the_entry_point_example_builds_and_registers(fresh, tmp_path):  # noqa: F811
    """The pyproject.toml of docs/extending.md, with the two example modules as its package, builds
    (setuptools, as `pip install .` would) and its entry points register my-solver and tridiag."""
    text = (DOCS / "extending.md").read_text().split("## Installing it: entry points", 1)[1]
    pyproject = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    package = tmp_path / "pkg" / "my_matinv_solvers"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("my_solver.py", "my_dataset.py"):
        (package / name).write_text((DOCS / "examples" / name).read_text())
    (tmp_path / "pkg" / "pyproject.toml").write_text(pyproject)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", str(tmp_path / "dist"), str(tmp_path / "pkg")],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("my_matinv_solvers-*.whl"))
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")  # what pip install puts in site-packages
    fresh.syspath_prepend(str(tmp_path / "site"))
    assert "my-solver" in SOLVERS and "tridiag" in DATASETS
    assert SOLVERS.origin("my-solver") == "entry point 'my-solver' (my_matinv_solvers.my_solver)"
    assert DATASETS.origin("tridiag") == "entry point 'tridiag' (my_matinv_solvers.my_dataset)"


def test_reproduce_all_root_finds_the_data_beside_the_repository(tmp_path, monkeypatch, capsys):
    """``--root DIR`` runs the commands in DIR; ``../shared/paper-data`` in them still means the data
    beside the repository (not beside DIR), and without it the error names the set and the place."""
    repo = tmp_path / "work" / "repo"
    (repo / "results").mkdir(parents=True)
    (repo / "results" / "manifest.toml").write_text(
        '[[set]]\nname = "data"\nfolder = "results/data"\nneeds = ["paper-data"]\n'
        'command = "matinv-bench run --solver lu --dataset paper-dir:../shared/paper-data/matrix_3_dataset '
        '--n-matrices 4 --no-timing --quiet --out results/data"\n')
    data = tmp_path / "work" / "shared" / "paper-data" / "matrix_3_dataset"
    data.mkdir(parents=True)
    np.save(data / "base_matrix.npy", np.array([[4.0, 1, 0], [1, 3, 1], [0, 1, 2]]))
    monkeypatch.setattr(manifest, "repo_root", lambda: repo)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["reproduce", "all", "--root", str(tmp_path / "scratch")]) == 0
    assert list(read_results(tmp_path / "scratch" / "results" / "data").status) == ["ok"]

    data.parent.rename(tmp_path / "elsewhere")
    capsys.readouterr()
    assert cli.main(["reproduce", "all", "--root", str(tmp_path / "scratch2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"matinv-bench: error: set data needs the authors' data, not found at "
                   f"{tmp_path / 'work' / 'shared' / 'paper-data'} (../shared/paper-data from the repository root "
                   f"{repo}): give --paper-data DIR")
    assert cli.main(["reproduce", "all", "--root", str(tmp_path / "scratch2"), "--paper-data",
                     str(tmp_path / "elsewhere")]) == 0


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_every_suite_builds_for_cuda(suite, monkeypatch):
    """With CUDA reported available every cell of a suite builds for the GPU: torch solvers on it,
    numpy ones (LAPACK, Gauss-Jordan's numpy backend) left on the CPU. Nothing runs."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    s = SUITES[suite]
    for spec in sorted({c.solver for c in make_grid(s.solvers, s.datasets, range(s.seeds), ["float64"], "cuda")}):
        solver = SOLVERS.build(spec)
        expected = "cpu" if solver.library == "numpy" else "cuda"
        assert str(getattr(solver, "device", "cpu")).startswith(expected), spec

