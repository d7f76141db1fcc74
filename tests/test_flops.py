"""Every registered solver's model flop count against the one table (solvers/flops.py), whose
LAPACK constants are LAPACK Working Note 41's."""

from __future__ import annotations

from fractions import Fraction

import pytest

from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers.flops import MODELS, ROUTINES, model_flops, routines
from matinv_bench.specs import parse_spec

BUILT_IN = [name for name in SOLVERS if SOLVERS.get(name).__module__.startswith("matinv_bench.")]
# specs that exercise each solver's parameters (every built-in solver is built at least with its defaults)
EXAMPLES = {
    "neumann": ["neumann[order=0]", "neumann[order=1]", "neumann[order=3]"],
    "newton-schulz": ["newton-schulz[steps=1]", "newton-schulz[steps=40,init=scaled]"],
    "gauss-jordan": ["gauss-jordan[block=16]", "gauss-jordan[backend=torch,device=cpu,block=64]"],
    "mlp-2fc": ["mlp-2fc[hidden=32]", "mlp-2fc[hidden=200,recipe=none]"],
    "mlp-3fc": ["mlp-3fc[hidden=32]", "mlp-3fc[hidden=200,recipe=none]"],
}
SPECS = sorted({*BUILT_IN, *(s for specs in EXAMPLES.values() for s in specs)})


def test_every_built_in_solver_has_a_model_with_a_source():
    assert set(BUILT_IN) <= set(MODELS), f"no flop model for {sorted(set(BUILT_IN) - set(MODELS))}"
    for name in BUILT_IN:
        assert MODELS[name].formula and MODELS[name].source


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("n", [1, 7, 64])
def test_solver_flops_equal_the_table(spec, n):
    name, params = parse_spec(spec)
    assert SOLVERS.build(spec).flops(n) == pytest.approx(model_flops(name, n, **params), rel=1e-12)


def test_the_lapack_constants_are_lawn_41s():
    # leading terms, additions plus multiplications, square case (LAWN 41's operation-count table)
    F = Fraction
    assert ROUTINES == {"getrf": F(2, 3), "getri": F(4, 3), "getrs": 2, "potrf": F(1, 3), "potri": F(2, 3),
                        "geqrf": F(4, 3), "orgqr": F(4, 3), "trsm": 1, "gemm": 2}
    n = 10
    expected = {"lu": 2, "numpy-inv": 8 / 3, "torch-inv": 8 / 3, "cholesky": 1, "qr": 11 / 3, "gauss-jordan": 2,
                "linear-approx": 4}
    for name, c in expected.items():
        assert SOLVERS.build(name).flops(n) == pytest.approx(c * n**3), name
    assert routines("getrf", "getri") == 2


def test_parameterised_counts():
    n = 5
    assert SOLVERS.build("neumann[order=0]").flops(n) == 0  # X0 itself: no product
    assert SOLVERS.build("neumann[order=3]").flops(n) == 4 * 2 * n**3
    assert SOLVERS.build("newton-schulz[steps=40]").flops(n) == 40 * 4 * n**3
    h = 2 * n * n
    assert SOLVERS.build(f"mlp-2fc[hidden={h}]").flops(n) == 2 * (n * n * h + h * n * n)
    assert SOLVERS.build(f"mlp-3fc[hidden={h}]").flops(n) == 2 * (n * n * h + h * h + h * n * n)
    assert SOLVERS.build("mlp-2fc").flops(n) == 2 * 2 * n * n * 8 * n * n  # default width 8 n^2
