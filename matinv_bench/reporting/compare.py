"""``matinv-bench compare RUN_A RUN_B``: what changed from one run to another, cell by cell.

Cells are matched on :data:`MATCH` (solver, dataset, seed, dtype, device, n); ``ignore`` drops
columns from the match (e.g. ``dtype``, to set a float32 run against a float64 one; the ignored
columns are then shown as ``A -> B``) and ``match`` replaces the list (e.g. to add a tag column
such as ``batch``). Each run must have one row per matched cell.

For every matched cell:

- accuracy: ``mae_ratio`` = B's ``mae`` / A's, ``kappa_u_ratio`` the same for
  ``rel_err_over_kappa_u`` (where both have it), and ``status`` as ``A -> B`` when it changed;
- time: ``time_ratio`` = B's ``time_per_matrix_s`` / A's, and a noise-aware ``time_verdict``,
  one of ``faster``, ``slower``, ``same (noise)``, ``n/a``. The rule (:func:`time_verdict`):

  * both rows hold their timed blocks (``times_per_matrix_s``, a JSON list per row) and the
    blocks are numerous enough that a two-sided Mann-Whitney U test could reach ``alpha``: B is
    slower (faster) when the test's p-value is below ``alpha`` (default 0.01) *and* the medians
    differ by at least ``min_change`` (default 5 %); otherwise ``same (noise)``;
  * otherwise, from the medians and interquartile ranges (``time_iqr_s``): slower (faster) when
    the medians differ by more than both runs' IQRs *and* by at least ``min_change``;
  * ``n/a`` when a run did not time the cell (not ok, or ``--no-timing``).

A cell is an accuracy *regression* when it was ok in A and failed in B, or when B's MAE is more
than ``max_accuracy_ratio`` (default 10) times A's. The command exits with status 1 when there is
at least one, 0 otherwise; a missing or malformed run folder is a one-line
:class:`~matinv_bench.errors.DataFileError` (status 2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import comb
from scipy.stats import mannwhitneyu

from matinv_bench.errors import DataFileError, UserError
from matinv_bench.reporting import results

MATCH = ("solver", "dataset", "seed", "dtype", "device", "n")
VERDICTS = ("faster", "slower", "same (noise)", "n/a")
ALPHA = 0.01
MIN_CHANGE = 0.05
MAX_ACCURACY_RATIO = 10.0

RULE = ("time verdict: two-sided Mann-Whitney U test on the timed blocks (times_per_matrix_s) when both runs kept "
        "enough of them to reach p < alpha, else medians apart by more than both IQRs (time_iqr_s); in both cases "
        "the medians must also differ by at least the minimum change")


def read_run(folder: Path | str) -> pd.DataFrame:
    """A run folder's rows (``results.parquet``, else ``results.csv``); DataFileError if it cannot be used."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(f"{folder}: no such run folder")
    try:
        df = results.read_results(folder)
    except FileNotFoundError:
        raise DataFileError(f"{folder}: not a run folder (no results.parquet or results.csv)") from None
    except Exception as exc:
        msg = (
            str(exc)
            if str(exc).startswith(str(folder))
            else f"{folder}: results table cannot be read ({type(exc).__name__}: {exc})"
        )
        raise DataFileError(msg.splitlines()[0]) from None
    if df.empty:
        raise DataFileError(f"{folder}: malformed results table, no rows")
    return df


def block_times(value, where: str) -> list[float] | None:
    """A row's ``times_per_matrix_s`` as a list of floats (None when absent); DataFileError if malformed."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    try:
        times = json.loads(value) if isinstance(value, str) else list(value)
        times = [float(x) for x in times]
    except (TypeError, ValueError) as exc:
        raise DataFileError(f"{where}: malformed times_per_matrix_s ({type(exc).__name__}: {exc})") from None
    return times or None


def _direction(a: float, b: float, min_change: float) -> str:
    if b >= a * (1 + min_change):
        return "slower"
    if b <= a / (1 + min_change):
        return "faster"
    return "same (noise)"


def time_verdict(a: dict, b: dict, *, alpha: float = ALPHA, min_change: float = MIN_CHANGE) -> tuple[str, str]:
    """(verdict, rule used) for B's time against A's; ``a``/``b`` hold ``median``, ``iqr`` and ``times``
    (seconds per matrix; ``times`` a list of block times or None). See the module docstring for the rule."""
    ta, tb = a.get("times"), b.get("times")
    if ta and tb and 2 / comb(len(ta) + len(tb), len(ta)) <= alpha:  # the smallest p the test can give
        p = float(mannwhitneyu(ta, tb, alternative="two-sided").pvalue)
        if p >= alpha:
            return "same (noise)", f"mann-whitney p={p:.2g}"
        return _direction(float(np.median(ta)), float(np.median(tb)), min_change), f"mann-whitney p={p:.2g}"
    ma, mb, ia, ib = (_num(x) for x in (a.get("median"), b.get("median"), a.get("iqr"), b.get("iqr")))
    if any(math.isnan(x) for x in (ma, mb, ia, ib)) or ma <= 0 or mb <= 0:
        return "n/a", ""
    if abs(mb - ma) <= max(ia, ib):
        return "same (noise)", "iqr"
    return _direction(ma, mb, min_change), "iqr"


def _num(x) -> float:
    try:
        return float(x) if x is not None and x is not pd.NA else math.nan
    except (TypeError, ValueError):
        return math.nan


def _ratio(a, b) -> float:
    a, b = _num(a), _num(b)
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == 0:
        return 1.0 if b == 0 else math.inf
    return b / a


def _keyed(df: pd.DataFrame, keys: list[str], folder: Path) -> pd.DataFrame:
    """The rows with a string key per match column (so 8 and 8.0, or NA and NA, match); duplicates are an error."""
    out = df.copy()
    for k in keys:
        col = out[k]
        if pd.api.types.is_float_dtype(col) and col.dropna().apply(float.is_integer).all():
            col = col.astype("Int64")
        out[f"_key_{k}"] = col.astype("string").fillna("<NA>")
    kcols = [f"_key_{k}" for k in keys]
    dup = out[out.duplicated(kcols, keep=False)]
    if len(dup):
        first = ", ".join(f"{k}={v}" for k, v in zip(keys, dup.iloc[0][kcols]))
        raise UserError(f"{folder}: {len(dup)} rows share a cell ({first}); match on more columns (--match)")
    return out


@dataclass
class Comparison:
    """The matched cells (one row each), the cells found in one run only, and the regressions."""

    a: Path
    b: Path
    keys: list[str]
    ignored: list[str]
    table: pd.DataFrame
    only_a: pd.DataFrame
    only_b: pd.DataFrame
    regressions: list[str]
    max_accuracy_ratio: float


def compare_runs(a: Path | str, b: Path | str, *, match: list[str] | tuple[str, ...] = MATCH,
                 ignore: list[str] | tuple[str, ...] = (), max_accuracy_ratio: float = MAX_ACCURACY_RATIO,
                 alpha: float = ALPHA, min_change: float = MIN_CHANGE) -> Comparison:
    """Compare run B against run A (see the module docstring); UserError for bad folders or options."""
    if not max_accuracy_ratio > 0 or not 0 < alpha < 1 or not min_change >= 0:
        raise UserError("need --max-accuracy-ratio > 0, 0 < --alpha < 1 and --min-change >= 0")
    a, b = Path(a), Path(b)
    da, db = read_run(a), read_run(b)
    unknown = [c for c in ignore if c not in match]
    if unknown:
        raise UserError(f"--ignore {' '.join(unknown)}: not among the matched columns ({', '.join(match)})")
    keys = [k for k in match if k not in ignore]
    if not keys:
        raise UserError("nothing left to match cells on")
    for folder, df in ((a, da), (b, db)):
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise UserError(f"{folder}: no column {', '.join(missing)} to match on")
    ignored = [c for c in ignore if c in da.columns and c in db.columns]
    ka, kb = _keyed(da, keys, a), _keyed(db, keys, b)
    for df in (ka, kb):  # so that the merge names both sides' blocks (a run may not keep them)
        if "times_per_matrix_s" not in df:
            df["times_per_matrix_s"] = None
    kcols = [f"_key_{k}" for k in keys]
    both = ka.merge(kb, on=kcols, how="inner", suffixes=("_a", "_b"))  # inner: no NaN turns an int column float
    only_a = ka[~ka.set_index(kcols).index.isin(kb.set_index(kcols).index)][[*keys, "status"]]
    only_b = kb[~kb.set_index(kcols).index.isin(ka.set_index(kcols).index)][[*keys, "status"]]
    rows, regressions = [], []
    for _, r in both.iterrows():
        cell = {k: r[f"{k}_a"] for k in keys}
        for c in ignored:
            va, vb = r[f"{c}_a"], r[f"{c}_b"]
            cell[c] = f"{va} -> {vb}" if str(va) != str(vb) else va
        sa, sb = r["status_a"], r["status_b"]
        cell["status"] = sa if sa == sb else f"{sa} -> {sb}"
        cell["mae_a"], cell["mae_b"] = _num(r["mae_a"]), _num(r["mae_b"])
        cell["mae_ratio"] = _ratio(r["mae_a"], r["mae_b"])
        cell["kappa_u_ratio"] = _ratio(r["rel_err_over_kappa_u_a"], r["rel_err_over_kappa_u_b"])
        cell["time_a"], cell["time_b"] = _num(r["time_per_matrix_s_a"]), _num(r["time_per_matrix_s_b"])
        cell["time_ratio"] = _ratio(r["time_per_matrix_s_a"], r["time_per_matrix_s_b"])
        where = ", ".join(f"{k}={cell[k]}" for k in keys)
        side = {s: {"median": r[f"time_per_matrix_s_{s}"], "iqr": r[f"time_iqr_s_{s}"],
                    "times": block_times(r[f"times_per_matrix_s_{s}"], f"{a if s == 'a' else b} ({where})")}
                for s in "ab"}
        verdict, rule = ("n/a", "") if not (sa == sb == "ok") else time_verdict(side["a"], side["b"], alpha=alpha,
                                                                                  min_change=min_change)
        cell["time_verdict"], cell["time_rule"] = verdict, rule
        why = []
        if sa == "ok" and sb == "failed":
            why.append("ok -> failed")
        elif sa == sb == "ok" and cell["mae_ratio"] > max_accuracy_ratio:
            why.append(f"MAE x{cell['mae_ratio']:.3g}")
        cell["regression"] = "; ".join(why)
        if why:
            regressions.append(f"{where}: {'; '.join(why)}")
        rows.append(cell)
    cols = [*keys, *ignored, "status", "mae_a", "mae_b", "mae_ratio", "kappa_u_ratio", "time_a", "time_b",
            "time_ratio", "time_verdict", "time_rule", "regression"]
    return Comparison(a, b, keys, ignored, pd.DataFrame(rows, columns=cols), only_a.reset_index(drop=True),
                      only_b.reset_index(drop=True), regressions, max_accuracy_ratio)


def render(c: Comparison, fmt: str = "simple") -> str:
    """The comparison as text: the matched cells' table, the unmatched cells, the regressions."""
    lines = [f"A: {c.a}", f"B: {c.b}",
             f"matched on {', '.join(c.keys)}" + (f" (ignoring {', '.join(c.ignored)})" if c.ignored else ""), "",
             f"{len(c.table)} matched cells; ratios are B/A; {RULE}.", ""]
    if len(c.table):
        lines += [c.table.to_markdown(index=False, tablefmt=fmt, floatfmt=".3g", missingval=""), ""]
    for name, df in (("A", c.only_a), ("B", c.only_b)):
        if len(df):
            lines += [f"{len(df)} cells only in {name}:", "", df.to_markdown(index=False, tablefmt=fmt), ""]
    counts = c.table["time_verdict"].value_counts() if len(c.table) else pd.Series(dtype=int)
    lines.append("time: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS))
    if c.regressions:
        lines.append(f"{len(c.regressions)} accuracy regressions (ok -> failed, or MAE more than "
                     f"{c.max_accuracy_ratio:g}x A's):")
        lines += [f"  {r}" for r in c.regressions]
    else:
        lines.append(f"no accuracy regression (none ok -> failed, no MAE more than {c.max_accuracy_ratio:g}x A's)")
    return "\n".join(lines) + "\n"


def write(c: Comparison, path: Path) -> None:
    """``.md``: the text of :func:`render` as GitHub Markdown; ``.csv``: every cell, with a ``match``
    column (``both``, ``only A``, ``only B``). Any other suffix is a UserError."""
    path = Path(path)
    if path.suffix == ".md":
        results.write_text(path, render(c, fmt="github"))
    elif path.suffix == ".csv":
        df = pd.concat([c.table.assign(match="both"), c.only_a.assign(match="only A"),
                        c.only_b.assign(match="only B")], ignore_index=True)
        results.atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))
    else:
        raise UserError(f"--out {path}: give a .md or .csv file")


HELP = "compare two runs cell by cell: accuracy ratios, status changes and a noise-aware time verdict"
DESCRIPTION = (
    "Compare run B against run A (folders written by `matinv-bench run` or any experiment): cells are "
    "matched on solver, dataset, seed, dtype, device and n; for each, the MAE ratio B/A (and of "
    "rel_err_over_kappa_u), the status change, the time ratio B/A and a verdict faster / slower / "
    f"same (noise) / n/a. The {RULE}. Exit status 1 when a cell that was ok in A failed in B or B's MAE is more "
    "than --max-accuracy-ratio times A's, 0 otherwise, 2 for a missing or malformed folder.")


def add_arguments(p) -> None:
    """The ``compare`` command's arguments (see :data:`DESCRIPTION`)."""
    p.add_argument("run_a", type=Path, metavar="RUN_A", help="the baseline run folder")
    p.add_argument("run_b", type=Path, metavar="RUN_B", help="the run folder compared against it")
    p.add_argument("--ignore", nargs="+", default=[], metavar="COL",
                   help="match cells without these columns, e.g. --ignore dtype to set float32 against float64 "
                        "(shown as A -> B)")
    p.add_argument("--match", nargs="+", default=list(MATCH), metavar="COL",
                   help=f"the columns that identify a cell (default: {' '.join(MATCH)}); add a tag column such as "
                        "batch when a run has several rows per cell")
    p.add_argument(
        "--max-accuracy-ratio",
        type=float,
        default=MAX_ACCURACY_RATIO,
        metavar="R",
        help=f"a cell whose MAE in B is more than R times A's is a regression (default: {MAX_ACCURACY_RATIO:g})",
    )
    p.add_argument("--alpha", type=float, default=ALPHA,
                   help=f"significance level of the Mann-Whitney U test (default: {ALPHA:g})")
    p.add_argument(
        "--min-change",
        type=float,
        default=MIN_CHANGE,
        metavar="F",
        help=f"smallest relative change of the median time called faster or slower (default: {MIN_CHANGE:g})",
    )
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="also write the comparison to FILE.md (Markdown) or FILE.csv (every cell, matched or not)")


def run(args) -> int:
    """Run ``compare``: print the comparison, write ``--out``; 1 on an accuracy regression, else 0."""
    if args.out is not None and args.out.suffix not in (".md", ".csv"):
        raise UserError(f"--out {args.out}: give a .md or .csv file")
    c = compare_runs(args.run_a, args.run_b, match=args.match, ignore=args.ignore,
                     max_accuracy_ratio=args.max_accuracy_ratio, alpha=args.alpha, min_change=args.min_change)
    print(render(c), end="")
    if args.out is not None:
        write(c, args.out)
        print(f"wrote {args.out}")
    return 1 if c.regressions else 0
