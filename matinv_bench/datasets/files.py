"""Matrices from files: ``npy:PATH`` (a (N, n, n) stack) and ``paper-dir:PATH``.

``paper-dir`` reads the format the paper's authors released: a folder with ``base_matrix.npy``
(n, n) and ``test_set.npy`` (N, n, n, 2), where ``[..., 0]`` is the normalised perturbation T
and ``[..., 1]`` the authors' float64 inverse, with A = base + 0.01 * T. The authors' inverse
is kept in ``meta["authors_inv"]``; scores use our own reference. Its training split is drawn
from the same box. A folder with a base but no test set (the authors' ``matrix_16``) is the box
of radius 0.01 around their base: a seeded distribution, like ``box``, rather than a fixed set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matinv_bench.datasets.base import Dataset, Sample, register
from matinv_bench.datasets.boxes import PAPER_EPS, box_sample
from matinv_bench.errors import DataFileError
from matinv_bench.system import available_memory


def load_npy(path: Path, what: str) -> np.ndarray:
    """Load a .npy file of real numbers as float64, without pickles, with errors that name the file.

    The header is read first, so a malformed file, an unsupported dtype, a header that promises
    more data than the file holds, or an array too large for memory is refused before any
    allocation.
    """
    if path.is_dir():
        raise DataFileError(f"{what}: {str(path)!r} is a folder; expected a .npy file")
    if not path.is_file():
        raise DataFileError(f"{what}: no such file {str(path)!r}")
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, _fortran, dtype = read_header(fh)
            data_bytes = path.stat().st_size - fh.tell()
    except Exception as exc:  # numpy's header parser raises ValueError, SyntaxError, tokenize errors, ...
        raise DataFileError(f"{what}: cannot read {str(path)!r} as .npy ({type(exc).__name__}: {exc})") from None
    if dtype.kind not in "fiu":
        raise DataFileError(f"{what}: {str(path)!r} holds dtype {dtype}, expected real numbers")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > data_bytes:
        raise DataFileError(f"{what}: {str(path)!r} is truncated: its header promises shape {shape} "
                            f"({nbytes} bytes) but the file holds {data_bytes} bytes of data")
    if 2 * nbytes > available_memory():  # the array and its float64 copy
        raise DataFileError(f"{what}: {str(path)!r} holds {nbytes / 2**30:.1f} GiB, more than this machine's "
                            f"available memory ({available_memory() / 2**30:.1f} GiB)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFileError(f"{what}: cannot read {str(path)!r} as .npy ({exc})") from None
    if not np.isfinite(arr).all():
        raise DataFileError(f"{what}: {str(path)!r} contains NaN or Inf")
    return arr.astype(np.float64, copy=False)


@register("npy")
class NpyStack(Dataset):
    """A fixed stack of matrices from a .npy file of shape (N, n, n) (or one (n, n) matrix)."""

    family = "file"
    fixed = True

    def __init__(self, path: str):
        if Path(path).expanduser().is_dir():
            hint = (f"; for the authors' released folders use paper-dir:{path}"
                    if (Path(path).expanduser() / "base_matrix.npy").is_file() else "")
            raise DataFileError(f"npy dataset {path!r} is a folder; expected a .npy file holding one (n, n) matrix "
                                f"or an (N, n, n) stack{hint}")
        A = load_npy(Path(path).expanduser(), "npy dataset")
        if A.ndim == 2:
            A = A[None]
        if A.ndim != 3 or A.shape[1] != A.shape[2] or A.shape[0] == 0 or A.shape[1] == 0:
            raise DataFileError(f"npy dataset {path!r}: expected shape (N, n, n) with N, n >= 1, got {A.shape}")
        self.path, self.A, self.n = path, A, A.shape[1]

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        return Sample(self.A.copy())

    def default_size(self) -> int:
        return len(self.A)


@register("paper-dir")
class PaperDir(Dataset):
    """The authors' released data: ``base_matrix.npy`` and ``test_set.npy`` (N, n, n, 2), or a base alone.

    Without ``test_set.npy`` the folder stands for the box ``base + 0.01 * [-1, 1]^{n x n}``
    around the authors' base: test splits are drawn from it with the run's seed.
    """

    family = "box"

    def __init__(self, path: str):
        root = Path(path).expanduser()
        if not root.is_dir():
            raise DataFileError(f"paper-dir: no such folder {str(root)!r}")
        base = load_npy(root / "base_matrix.npy", "paper-dir")
        n = base.shape[0] if base.ndim == 2 else -1
        if base.ndim != 2 or base.shape != (n, n) or n < 1:
            raise DataFileError(f"paper-dir: base_matrix.npy must be square (n, n) with n >= 1, got {base.shape}")
        self.path, self.base, self.eps, self.n = path, base, PAPER_EPS, n
        self.fixed = (root / "test_set.npy").exists()  # a released test set, or only the box around the base
        if self.fixed:
            data = load_npy(root / "test_set.npy", "paper-dir")
            if data.ndim != 4 or data.shape[1:] != (n, n, 2) or data.shape[0] == 0:
                raise DataFileError(f"paper-dir: test_set.npy must have shape (N, {n}, {n}, 2), got {data.shape}")
            self.T, self.authors_inv = data[..., 0], data[..., 1]

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        if not self.fixed:
            return box_sample(self.base, self.eps, rng, size)
        return Sample(self.base[None] + self.eps * self.T, self.T.copy())

    trainable = True

    def sample_train(self, rng: np.random.Generator, size: int) -> Sample:
        return box_sample(self.base, self.eps, rng, size)

    def train_box(self) -> tuple[np.ndarray, float]:
        """(A0, eps): the training split is uniform on ``A0 + eps [-1, 1]^{n x n}``."""
        return self.base, self.eps

    def default_size(self) -> int:
        return len(self.T) if self.fixed else super().default_size()
