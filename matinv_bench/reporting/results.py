"""Tidy result rows: the schema, the run environment, and atomic writes.

One row per solver x dataset x seed x setting. Files of a run folder:
``results.parquet`` and ``results.csv`` (the same rows) and ``summary.md``. Every write goes
to a temporary file in the same folder and is moved into place with ``os.replace``, so a
reader (or a run killed mid-write) never sees a half-written file.
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
from matinv_bench.reporting.aggregate import seeds_table
from matinv_bench.system import INSTALLED_DIFFERS

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


# columns that tell the rows of a grid apart; each is shown when it varies (timings from
# different machines are labelled by host)
GRID_COLUMNS = ["host", "dtype", "device", "seed"]


def summary_table(df: pd.DataFrame, fmt: str = "github", reason_width: int | None = None) -> str:
    """The human-readable table of a run: one line per row, the key metrics, 3 significant digits.

    Besides solver and dataset, each of :data:`GRID_COLUMNS` that varies across the rows is
    shown, so that no two lines look alike. ``reason`` is whole unless ``reason_width`` cuts it
    (ending the cut ones with an ellipsis)."""
    cols = [c for c in SUMMARY_COLUMNS if c in df]
    varying = [c for c in GRID_COLUMNS if c in df and df[c][df[c].astype(str) != ""].nunique() > 1]
    cols[2:2] = varying
    view = df[cols].copy()
    if "reason" in view:
        reason = view["reason"].fillna("").astype(str).str.replace(r"\s+", " ", regex=True)
        if fmt == "github":  # a '|' would end the cell
            reason = reason.str.replace("|", "\\|", regex=False)
        if reason_width is not None:
            reason = reason.where(reason.str.len() <= reason_width, reason.str.slice(0, reason_width - 1) + "…")
        view["reason"] = reason
    return view.to_markdown(index=False, tablefmt=fmt, floatfmt=".3g", missingval="")


def version_line(env: dict) -> str:
    """``matinv-bench 0.1.0 (commit 1234abcd)``, or why there is no commit; an installed copy whose
    sources differ from the checkout it ran in says so (see :func:`~matinv_bench.system.run_commit`)."""
    sha = env.get("git_sha", "")
    if not isinstance(sha, str) or not sha:
        commit = "commit unknown: not run from a git checkout of matinv-bench"
    else:
        commit = f"commit {sha}"
        if sha.endswith(INSTALLED_DIFFERS):
            commit += ": the installed package's sources differ from that checkout's"
    return f"matinv-bench {env.get('package_version', '')} ({commit})"


def summary_header(df: pd.DataFrame, title: str, command: str) -> list[str]:
    """The opening lines of a ``summary.md``: title, command, package and git, host(s) and BLAS."""
    env = {c: df[c].dropna().iloc[0] for c in df.columns if df[c].notna().any()}  # rows lost with a worker have none
    return [
        f"# {title}",
        "",
        f"Made by: `{command}`",
        "",
        f"- {version_line(env)}; "
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
    seeds = seeds_table(df)
    if seeds:
        lines += [seeds, ""]
    write_text(folder / "summary.md", "\n".join(lines))
