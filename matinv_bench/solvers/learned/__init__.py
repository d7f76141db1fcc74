"""The learned part of the solvers: network architecture (:mod:`.architecture`), training
recipes (:mod:`.training`) and the cache of trained weights (:mod:`.cache`). The solvers that
use them (``mlp-2fc``, ``mlp-3fc``) live in :mod:`matinv_bench.solvers.mlp`."""
