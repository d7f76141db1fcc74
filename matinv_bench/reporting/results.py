"""Tidy result rows: the schema, the run environment, and atomic writes.

One row per solver x dataset x seed x setting. Files of a run folder:
``results.parquet`` and ``results.csv`` (the same rows) and ``summary.md``. Every write goes
to a temporary file in the same folder and is moved into place with ``os.replace``, so a
reader (or a run killed mid-write) never sees a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

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


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path next to ``path``, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
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


def read_results(folder: Path | str) -> pd.DataFrame:
    """Read a run folder's rows (Parquet, falling back to CSV), checking the schema."""
    folder = Path(folder)
    for name, reader in (("results.parquet", pd.read_parquet), ("results.csv", pd.read_csv)):
        path = folder / name
        if path.is_file():
            df = reader(path)
            missing = [c for c in COLUMNS if c not in df.columns]
            if missing:
                raise ValueError(f"{path}: not a matinv-bench results file (missing columns: {', '.join(missing)})")
            return df
    raise FileNotFoundError(f"no results.parquet or results.csv in {str(folder)!r}")


SUMMARY_COLUMNS = ["solver", "dataset", "status", "mae", "rel_fro_err", "residual_ratio",
                   "failure_rate", "time_per_matrix_s", "reason"]


def summary_table(df: pd.DataFrame, fmt: str = "github") -> str:
    """The human-readable table of a run: one line per row, the key metrics, 3 significant digits."""
    cols = [c for c in SUMMARY_COLUMNS if c in df]
    if "seed" in df and df["seed"].nunique() > 1:
        cols.insert(2, "seed")
    if "host" in df and df["host"].nunique() > 1:  # timings from different machines are labelled
        cols.insert(2, "host")
    view = df[cols].copy()
    if "reason" in view:
        view["reason"] = view["reason"].fillna("").astype(str).str.slice(0, 60)
    return view.to_markdown(index=False, tablefmt=fmt, floatfmt=".3g", missingval="")


def summary_header(df: pd.DataFrame, title: str, command: str) -> list[str]:
    """The opening lines of a ``summary.md``: title, command, package and git, host(s) and BLAS."""
    env = {c: df[c].dropna().iloc[0] for c in df.columns if df[c].notna().any()}  # rows lost with a worker have none
    return [
        f"# {title}",
        "",
        f"Made by: `{command}`",
        "",
        f"- package {env.get('package_version', '')} at git {env.get('git_sha', '') or 'unknown'}; "
        f"torch {env.get('torch_version', '')}, numpy {env.get('numpy_version', '')}",
        f"- host {env.get('host', '')}: {env.get('cpu', '')}; {env.get('threads', '')} threads; "
        f"BLAS {env.get('blas', '')}"
        if "host" not in df or df["host"].nunique() <= 1 else
        "- hosts (each row's `host`, `cpu`, `cores` and `worker` say where it ran): "
        + "; ".join(f"{h}: {c}" for h, c in df[["host", "cpu"]].drop_duplicates().itertuples(index=False)),
    ]


def write_summary(df: pd.DataFrame, folder: Path, title: str, command: str) -> None:
    """``summary.md``: the command that made the run, where it ran, and the table."""
    lines = [
        *summary_header(df, title, command),
        f"- {len(df)} rows: " + ", ".join(f"{(df['status'] == s).sum()} {s}" for s in STATUSES),
        "",
        "Errors are against trustworthy references (column `ref_method`); times are the median per",
        "matrix over repeated batched calls after warm-up (IQR in `time_iqr_s`).",
        "",
        summary_table(df),
        "",
    ]
    write_text(folder / "summary.md", "\n".join(lines))
