"""Solver registry. Importing this package registers every built-in solver.

>>> from matinv_bench.solvers import SOLVERS
>>> SOLVERS.build("gauss-jordan[backend=torch]")

Every public module directly in this package is imported here, so the ``@register`` classes in
it join :data:`SOLVERS`: adding a built-in solver is one new file. Private helpers (``_*.py``)
and subpackages (``learned/``: architecture, training, model cache) register nothing and are
imported only by the modules that use them.
"""

import importlib
import pkgutil

from matinv_bench.solvers.base import (
    FAMILIES,
    SOLVERS,
    InputError,
    Inversion,
    Solver,
    Trainable,
    check_stack,
    register,
)


def solver_modules() -> list[str]:
    """The full names of the modules that may register solvers: this package's public modules,
    sorted (so that registration order, and a duplicate name's error, do not depend on the disk)."""
    return sorted(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__)
                  if not m.ispkg and not m.name.startswith("_"))


def import_solver_modules() -> None:
    """Import every module of :func:`solver_modules` (an import already done is not repeated)."""
    for name in solver_modules():
        importlib.import_module(name)


import_solver_modules()

__all__ = ["FAMILIES", "SOLVERS", "InputError", "Inversion", "Solver", "Trainable", "check_stack", "register"]
