"""The learned part of the solvers: network architecture (:mod:`.architecture`), what training
needs of a network (:mod:`.trainee`), training recipes (:mod:`.recipes`), training sets
(:mod:`.draws`), the scaled coordinates of training (:mod:`.standardization`), training curves
(:mod:`.curve`), stacks of networks (:mod:`.stacked`), the training loop (:mod:`.training`), the
cache of trained weights and its provenance (:mod:`.cache`) and fixed weights (:mod:`.fixed`). The
solvers that use them (``mlp-2fc``, ``mlp-3fc``) live in :mod:`matinv_bench.solvers.mlp`."""
