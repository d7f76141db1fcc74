"""Literal name lists for the asv suites.

asv runs *today's* bench/ against *old* commits, so the suites cannot ask the registry what
to run: a solver registered today would vanish from the parameter grid of an old commit and
its history would break. The names are written out here instead; a spec an old commit does
not know is skipped there (NotImplementedError), and ``tests/test_bench_names.py`` checks
these lists against today's registries, so a new solver cannot be forgotten.

Adding a solver to the tracking is one line: append its spec to the right tuple below.

Solvers that plugins register (files named in ``MATINV_BENCH_PLUGINS``, installed entry points:
docs/extending.md) are the exception: they are not the package's, so they join the lists below
by their registered names, in the environment that loads them (set the variable for ``asv run``;
a commit without plugin support tracks none of them).
"""


def _plugin_solvers() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names of the solvers plugins register here: (learned ones, the others)."""
    try:
        from matinv_bench.solvers import SOLVERS

        names = SOLVERS.from_plugins()
    except (ImportError, AttributeError):  # a commit before plugins
        return (), ()
    learned = tuple(n for n in names if SOLVERS.get(n).family == "learned")
    return learned, tuple(n for n in names if n not in learned)


DIRECT = ("lu", "numpy-inv", "cholesky", "qr", "gauss-jordan", "gauss-jordan[backend=torch]", "torch-inv")
# matmul-only approximations around the dataset's base matrix A0 (skipped on sets without one)
APPROXIMATION = ("linear-approx", "neumann[order=3]", "newton-schulz[init=base,steps=2]", "newton-schulz[init=scaled]",
                 "minimax-ns[steps=16]", "learned-ns[steps=16]")
# trained networks: their accuracy on TRAINED_DATASETS (the boxes they are trained for); each is
# trained once per asv run and commit, in setup_cache, into a temporary model cache
TRAINED = ("mlp-2fc[recipe=quick]", "mlp-3fc[recipe=quick]")
TRAINED_DATASETS = ("paper-2x2-1st", "paper-3x3")
# networks with their seeded initial weights: inference time and memory do not depend on training
UNTRAINED = ("mlp-2fc[recipe=none]", "mlp-3fc[recipe=none]")
PLUGIN_LEARNED, PLUGIN_OTHERS = _plugin_solvers()  # () and () without plugins

DTYPES = ("float64", "float32")
SEED = 0
THREADS = 1  # one BLAS / torch thread: comparable across machines and quiet on shared ones

# time_*: one batched invert() of TIME_BATCH well-conditioned matrices per call
TIME_SOLVERS = DIRECT + APPROXIMATION + PLUGIN_OTHERS
TIME_N = (4, 32, 128)
TIME_BATCH = 64
# a symmetric box around a well-conditioned SPD base: every solver applies (Cholesky, and the
# approximations need the base matrix); a commit without spd-box skips these (NotImplementedError)
TIME_DATASET = "spd-box[n={n}]"

# time_* for networks: inference at the paper's sizes (width 8 n^2: 32, 72 and 2048); trained
# weights take the same time as untrained ones, so TRAINED is not timed again
MLP_SOLVERS = UNTRAINED + PLUGIN_LEARNED
MLP_DATASETS = ("paper-2x2-1st", "paper-3x3", "paper-16x16")
MLP_BATCH = 256

# track_*: accuracy per solver x dataset x dtype on fixed seeds (networks: TRAINED x TRAINED_DATASETS)
ACCURACY_SOLVERS = DIRECT + APPROXIMATION + PLUGIN_OTHERS
TRAINED_ACCURACY_SOLVERS = TRAINED + PLUGIN_LEARNED
ACCURACY_DATASETS = (
    "paper-2x2-1st", "paper-2x2-2nd", "paper-3x3", "paper-16x16",
    "spd[n=32,cond=1e3]", "randsvd[n=64,cond=1e8]", "near-singular[n=16,sigma_min=1e-10]",
    "pascal[n=12]", "hilbert[n=10]",
)
ACCURACY_N_TEST = 64

# peakmem_*: a 2-FC network of the paper's width 8 n^2 holds 2 * 8 n^4 weights
MEMORY_N = (4, 8, 16, 32)
MEMORY_BATCH = 256
