"""The solver registry finds the package's solver modules by itself: a new module file in
matinv_bench/solvers/ is a new solver everywhere (here: SOLVERS and `matinv-bench list`), with no
import list to edit; private helpers (``_*.py``) and subpackages are not imported for it."""

from __future__ import annotations

import sys
import textwrap

import pytest

import matinv_bench.solvers as solvers_pkg
from matinv_bench import cli
from matinv_bench.solvers import SOLVERS

THROWAWAY = "throwaway_discovery_solver"
SOLVER_FILE = textwrap.dedent('''
    """A solver module written by a test: the identity's inverse, whatever the input."""

    import numpy as np

    from matinv_bench.solvers.base import Solver, register


    @register("throwaway-discovered")
    class Throwaway(Solver):
        """A throwaway solver that only a test registers."""

        flops_formula, flops_source = "0 n", "nothing computed"

        def invert(self):
            return np.broadcast_to(np.eye(self._A.shape[-1]), self._A.shape).copy()

        def flops(self, n):
            return 0.0
''')
PRIVATE_FILE = "raise RuntimeError('a private helper must not be imported by the registry')\n"


@pytest.fixture
def package_dir(tmp_path, monkeypatch):
    """A second folder of the solvers package (as if its files lay in matinv_bench/solvers/),
    with the registry's state restored afterwards and the test's modules forgotten."""
    monkeypatch.setattr(solvers_pkg, "__path__", [*solvers_pkg.__path__, str(tmp_path)])
    monkeypatch.setattr(SOLVERS, "_classes", dict(SOLVERS._classes))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(f"{solvers_pkg.__name__}.") and name.rsplit(".", 1)[1] in (THROWAWAY, "_throwaway_helper",
                                                                                      "throwaway_sub"):
            del sys.modules[name]


def test_the_package_modules_are_the_registered_solvers_modules():
    modules = set(solvers_pkg.solver_modules())
    assert {SOLVERS.get(name).__module__ for name in SOLVERS if SOLVERS.origin(name) is None} <= modules
    assert not any(m.rsplit(".", 1)[1].startswith("_") for m in modules)
    assert "matinv_bench.solvers.learned" not in modules  # a subpackage: the learned solvers' internals
    assert all(m in sys.modules for m in modules)  # importing the package imported them all


def test_a_new_module_file_is_a_new_solver(package_dir, capsys):
    (package_dir / f"{THROWAWAY}.py").write_text(SOLVER_FILE)
    (package_dir / "_throwaway_helper.py").write_text(PRIVATE_FILE)
    (package_dir / "throwaway_sub").mkdir()
    (package_dir / "throwaway_sub" / "__init__.py").write_text(PRIVATE_FILE)
    assert "throwaway-discovered" not in SOLVERS

    solvers_pkg.import_solver_modules()  # what importing the package does

    assert "throwaway-discovered" in SOLVERS
    assert SOLVERS.origin("throwaway-discovered") is None  # the package's own, not a plugin
    assert SOLVERS.get("throwaway-discovered").__module__ == f"matinv_bench.solvers.{THROWAWAY}"
    assert f"matinv_bench.solvers.{THROWAWAY}" in solvers_pkg.solver_modules()
    assert not {f"matinv_bench.solvers.{m}" for m in ("_throwaway_helper", "throwaway_sub")} & set(sys.modules)
    assert cli.main(["list", "solvers"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert "throwaway-discovered" in listed and "lu" in listed

    solvers_pkg.import_solver_modules()  # again: nothing is imported (or registered) twice
    assert list(SOLVERS).count("throwaway-discovered") == 1


def test_the_throwaway_is_gone_afterwards():
    # runs after the test above (file order): the fixture restored the registry
    assert "throwaway-discovered" not in SOLVERS
    assert f"matinv_bench.solvers.{THROWAWAY}" not in sys.modules
