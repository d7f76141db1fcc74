"""matinv-bench: classical and neural matrix inversion, measured side by side.

The public entry points are the registries (:mod:`matinv_bench.solvers`,
:mod:`matinv_bench.datasets`), :func:`matinv_bench.engine.runner.run_grid` and the
``matinv-bench`` command line.
"""

__version__ = "0.1.0"
