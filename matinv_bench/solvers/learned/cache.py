"""The cache of trained weights.

Trained weights are cached under the user cache directory (``platformdirs``; override with
``MATINV_BENCH_CACHE``), keyed by a hash of the training data (a fingerprint of the seeded train
stream, the base matrix and eps), the architecture, the recipe, the seed and the package
version. A cached model is loaded instead of retrained unless ``MATINV_BENCH_RETRAIN=1`` (the
CLI's ``--retrain``), so a killed run that is started again never retrains what it finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from matinv_bench import __version__
from matinv_bench.datasets.base import split_rng

CACHE_ENV = "MATINV_BENCH_CACHE"
RETRAIN_ENV = "MATINV_BENCH_RETRAIN"


def cache_dir() -> Path:
    """Where trained weights live: ``$MATINV_BENCH_CACHE`` or the user cache dir."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("matinv-bench")) / "models"


def _sha(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def _recipe_fields(recipe) -> dict:
    """The recipe's fields for the cache key; fields added later are left out at their defaults,
    so that models trained before they existed keep their keys."""
    later = {"target": "inverse", "fresh_each_epoch": False, "curve_every": 0, "curve_matrices": 0}
    return {k: v for k, v in asdict(recipe).items() if k not in later or later[k] != v}


def cache_key(architecture: dict, seed: int, data, recipe, drawn_on_device: bool = False) -> tuple[str, dict]:
    """The hash that names a trained model, and the fields it hashes.

    The dataset enters as a fingerprint of its seeded train stream (the first matrices it
    draws), its base matrix and eps: two specs with the same training distribution (a paper
    box and the authors' released folder of it) share a model; any change in the data does not.
    A model whose training sets were drawn on its device (other numbers from the same
    distribution, see :func:`.draws.training_set`) has a key of its own.
    """
    probe = data.source.sample_train(split_rng(data.seed, "train"), 8).A
    base = np.zeros(0) if data.base is None else np.asarray(data.base)
    fields = {
        "train_data": _sha(probe, base, np.array([data.eps or 0.0])),
        "n": data.n,
        "architecture": architecture,
        "recipe": _recipe_fields(recipe),
        "seed": seed,
        "package_version": __version__,
        **({"draws": "device"} if drawn_on_device else {}),  # absent for host draws: older keys hold
    }
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]
    return key, fields


@contextmanager
def retraining(enabled: bool = True) -> Iterator[None]:
    """Within the block, train even when a cached model exists (the CLI's ``--retrain``)."""
    old = os.environ.get(RETRAIN_ENV)
    if enabled:
        os.environ[RETRAIN_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(RETRAIN_ENV, None)
        else:
            os.environ[RETRAIN_ENV] = old


def retrain_requested() -> bool:
    return os.environ.get(RETRAIN_ENV, "") not in ("", "0")


def load(key: str, model: nn.Module) -> dict | None:
    """Load the cached weights named ``key`` into ``model`` and return their training info, or
    None when there are none (or ``--retrain`` asks to train again)."""
    path = cache_dir() / f"{key}.pt"
    if not path.is_file() or retrain_requested():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(payload["state_dict"])
    return dict(payload["info"])


def save(key: str, model: nn.Module, info: dict, fields: dict, trained_on: str) -> None:
    """Store ``model``'s weights under ``key``, atomically (a killed run leaves no half file)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "info": info, "fields": fields, "trained_on": trained_on}
    path = cache_dir() / f"{key}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
