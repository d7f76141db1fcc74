"""Literal name lists for the asv suites.

asv runs *today's* bench/ against *old* commits, so the suites cannot ask the registry what
to run: a solver registered today would vanish from the parameter grid of an old commit and
its history would break. The names are written out here instead; a spec an old commit does
not know is skipped there (NotImplementedError), and ``tests/test_bench_names.py`` checks
these lists against today's registries, so a new solver cannot be forgotten.

Adding a solver to the tracking is one line: append its spec to the right tuple below.
"""

DIRECT = ("lu", "numpy-inv", "cholesky", "qr", "gauss-jordan", "gauss-jordan[backend=torch]", "torch-inv")
# matmul-only approximations around the dataset's base matrix A0 (skipped on sets without one)
APPROXIMATION = ("linear-approx", "neumann[order=3]", "newton-schulz[init=base,steps=2]", "newton-schulz[init=scaled]",
                 "minimax-ns[steps=16]", "learned-ns[steps=16]")
# trained networks, fitted once per asv run in setup_cache through the package's model cache,
# e.g. "mlp-2fc[recipe=quick]" (issue 3)
TRAINED: tuple[str, ...] = ()
# networks with their seeded initial weights: inference time and memory do not depend on training
UNTRAINED = ("mlp-2fc[recipe=none]", "mlp-3fc[recipe=none]")

DTYPES = ("float64", "float32")
SEED = 0
THREADS = 1  # one BLAS / torch thread: comparable across machines and quiet on shared ones

# time_*: one batched invert() of TIME_BATCH well-conditioned matrices per call
TIME_SOLVERS = DIRECT + APPROXIMATION
TIME_N = (4, 32, 128)
TIME_BATCH = 64
# a symmetric box around a well-conditioned SPD base: every solver applies (Cholesky, and the
# approximations need the base matrix); a commit without spd-box skips these (NotImplementedError)
TIME_DATASET = "spd-box[n={n}]"

# time_* for networks: inference at the paper's sizes (width 8 n^2: 32, 72 and 2048)
MLP_SOLVERS = UNTRAINED + TRAINED
MLP_DATASETS = ("paper-2x2-1st", "paper-3x3", "paper-16x16")
MLP_BATCH = 256

# track_*: accuracy per solver x dataset x dtype on fixed seeds
ACCURACY_SOLVERS = DIRECT + APPROXIMATION + TRAINED
ACCURACY_DATASETS = (
    "paper-2x2-1st", "paper-2x2-2nd", "paper-3x3", "paper-16x16",
    "spd[n=32,cond=1e3]", "randsvd[n=64,cond=1e8]", "near-singular[n=16,sigma_min=1e-10]",
    "pascal[n=12]", "hilbert[n=10]",
)
ACCURACY_N_TEST = 64

# peakmem_*: a 2-FC network of the paper's width 8 n^2 holds 2 * 8 n^4 weights
MEMORY_N = (4, 8, 16, 32)
MEMORY_BATCH = 256
