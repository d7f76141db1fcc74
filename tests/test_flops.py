"""Every solver's model flop count, stated in its own class, against counts worked out here by
hand (not from the classes' formulas), and the LAPACK constants of the shared vocabulary
(solvers/flops.py) against LAPACK Working Note 41's."""

from __future__ import annotations

from fractions import Fraction

import pytest

from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers.flops import ROUTINES, mlp_count, routines
from matinv_bench.solvers.learned.architecture import mlp_flops

BUILT_IN = [name for name in SOLVERS if SOLVERS.get(name).__module__.startswith("matinv_bench.")]

# (spec, n, flops per matrix), each worked out by hand: n^3 = 27 for n = 3 and 216 for n = 6; an
# MLP's count is 2 x its weights (n^2 h + ... + h n^2), with the default width h = 8 n^2 = 72 at n = 3
EXPECTED = [
    ("lu", 3, 54), ("lu", 6, 432),  # getrf 2/3 + getri 4/3
    ("numpy-inv", 3, 72), ("numpy-inv", 6, 576),  # getrf 2/3 + getrs 2
    ("torch-inv", 3, 72), ("torch-inv", 6, 576),
    ("cholesky", 3, 27), ("cholesky", 6, 216),  # potrf 1/3 + potri 2/3
    ("qr", 3, 99), ("qr", 6, 792),  # geqrf 4/3 + orgqr 4/3 + trsm 1
    ("gauss-jordan", 3, 54), ("gauss-jordan[block=16]", 6, 432),
    ("gauss-jordan[backend=torch,device=cpu,block=64]", 6, 432),
    ("linear-approx", 3, 108), ("linear-approx", 6, 864),  # two products
    ("neumann", 3, 162),  # order 2: three products
    ("neumann[order=0]", 6, 0), ("neumann[order=1]", 6, 864), ("neumann[order=3]", 6, 1728),
    ("newton-schulz", 3, 3240),  # 30 steps of two products
    ("newton-schulz[steps=1]", 3, 108), ("newton-schulz[steps=2,init=base]", 6, 1728),
    ("minimax-ns", 3, 1296),  # 12 steps of degree 1: two products each
    ("minimax-ns[steps=3,degree=2]", 3, 486), ("minimax-ns[steps=5,degree=3]", 6, 8640),
    ("learned-ns", 3, 1080),  # 10 steps of two products
    ("learned-ns[steps=4,degree=2]", 6, 5184),
    ("mlp-2fc", 3, 2592), ("mlp-2fc[hidden=10]", 3, 360), ("mlp-2fc[hidden=7,recipe=none]", 6, 1008),
    ("mlp-3fc", 3, 12960), ("mlp-3fc[hidden=10]", 3, 560), ("mlp-3fc[hidden=7,recipe=none]", 6, 1106),
    # cofactors: 1 / a; 2x2: a d - b c (3), 1 / det, 4 scalings; 3x3: 9 cofactors (27), det (5), 1 / det, 9
    # scalings; 4x4: 12 2x2 minors (36), det from 6 products (11), 16 cofactors of 3 products (80), 1 / det, 16
    ("closed-form", 1, 1), ("closed-form", 2, 8), ("closed-form[backend=torch,device=cpu]", 3, 42),
    ("closed-form", 4, 144),
]


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_solver_states_its_formula_and_source(name):
    cls = SOLVERS.get(name)
    for attr in ("flops_formula", "flops_source"):
        assert isinstance(getattr(cls, attr), str) and getattr(cls, attr).strip(), f"{name} has no {attr}"
    assert "n" in cls.flops_formula, f"{name}: a formula in n, e.g. '2 n^3'"


@pytest.mark.parametrize(("spec", "n", "flops"), EXPECTED, ids=[f"{s}-n{n}" for s, n, _ in EXPECTED])
def test_solver_flops_equal_the_hand_count(spec, n, flops):
    assert SOLVERS.build(spec).flops(n) == pytest.approx(flops, rel=1e-12, abs=0)


def test_the_lapack_constants_are_lawn_41s():
    # leading terms, additions plus multiplications, square case (LAWN 41's operation-count table)
    F = Fraction
    assert ROUTINES == {"getrf": F(2, 3), "getri": F(4, 3), "getrs": 2, "potrf": F(1, 3), "potri": F(2, 3),
                        "geqrf": F(4, 3), "orgqr": F(4, 3), "trsm": 1, "gemm": 2}
    assert routines("getrf", "getri") == 2
    assert routines("geqrf", "orgqr", "trsm") == pytest.approx(11 / 3)


def test_the_networks_count_is_defined_once():
    assert mlp_flops is mlp_count  # training and the mlp solvers use the vocabulary's count
    assert mlp_count(2, 8, 2) == 2 * (4 * 8 + 8 * 4)
    assert mlp_count(3, 5, 4) == 2 * (9 * 5 + 5 * 5 + 5 * 5 + 5 * 9)
