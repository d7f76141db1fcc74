"""Named suites: which solvers run on which datasets by default.

A suite is one or more grids, each every solver of its list on every dataset of its list, so
that networks and the methods that start from inv(A0) run on the paper's boxes while the
classical solvers also run on classic test matrices.

``quick``, the default of ``matinv-bench run``, asks the paper's question in about a minute on
2 CPU cores: on the paper's small boxes (the authors' released test sets where ``../shared/paper-data``
holds them, see :func:`matinv_bench.experiments.run.Run.cells`) the 2-FC and 3-FC networks,
trained with the ``demo`` recipe, against the linear approximation, the matmul-only series and
the classical solvers; then the classical solvers alone on a handful of classic matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

from matinv_bench.datasets import DATASETS
from matinv_bench.specs import parse_spec


@dataclass(frozen=True)
class Grid:
    """Every solver on every dataset."""

    solvers: tuple[str, ...]
    datasets: tuple[str, ...]


@dataclass(frozen=True)
class Suite:
    description: str
    grids: tuple[Grid, ...]
    seeds: int = 1
    threads: int | None = None  # threads per cell (None: every usable core)

    @property
    def solvers(self) -> tuple[str, ...]:
        """Every solver of the suite, in the order its grids list them."""
        return tuple(dict.fromkeys(s for g in self.grids for s in g.solvers))

    @property
    def datasets(self) -> tuple[str, ...]:
        """Every dataset of the suite, in the order its grids list them."""
        return tuple(dict.fromkeys(d for g in self.grids for d in g.datasets))

    def replaced(self, solvers: list[str] | None = None, datasets: list[str] | None = None) -> list[Grid]:
        """The grids of a run that replaces the suite's solvers or datasets (neither: the suite's own
        grids): both given, one grid of
        them; solvers alone, those on every dataset of the suite; datasets alone, each with the
        solvers of the first grid that lists a dataset of its family (boxes with the networks,
        classic matrices with the classical solvers; the last grid's solvers when none does)."""
        if not solvers and not datasets:
            return list(self.grids)
        if solvers:
            return [Grid(tuple(solvers), tuple(datasets or self.datasets))]
        grids: dict[int, list[str]] = {}
        for d in datasets:
            family = dataset_family(d)
            i = next((i for i, g in enumerate(self.grids) if family in map(dataset_family, g.datasets)),
                     len(self.grids) - 1)
            grids.setdefault(i, []).append(d)
        return [Grid(self.grids[i].solvers, tuple(ds)) for i, ds in sorted(grids.items())]


def dataset_family(spec: str) -> str:
    """The family of a dataset spec (``box``, ``synthetic``, ``structured``, ``file``, ...)."""
    return DATASETS.get(parse_spec(spec, DATASETS.prefixes)[0]).family


DIRECT = ("lu", "numpy-inv", "cholesky", "qr", "gauss-jordan", "gauss-jordan[backend=torch]", "torch-inv")

# the paper's small boxes: the 2-FC and 3-FC train on them within the demo run's minute
PAPER_SMALL_BOXES = ("paper-2x2-1st", "paper-2x2-2nd", "paper-3x3")
DEMO_NETWORKS = ("mlp-2fc[recipe=demo]", "mlp-3fc[recipe=demo]")
# matmul-only methods: those that start from inv(A0), and the minimax iteration, which needs no A0
DEMO_MATMUL_ONLY = ("linear-approx", "neumann[order=2]", "newton-schulz[init=base,steps=2]", "minimax-ns")
DEMO_CLASSICAL = ("lu", "torch-inv", "closed-form")
CLASSIC_MATRICES = ("hilbert[n=10]", "pascal[n=12]", "randsvd[n=64,cond=1e8]", "near-singular[n=16,sigma_min=1e-10]",
                    "spd[n=32,cond=1e3]")

SUITES: dict[str, Suite] = {
    "quick": Suite(
        "the paper's question in a minute on 2 CPU cores: 2-FC and 3-FC networks (demo recipe) against the linear "
        "approximation, matmul-only series, LU, torch.inverse and closed-form on the paper's small boxes (the "
        "authors' test sets where ../shared/paper-data holds them); the classical solvers on classic matrices",
        (
            Grid(DEMO_NETWORKS + DEMO_MATMUL_ONLY + DEMO_CLASSICAL, PAPER_SMALL_BOXES),
            Grid(("lu", "torch-inv", "cholesky", "qr"), CLASSIC_MATRICES),
        ),
        # one thread per cell: a call on matrices this small gains nothing from a second thread,
        # and on a busy machine its barrier waits for the scheduler (as training's small steps do)
        threads=1,
    ),
    "conditioning": Suite(
        "direct solvers against kappa from 1e2 to 1e14 (randsvd, n = 32)",
        (Grid(DIRECT, tuple(f"randsvd[n=32,cond=1e{k}]" for k in (2, 4, 6, 8, 10, 12, 14))),),
    ),
}
