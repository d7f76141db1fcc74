"""Tidy result rows: the schema, the output folder, and atomic writes.

One row per solver x dataset x seed x setting. The rows of a run folder are ``results.parquet``
and ``results.csv`` (the same rows); the Markdown written beside them is
:mod:`matinv_bench.reporting.summary`'s. Every write goes to a temporary file in the same folder
and is moved into place with ``os.replace``, so a reader (or a run killed mid-write) never sees a
half-written file.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from matinv_bench.errors import DataFileError

STATUSES = ("ok", "skipped", "failed")

# The columns every row has, in this order (DESIGN.md, "Results"); extra columns may follow.
COLUMNS = [
    "solver", "family", "params", "dataset", "n", "dtype", "device", "seed", "n_matrices",
    "status", "reason", "mae", "max_abs_err", "rel_fro_err", "rel_err_over_kappa_u",
    "residual_ratio", "residual_ratio_right", "failure_rate", "time_per_matrix_s", "time_iqr_s",
    "fit_time_s", "flops_per_matrix", "gflops", "kappa_median", "kappa_max", "sigma_min_min",
    "theta", "ref_method", "threads", "blas", "torch_version", "numpy_version",
    "package_version", "git_sha", "host", "cpu", "timestamp",
]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with the schema's columns first (missing ones filled with NA)."""
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df:
            df[col] = pd.NA
    extra = [c for c in df.columns if c not in COLUMNS]
    return df[COLUMNS + extra]


def check_out_dir(path: Path | str) -> Path:
    """Check, creating nothing, that ``path`` is or can become a folder to write in: no file in
    the way (``path`` itself or a parent), and write permission where it would be created.
    :class:`DataFileError` with a one-line reason if not; returns ``path`` as a Path."""
    path = Path(path)
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        where = "" if blocker == path else f" in the way of {str(path)!r}"
        raise DataFileError(f"output folder {str(blocker)!r}{where} is a file, not a folder")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataFileError(f"cannot write in the output folder {str(path)!r}: permission denied in {str(existing)!r}")
    return path


def prepare_out_dir(path: Path | str) -> Path:
    """Create the output folder ``path`` (and its parents) if needed and check that files can be
    written in it; :class:`DataFileError` with a one-line reason if not (a file in the way, a
    parent that is a file, no permission, a read-only file system). Returns ``path`` as a Path."""
    path = check_out_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # writable? (try it: root passes every permission check)
            pass
    except OSError as exc:  # PermissionError, a read-only file system, a full disk, ...
        raise DataFileError(f"cannot write in the output folder {str(path)!r}: {exc.strerror or exc}") from None
    return path


def _new_temporary(path: Path) -> Path:
    """Create an empty temporary file next to ``path`` with the mode any new file gets here
    (0666 less the umask, unlike ``tempfile.mkstemp``'s 0600), and return its name."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path next to ``path``, then move it into place.
    The file gets the usual mode of a new file (0644 under the common umask 022)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(path)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_tables(df: pd.DataFrame, folder: Path) -> None:
    """Write ``results.parquet`` and ``results.csv`` atomically."""
    atomic_write(folder / "results.parquet", lambda tmp: df.to_parquet(tmp, index=False))
    atomic_write(folder / "results.csv", lambda tmp: df.to_csv(tmp, index=False))


TABLES = ("results.parquet", "results.csv")  # a run folder's rows, in the order they are read


def has_results(folder: Path | str) -> bool:
    """Whether a run folder holds a results table (:data:`TABLES`)."""
    return any((Path(folder) / name).is_file() for name in TABLES)


def read_results(folder: Path | str) -> pd.DataFrame:
    """Read a run folder's rows (Parquet, falling back to CSV), checking the schema."""
    folder = Path(folder)
    for name, reader in zip(TABLES, (pd.read_parquet, pd.read_csv), strict=True):
        path = folder / name
        if path.is_file():
            df = reader(path)
            missing = [c for c in COLUMNS if c not in df.columns]
            if missing:
                raise ValueError(f"{path}: not a matinv-bench results file (missing columns: {', '.join(missing)})")
            return df
    raise FileNotFoundError(f"no results.parquet or results.csv in {str(folder)!r}")
