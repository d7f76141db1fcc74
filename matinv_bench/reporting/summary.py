"""``summary.md``: the Markdown every command writes beside its rows, through one header.

Every summary opens with :func:`header` (title, the ``Made by:`` command, package and commit,
host and BLAS) and is written by :func:`write`; :func:`made_by` reads the command back. The
generic body of a run (one line per row, then the seeds) is :func:`run_body`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from matinv_bench.datasets import paper_box
from matinv_bench.reporting.aggregate import seeds_table
from matinv_bench.reporting.results import STATUSES, write_text
from matinv_bench.system import INSTALLED_DIFFERS

SUMMARY = "summary.md"

SUMMARY_COLUMNS = ["solver", "dataset", "status", "mae", "rel_fro_err", "residual_ratio",
                   "failure_rate", "time_per_matrix_s", "reason"]

# columns that tell the rows of a grid apart; each is shown when it varies (timings from
# different machines are labelled by host)
GRID_COLUMNS = ["host", "dtype", "device", "seed"]

MADE_BY = re.compile(r"^Made by: `(.+)`\s*$", re.MULTILINE)  # the line :func:`header` writes


def summary_table(df: pd.DataFrame, fmt: str = "github", reason_width: int | None = None) -> str:
    """The human-readable table of a run: one line per row, the key metrics, 3 significant digits.

    Besides solver and dataset, each of :data:`GRID_COLUMNS` that varies across the rows is
    shown, so that no two lines look alike. ``reason`` is whole unless ``reason_width`` cuts it
    (ending the cut ones with an ellipsis). ``mae``, the paper's metric, is shown on the paper's
    boxes alone (:func:`~matinv_bench.datasets.paper_box`): elsewhere the inverse's entries may be
    of any size (a Hilbert matrix's reach 1e12) and ``rel_fro_err`` is the error that means
    something."""
    cols = [c for c in SUMMARY_COLUMNS if c in df]
    varying = [c for c in GRID_COLUMNS if c in df and df[c][df[c].astype(str) != ""].nunique() > 1]
    cols[2:2] = varying
    view = df[cols].copy()
    if "mae" in view and "dataset" in view:
        view["mae"] = view["mae"].astype(object).where(view["dataset"].map(paper_box), None)  # None: an empty cell
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


def header(df: pd.DataFrame, title: str, command: str) -> list[str]:
    """The opening lines of every ``summary.md``: title, command, package and git, host(s) and BLAS
    (from the rows; a frame without the environment columns gives title and command only)."""
    lines = [f"# {title}", "", f"Made by: `{command}`", ""]
    if "package_version" not in df and "host" not in df:
        return lines
    env = {c: df[c].dropna().iloc[0] for c in df.columns if df[c].notna().any()}  # rows lost with a worker have none
    hosts = df[["host", "cpu"]].drop_duplicates() if {"host", "cpu"} <= set(df.columns) else pd.DataFrame()
    return lines + [
        f"- {version_line(env)}; torch {env.get('torch_version', '')}, numpy {env.get('numpy_version', '')}",
        f"- host {env.get('host', '')}: {env.get('cpu', '')}; {env.get('threads', '')} threads; "
        f"BLAS {env.get('blas', '')}"
        if len(hosts) <= 1 else
        "- hosts (each row's `host`, `cpu`, `cores` and `worker` say where it ran): "
        + "; ".join(f"{h}: {c}" for h, c in hosts.itertuples(index=False)),
    ]


def write(folder: Path, df: pd.DataFrame, title: str, command: str, body: list[str], name: str = SUMMARY) -> Path:
    """Write ``folder/summary.md`` (or ``folder/name``): :func:`header`, then ``body`` (its lines; start
    it with an empty line to close the header's list); returns the path."""
    path = Path(folder) / name
    write_text(path, "\n".join([*header(df, title, command), *body, ""]))
    return path


def made_by(path: Path) -> str | None:
    """The command on the ``Made by:`` line of a Markdown file, or None if it has none."""
    m = MADE_BY.search(Path(path).read_text())
    return m.group(1) if m else None


def run_body(df: pd.DataFrame) -> list[str]:
    """The body of a plain run's summary: the counts, what the numbers are, one line per row, the seeds."""
    lines = [f"- {len(df)} rows: " + ", ".join(f"{(df['status'] == s).sum()} {s}" for s in STATUSES), "",
             "Errors are against trustworthy references (column `ref_method`): `mae`, the paper's mean absolute",
             "error, on the paper's boxes only; `rel_fro_err`, ||X - inv(A)||_F / ||inv(A)||_F, everywhere (the",
             "results files hold every column for every row). Times are the median per matrix over repeated",
             "batched calls after warm-up (IQR in `time_iqr_s`).", "",
             summary_table(df), ""]
    seeds = seeds_table(df)
    return lines + ([seeds, ""] if seeds else [])
