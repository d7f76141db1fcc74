"""What the asv suites run: the registered solvers, read from today's source files, and the
datasets, sizes and batches, written out.

asv runs *today's* bench/ against *old* commits, and asv_runner takes a benchmark's parameters
from the module as it imports it, with the parameter index fixed at discovery: the lists must come
out the same whichever commit's package is installed. So they are not asked of the installed
registry. :func:`registered_solvers` reads the ``@register("name")`` classes and their ``family``
from the package's source next to this folder (``../matinv_bench/solvers/**/*.py``, with
``ast``: nothing is imported), and from the plugin files and entry-point modules that
``MATINV_BENCH_PLUGINS`` and the installed distributions name. A new solver file therefore joins
the suites with no other edit; on a commit that does not know a name, building it raises
``SpecError``, which the suites turn into ``NotImplementedError``: asv records "skipped" there.

Each solver is tracked as its name (its default parameters), unless :data:`TRACKED_AS` gives
other specs for it; a learned one as ``name[recipe=quick]`` (trained) and ``name[recipe=none]``
(its seeded initial weights). The lists are sorted by name within a family, the plugins' after the
package's. ``tests/test_bench_names.py`` checks them against the registries of today's package.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from importlib.metadata import entry_points
from pathlib import Path

SOLVER_SOURCES = Path(__file__).resolve().parent.parent / "matinv_bench" / "solvers"
# matinv_bench.plugins.ENV and the solver registry's entry-point group, written out: bench/ must
# not import the installed package to learn them (tests/test_bench_names.py checks they agree)
PLUGINS_ENV = "MATINV_BENCH_PLUGINS"
PLUGIN_GROUP = "matinv_bench.solvers"

# how a solver is tracked where its name alone (its defaults) is not what to track
TRACKED_AS = {
    "gauss-jordan": ("gauss-jordan", "gauss-jordan[backend=torch]", "gauss-jordan[block=64]"),
    "learned-ns": ("learned-ns[steps=16]",),
    "minimax-ns": ("minimax-ns[steps=16]",),
    "neumann": ("neumann[order=3]",),
    "newton-schulz": ("newton-schulz[init=base,steps=2]", "newton-schulz[init=scaled]"),
}


def _name(node: ast.expr) -> str | None:
    """``x`` for ``x`` and ``a.b.x``: how a base class or a decorator is named."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _family(body: list[ast.stmt]) -> str | None:
    """The string a class body assigns to ``family`` (``family = "x"`` or ``family: T = "x"``)."""
    for stmt in body:
        targets = (
            stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        )
        value = getattr(stmt, "value", None)
        if (
            any(_name(t) == "family" for t in targets)
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            return value.value
    return None


def _read(paths: list[Path]) -> tuple[dict[str, str], dict[str, tuple[list[str], str | None]]]:
    """(registered name -> class name, class name -> (base names, family set in its body))."""
    registered, classes = {}, {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            classes.setdefault(node.name, ([_name(b) for b in node.bases], _family(node.body)))
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call) and _name(dec.func) == "register" and dec.args
                        and isinstance(dec.args[0], ast.Constant) and isinstance(dec.args[0].value, str)):
                    registered[dec.args[0].value] = node.name
    return registered, classes


def _resolve(cls: str, classes: dict[str, tuple[list[str], str | None]]) -> str | None:
    """A class's family: its own, else the first base's that has one (depth first, left to right)."""
    bases, family = classes.get(cls, ([], None))
    return family or next((f for f in (_resolve(b, classes) for b in bases if b in classes) if f), None)


def plugin_sources() -> list[Path]:
    """The plugin files of ``MATINV_BENCH_PLUGINS`` and the source files of the solver entry points'
    modules (found, not imported; one that cannot be found is left out, as the registry leaves out a
    plugin it cannot import)."""
    files = [Path(p) for p in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if p.strip()]
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            spec = importlib.util.find_spec(ep.module)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            files.append(Path(spec.origin))
    return [p for p in dict.fromkeys(files) if p.is_file()]


def registered_solvers(package: Path = SOLVER_SOURCES, plugins: list[Path] | None = None) -> dict[str, dict[str, str]]:
    """``{"package": {name: family}, "plugins": {name: family}}``, each sorted by name: the solvers
    registered in the package's source files under ``package`` and in the plugin files (default:
    :func:`plugin_sources`), read with ``ast``; a plugin's name that the package has is left out.
    Raises RuntimeError if the source is missing or a registered class has no family."""
    files = sorted(package.rglob("*.py"))
    if not files:
        raise RuntimeError(f"bench/names.py reads the solvers from {package}, which holds no Python file")
    own, classes = _read(files)
    theirs, plugin_classes = _read(plugin_sources() if plugins is None else plugins)
    classes = {**plugin_classes, **classes}
    out = {}
    for group, names in (("package", own), ("plugins", {k: v for k, v in theirs.items() if k not in own})):
        out[group] = {name: _resolve(cls, classes) for name, cls in sorted(names.items())}
        unknown = [name for name, family in out[group].items() if family is None]
        if unknown:
            raise RuntimeError(
                f"bench/names.py: no family found for the solvers {unknown} (set family = ... on the class)"
            )
    return out


def tracked(families: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """The specs to track, by list: ``direct``, ``approximation`` (approximation and iterative
    families), ``trained`` and ``untrained`` (learned)."""
    def specs(keep: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(s for name, f in families.items() if f in keep for s in TRACKED_AS.get(name, (name,)))

    learned = [name for name, f in families.items() if f == "learned"]
    return {
        "direct": specs(("direct",)),
        "approximation": specs(("approximation", "iterative")),
        "trained": tuple(f"{n}[recipe=quick]" for n in learned),
        "untrained": tuple(f"{n}[recipe=none]" for n in learned),
    }


REGISTERED = registered_solvers()
_OWN = tracked(REGISTERED["package"])

DIRECT = _OWN["direct"]
# matmul-only approximations around the dataset's base matrix A0 (skipped on sets without one)
# and iterations; cheap specs of them where TRACKED_AS says so
APPROXIMATION = _OWN["approximation"]
# trained networks: their accuracy on TRAINED_DATASETS (the boxes they are trained for); each is
# trained once per asv run and commit, in setup_cache, into a temporary model cache
TRAINED = _OWN["trained"]
TRAINED_DATASETS = ("paper-2x2-1st", "paper-3x3")
# networks with their seeded initial weights: inference time and memory do not depend on training
UNTRAINED = _OWN["untrained"]
# solvers that plugins register, by their names, after the package's (none without plugins)
PLUGIN_LEARNED = tuple(n for n, f in REGISTERED["plugins"].items() if f == "learned")
PLUGIN_OTHERS = tuple(n for n, f in REGISTERED["plugins"].items() if f != "learned")

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

# time_* at large n, one matrix per call (the latency view): where the blocked direct solvers run
# their blocked paths (LAPACK's, and blocked Gauss-Jordan's column-major one)
LARGE_SOLVERS = DIRECT + PLUGIN_OTHERS
LARGE_N = (512, 1024)
LARGE_DTYPE = "float64"

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
MEMORY_SOLVER = "mlp-2fc[recipe=none]"
MEMORY_N = (4, 8, 16, 32)
MEMORY_BATCH = 256
