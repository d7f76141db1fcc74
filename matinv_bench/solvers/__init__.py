"""Solver registry. Importing this package registers every solver family.

>>> from matinv_bench.solvers import SOLVERS
>>> SOLVERS.build("gauss-jordan[backend=torch]")
"""

from matinv_bench.solvers import (  # noqa: F401  (registration)
    approximations,
    gauss_jordan,
    lapack,
    learned_ns,
    minimax_ns,
    mlp,
    newton_schulz,
    torch_linalg,
)
from matinv_bench.solvers.base import FAMILIES, SOLVERS, InputError, Inversion, Solver, Trainable, check_stack, register

__all__ = ["FAMILIES", "SOLVERS", "InputError", "Inversion", "Solver", "Trainable", "check_stack", "register"]
