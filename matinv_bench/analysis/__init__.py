"""Analyses of what solvers compute: ReLU activation regions and LP/MILP deviation bounds
(:mod:`.regions`), and moments of the error near singular matrices (:mod:`.moments`).

Pure computation, no I/O: the experiments in :mod:`matinv_bench.experiments` write the results.
"""
