"""Named suites: which solvers run on which datasets by default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    description: str
    solvers: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: int = 1


DIRECT = ("lu", "numpy-inv", "cholesky", "qr", "gauss-jordan", "gauss-jordan[backend=torch]", "torch-inv")
# matmul-only methods; those that start from inv(A0) skip datasets without a base matrix
MATMUL_ONLY = ("linear-approx", "neumann[order=2]", "newton-schulz[init=base,steps=3]", "newton-schulz")

SUITES: dict[str, Suite] = {
    "quick": Suite(
        "direct and matmul-only solvers on the paper's four boxes and a spread of conditioning; minutes on 2 CPU cores",
        DIRECT + MATMUL_ONLY,
        (
            "paper-2x2-1st", "paper-2x2-2nd", "paper-3x3", "paper-16x16",
            "uniform[n=4]", "spd[n=32,cond=1e3]", "randsvd[n=64,cond=1e8]",
            "near-singular[n=16,sigma_min=1e-10]", "pascal[n=12]", "hilbert[n=10]",
        ),
    ),
    "conditioning": Suite(
        "direct solvers against kappa from 1e2 to 1e14 (randsvd, n = 32)",
        DIRECT,
        tuple(f"randsvd[n=32,cond=1e{k}]" for k in (2, 4, 6, 8, 10, 12, 14)),
    ),
}
