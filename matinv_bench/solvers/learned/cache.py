"""The cache of trained weights, and the provenance of what it holds.

Trained weights are cached under the user cache directory (``platformdirs``; override with
``MATINV_BENCH_CACHE``), keyed by a hash (:func:`cache_key`) of the training data (a fingerprint
of the seeded train stream, the base matrix and eps), the architecture, the recipe, the seed, the
package version and the training code (:func:`training_fingerprint`). A cached model is loaded
instead of retrained unless ``MATINV_BENCH_RETRAIN=1`` (the CLI's ``--retrain``), so a killed run
that is started again never retrains what it finished; a change to the training code gives every
network a new key, so it is trained again. Each entry's training info records the commit it was
trained at (``train_commit``) and the training fingerprint (``train_fingerprint``), which the
rows of its solver then carry.
"""

from __future__ import annotations

import functools
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
from matinv_bench.system import git_sha

CACHE_ENV = "MATINV_BENCH_CACHE"
RETRAIN_ENV = "MATINV_BENCH_RETRAIN"

# The source files, relative to the package, of the code that builds and trains a network: the
# learned solvers, their training, and the training draws (the train stream; the box datasets).
# The numbers every dataset draws enter the key too (its train_data probe).
TRAINING_SOURCES = ("solvers/learned/*.py", "solvers/mlp.py", "solvers/learned_ns.py", "solvers/_torch.py",
                    "solvers/_hyperpower.py", "datasets/base.py", "datasets/boxes.py")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the matinv_bench folder this module runs from


def sources_fingerprint(root: Path, patterns: tuple[str, ...]) -> str:
    """A hash of the files under ``root`` that match ``patterns`` (glob patterns relative to it):
    their paths and bytes, in sorted order. FileNotFoundError for a pattern that matches nothing."""
    h = hashlib.sha256()
    for pattern in patterns:
        paths = sorted(root.glob(pattern))
        if not paths:
            raise FileNotFoundError(f"no training source matches {pattern!r} under {str(root)!r}")
        for path in paths:
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@functools.cache
def training_fingerprint() -> str:
    """The fingerprint of the training code (:data:`TRAINING_SOURCES`, as installed: the package
    files this process runs), computed once per process."""
    return sources_fingerprint(PACKAGE_ROOT, TRAINING_SOURCES)


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


def cache_key(architecture: dict, seed: int, data, recipe, drawn_on_device: bool = False) -> tuple[str, dict]:
    """The hash that names a trained model, and the fields it hashes.

    The dataset enters as a fingerprint of its seeded train stream (the first matrices it
    draws), its base matrix and eps: two specs with the same training distribution (a paper
    box and the authors' released folder of it) share a model; any change in the data does not.
    A model whose training sets were drawn on its device (other numbers from the same
    distribution, see :func:`.draws.training_set`) has a key of its own, and so has a model
    trained by other training code (:func:`training_fingerprint`).
    """
    probe = data.source.sample_train(split_rng(data.seed, "train"), 8).A
    base = np.zeros(0) if data.base is None else np.asarray(data.base)
    fields = {
        "train_data": _sha(probe, base, np.array([data.eps or 0.0])),
        "n": data.n,
        "architecture": architecture,
        "recipe": asdict(recipe),
        "seed": seed,
        "package_version": __version__,
        "train_fingerprint": training_fingerprint(),
        "draws": "device" if drawn_on_device else "host",
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


def is_current(key: str) -> bool:
    """Whether the cached model named ``key`` was trained under the current training code (the
    fingerprint in its key fields is :func:`training_fingerprint`); False when there is none.
    Always true of a model found under a key :func:`cache_key` gives now, which holds the
    fingerprint: this tells it of a key recorded earlier (a row's ``cache_key``)."""
    path = cache_dir() / f"{key}.pt"
    if not path.is_file():
        return False
    payload = torch.load(path, map_location="cpu", weights_only=True)
    return payload["fields"].get("train_fingerprint") == training_fingerprint()


def save(key: str, model: nn.Module, info: dict, fields: dict, trained_on: str) -> dict:
    """Store ``model``'s weights under ``key``, atomically (a killed run leaves no half file),
    with ``info`` and the provenance of the training: ``train_commit`` (the package's git
    commit, ``+dirty`` if its tree had changes, '' for an installed copy: see
    :func:`matinv_bench.system.git_sha`) and ``train_fingerprint``. Returns the info stored."""
    info = {**info, "train_commit": git_sha(), "train_fingerprint": fields["train_fingerprint"]}
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
    return info
