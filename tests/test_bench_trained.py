"""asv's TrainedAccuracy suite: each network is trained in setup_cache, afresh (into a temporary
model cache, so a commit is never scored with weights another commit trained and cached), and its
track_* values are those of the trained network."""

from __future__ import annotations

import os
from pathlib import Path

from bench import bench_accuracy

DATASET, DTYPE = "paper-2x2-1st", "float64"
TRAINED, UNTRAINED = "mlp-2fc[recipe=tiny]", "mlp-2fc[recipe=none]"


def test_trained_networks_are_trained_afresh_and_tracked(monkeypatch, _model_cache):
    monkeypatch.setattr(bench_accuracy.TrainedAccuracy, "params", ([TRAINED, UNTRAINED], [DATASET], [DTYPE]))
    monkeypatch.setattr(bench_accuracy, "ACCURACY_N_TEST", 32)
    caches = []
    real = bench_accuracy.accuracy_rows

    def spy(*args, **kwargs):
        caches.append(os.environ["MATINV_BENCH_CACHE"])
        return real(*args, **kwargs)

    monkeypatch.setattr(bench_accuracy, "accuracy_rows", spy)
    before = sorted(_model_cache.rglob("*"))
    suite = bench_accuracy.TrainedAccuracy()
    rows = suite.setup_cache()

    assert caches and caches[0] != str(_model_cache) and not Path(caches[0]).exists()  # a temporary cache, removed
    assert os.environ["MATINV_BENCH_CACHE"] == str(_model_cache)
    assert sorted(_model_cache.rglob("*")) == before  # nothing trained into (or read from) the usual cache
    assert rows[(TRAINED, DATASET, DTYPE)]["train_recipe"] == "tiny"
    assert rows[(TRAINED, DATASET, DTYPE)]["train_steps"] > 0
    mae = {}
    for spec in (TRAINED, UNTRAINED):
        suite.setup(rows, spec, DATASET, DTYPE)
        mae[spec] = suite.track_mae(rows, spec, DATASET, DTYPE)
    assert mae[TRAINED] < mae[UNTRAINED] / 10, mae
