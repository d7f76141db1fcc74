"""``matinv-bench reproduce table1|table2``: the paper's Tables 1 and 2, beside our baselines.

- Table 1: the 2-FC and 3-FC MLPs (default widths 8 n^2) on the paper's four boxes; the mean and
  standard deviation of the test-set MAE over seeds (seed s trains from init seed s on train
  split s and scores test split s).
- Table 2: on ``paper-2x2-1st``, the linear approximation, the small 2-FC (h = 8) and the
  2-FC and 3-FC.

Both add the matmul-only baselines (Neumann, Newton-Schulz) and LU on the same test sets, and,
with ``--paper-data DIR``, score every solver on the authors' released test sets too (the
models are trained on the same box distribution, so the cache serves them; for 16x16, where the
authors released only their base, on a box drawn around that base). Output under ``--out``
(default: a fresh ``results/tableK-<date>-<time>``; the committed tables are made with
``--out results/paper``): ``tableK-RECIPE.md`` and ``.csv`` (the summary, with the published
values where we have them, each labelled with its source) and ``tableK-RECIPE/`` (every tidy row,
one file per cell in its ``cells/``). The cells run through the engine's ``run_grid``:
``--resume DIR`` continues the run whose ``--out`` was DIR, or whose ``tableK-RECIPE`` folder is
DIR. Before the cells run, the seeds of each network, and the boxes of the same size, train
together as one stacked model (:mod:`~matinv_bench.experiments.pretrain`), so that every cell's
fit is a cache hit; ``--no-stack`` trains each network alone.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.engine.runner import Cell
from matinv_bench.errors import DataFileError
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Experiment, seeded_grid
from matinv_bench.reporting import results, summary
from matinv_bench.specs import format_spec, parse_spec

PAPER_DATASETS = ("paper-2x2-1st", "paper-2x2-2nd", "paper-3x3", "paper-16x16")
# the authors' released folders (../shared/paper-data); matrix_16 holds only their base matrix
PAPER_DIRS = {
    "paper-2x2-1st": "matrix_2_dataset",
    "paper-2x2-2nd": "matrix_2_dataset_2",
    "paper-3x3": "matrix_3_dataset",
    "paper-16x16": "matrix_16",
}
OWN_BASE = {"paper-16x16"}  # boxes whose base we drew ourselves: the authors' figures do not apply to them
BASELINES = ("linear-approx", "neumann[order=2]", "neumann[order=3]", "newton-schulz[init=base,steps=2]",
             "newton-schulz[init=scaled,steps=40]", "minimax-ns", "learned-ns[init=base,steps=2]", "lu",
             "closed-form")  # closed-form: the fixed-size cofactor inverse, the fair classical baseline at n <= 4
PAPER_TEST_SIZE = 10_000  # the authors' test sets hold 10,000 matrices


@dataclass(frozen=True)
class Cited:
    """A published MAE, typed in from its source (see SOURCES); never computed here."""

    mean: float
    std: float | None  # the source's spread over its runs, where it gives one
    source: str


AUTHORS_REPO = "yizhidamiaomiao/Neural-based-General-Matrix-Inversion-Why-can-t-and-Where-can"
SOURCES = {
    "paper T1": "the paper's Table 1 (Ji, Wu, Xi, AISTATS 2025): the mean over 3 runs; the spread is the square root "
                "of the number the paper prints in parentheses, which matches the variance (np.var, ddof = 0) of "
                f"the three runs in the authors' released notebooks (github.com/{AUTHORS_REPO})",
    "paper T2": "the paper's Table 2 (Ji, Wu, Xi, AISTATS 2025): the linear approximation, and the networks' mean "
                "over 3 runs (no spread printed)",
}
# (method, the authors' folder) -> the paper's published value, typed in from its Tables 1 and 2
# (transcribed in shared/paper-data/published.md); never computed here.
_T1, _T2 = "paper T1", "paper T2"
PUBLISHED: dict[tuple[str, str], Cited] = {
    ("linear-approx", "matrix_2_dataset"): Cited(1.97e-4, None, _T2),
    ("mlp-2fc[hidden=8]", "matrix_2_dataset"): Cited(6.82e-5, None, _T2),
    ("mlp-2fc", "matrix_2_dataset"): Cited(2.05e-5, 3.78e-11 ** 0.5, _T1),
    ("mlp-3fc", "matrix_2_dataset"): Cited(1.52e-5, 4.31e-11 ** 0.5, _T1),
    ("mlp-2fc", "matrix_2_dataset_2"): Cited(6.39e-6, 3.72e-12 ** 0.5, _T1),
    ("mlp-3fc", "matrix_2_dataset_2"): Cited(7.37e-6, 3.95e-12 ** 0.5, _T1),
    ("mlp-2fc", "matrix_3_dataset"): Cited(8.77e-5, 9.40e-11 ** 0.5, _T1),
    ("mlp-3fc", "matrix_3_dataset"): Cited(1.53e-4, 4.41e-9 ** 0.5, _T1),
    ("mlp-2fc", "matrix_16"): Cited(1.68e-4, 3.19e-10 ** 0.5, _T1),
    ("mlp-3fc", "matrix_16"): Cited(2.58e-4, 8.18e-11 ** 0.5, _T1),
}
PAPER_LABELS = {"mlp-2fc": "2-FC", "mlp-3fc": "3-FC", "mlp-2fc[hidden=8]": "2-FC (small, h=8)",
                "linear-approx": "linear approximation"}


def _mlps(table: str, recipe: str) -> list[str]:
    """The table's networks with ``recipe`` (each cell then carries its seed: :func:`seeded_grid`)."""
    mlps = ["mlp-2fc", "mlp-3fc"] if table == "table1" else ["mlp-2fc[hidden=8]", "mlp-2fc", "mlp-3fc"]
    return [format_spec(name, {**params, "recipe": recipe}) for name, params in map(parse_spec, mlps)]


def released_test_set(dataset: str, root: Path) -> str | None:
    """``paper-dir:ROOT/FOLDER``, the authors' released test set of the paper box ``dataset``
    (see :data:`PAPER_DIRS`), when ``root`` holds it; None for any other dataset, or when absent."""
    folder = PAPER_DIRS.get(dataset)
    if folder is None or dataset in OWN_BASE or not (root / folder / "test_set.npy").is_file():
        return None
    return f"paper-dir:{root / folder}"


def method_of(solver_spec: str) -> str:
    """A solver spec without its seed and device: what a row of the table is about."""
    name, params = parse_spec(solver_spec)
    return format_spec(name, {k: v for k, v in params.items() if k not in ("seed", "device", "recipe")})


def authors_folder(dataset: str) -> str | None:
    """The authors' released folder whose setup a dataset spec shares (same base and box), if any."""
    if dataset.startswith("paper-dir:"):
        return Path(dataset.split(":", 1)[1]).name
    return None if dataset in OWN_BASE else PAPER_DIRS.get(dataset)


def published(method: str, dataset: str) -> Cited | None:
    """The published value set beside ``method`` on ``dataset``, or None."""
    return PUBLISHED.get((method, authors_folder(dataset) or ""))


def summarize(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """One line per method x dataset: MAE mean and std over seeds, training cost, the paper's value.

    Lines come dataset by dataset, learned solvers first, in the order the grid listed them."""
    df = df.assign(method=df["solver"].map(method_of))
    methods = [method_of(s) for s in _mlps(table, "none")] + list(BASELINES)
    datasets = list(dict.fromkeys(df["dataset"]))
    order = {(m, d): (datasets.index(d), methods.index(m) if m in methods else len(methods))
             for m, d in zip(df["method"], df["dataset"])}
    lines = []
    for (method, dataset), g in sorted(df.groupby(["method", "dataset"], sort=False), key=lambda kv: order[kv[0]]):
        ok = g[g.status == "ok"]
        reasons = sorted(set(g.loc[g.status != "ok", "reason"].dropna().astype(str)))
        lines.append(
            {
                "table": table,
                "method": method,
                "paper_name": PAPER_LABELS.get(method, ""),
                "dataset": dataset,
                "mae_mean": ok["mae"].mean() if len(ok) else np.nan,
                "mae_std": ok["mae"].std(ddof=1) if len(ok) > 1 else np.nan,
                "seeds": len(ok),
                "n_matrices": g["n_matrices"].max(),
                **_cited_columns(published(method, dataset)),
                "train_steps": ok["train_steps"].mean() if "train_steps" in ok else np.nan,
                "fit_time_s": ok["fit_time_s"].mean()
                if "train_steps" in ok and ok["train_steps"].notna().any()
                else np.nan,
                "time_per_matrix_s": ok["time_per_matrix_s"].median(),
                "failure_rate": ok["failure_rate"].mean(),
                "status": ",".join(sorted(set(g.status))),
                "reason": "; ".join(reasons)[:120],
            }
        )
    return pd.DataFrame(lines)


def _cited_columns(cited: Cited | None) -> dict:
    if cited is None:
        return {"published_mae": np.nan, "published_std": np.nan, "published_source": ""}
    return {"published_mae": cited.mean, "published_std": np.nan if cited.std is None else cited.std,
            "published_source": cited.source}


def _fmt(x, digits: str = ".3g") -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, digits)


def _mean_std(means, stds) -> list[str]:
    return [f"{_fmt(m)} ± {_fmt(s, '.2g')}" if pd.notna(s) else _fmt(m) for m, s in zip(means, stds)]


def markdown(table: pd.DataFrame, notes: list[str]) -> list[str]:
    """The table as Markdown lines: ours (mean ± std over seeds) beside the paper's published value."""
    view = pd.DataFrame(
        {
            "method": table["method"],
            "paper's name": table["paper_name"],
            "dataset": table["dataset"],
            "MAE, ours, over converged matrices (mean ± std over seeds, ddof=1)": _mean_std(table["mae_mean"],
                                                                                       table["mae_std"]),
        "failed (share)": [_fmt(v, ".2g") for v in table["failure_rate"]],
            "seeds": table["seeds"],
            "MAE, published (cited; ± sqrt of the printed variance, ddof=0)": [
                v or "n/a" for v in _mean_std(table["published_mae"], table["published_std"])
            ],
            "cited from": table["published_source"],
            "train steps": [_fmt(v, ".0f") for v in table["train_steps"]],
            "train time (s)": [_fmt(v, ".3g") for v in table["fit_time_s"]],
            "time/matrix (s)": [_fmt(v) for v in table["time_per_matrix_s"]],
            "note": table["reason"],
        }
    )
    return ["", *notes, "", view.to_markdown(index=False, tablefmt="github"), ""]


class Table(Experiment):
    """Table 1 or Table 2 of the paper (see the module docstring)."""

    order = 10
    shared = {"recipe": "quick", "seeds": 3, "n_matrices": PAPER_TEST_SIZE, "paper_data": None, "device": ...,
              "threads": ..., "no_timing": ..., "retrain": ...}
    helps = {"n_matrices": f"test matrices per dataset and seed (default: {PAPER_TEST_SIZE}, as the paper)",
             "paper_data": "also score every solver on the authors' released test sets in DIR (e.g. "
                           "../shared/paper-data), and for 16x16 on the box around their base"}
    replot_reads = ()  # tables, no figure

    def __init__(self, table: str):
        self.table = self.name = table
        self.help = {"table1": "the paper's Table 1: 2-FC and 3-FC MLPs on its four boxes, with baselines",
                     "table2": "the paper's Table 2 on 2x2 (1-st): linear approximation, small 2-FC, 2-FC, 3-FC"}[table]
        self.title = f"Table {table[-1]} of the paper"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        if self.table == "table1":
            p.add_argument("--dataset", nargs="+", default=list(PAPER_DATASETS), choices=PAPER_DATASETS,
                           metavar="NAME", help="a subset of the paper's boxes (default: all four)")
        p.add_argument("--no-stack", action="store_true",
                       help="train each seed's network on its own (default: the seeds of a network, and boxes of the "
                            "same size, train together as one stacked model before the cells run)")

    def rows_folder(self, out: Path, args: argparse.Namespace) -> Path:
        return out / f"{self.table}-{args.recipe}"

    def datasets(self, args: argparse.Namespace) -> tuple[list[str], list[str]]:
        """The datasets and the notes on them (the authors' folders with ``--paper-data``)."""
        datasets = list(args.dataset) if self.table == "table1" else ["paper-2x2-1st"]
        notes = [f"MLPs trained with the `{args.recipe}` recipe (see README, 'Learned solvers'); MAE against "
                 "trustworthy references, on our own test split of each box unless the dataset is `paper-dir:`."]
        if args.paper_data is not None:
            for d in list(datasets):
                folder = args.paper_data / PAPER_DIRS[d]
                need = "base_matrix.npy" if d in OWN_BASE else "test_set.npy"
                if not (folder / need).is_file():
                    raise DataFileError(f"--paper-data: no {PAPER_DIRS[d]}/{need} under {str(args.paper_data)!r}")
                datasets.append(f"paper-dir:{folder}")
                if not (folder / "test_set.npy").is_file():
                    notes.append(f"- `paper-dir:{folder}`: the authors released only their base matrix, so this is "
                                 "our own draw from the box around their base.")
        own = sorted(OWN_BASE & set(datasets))
        if own:
            notes.append(f"- {', '.join(own)}: our own integer base (see `matinv-bench list`), "
                         "not the authors'; their figures go beside the `paper-dir:` rows of their base "
                         "(`--paper-data`).")
        return datasets, notes

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        datasets, _ = self.datasets(args)
        return seeded_grid(_mlps(self.table, args.recipe) + list(BASELINES), datasets, args.seeds, args.device)

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        """``tableK-RECIPE.md`` and ``.csv`` beside the rows' folder, and the rows' own summary."""
        table = summarize(df, self.table)
        _, notes = self.datasets(args)
        used = [tag for tag in SOURCES if tag in set(table["published_source"])]
        notes += ["", "Published values (cited, never computed here; 'n/a' where none applies):",
                  *[f"- {tag}: {SOURCES[tag]}." for tag in used]]
        stem = f"{self.table}-{args.recipe}"
        results.atomic_write(out / f"{stem}.csv", lambda tmp: table.to_csv(tmp, index=False))
        title = f"{self.title}, {args.recipe} recipe"
        md = summary.write(out, df, title, command, markdown(table, notes), name=f"{stem}.md")
        if not args.quiet:
            print(md.read_text())
        rows = self.rows_folder(out, args)
        return [out / f"{stem}.csv", md, summary.write(rows, df, title, command, summary.run_body(df))]


register(Table("table1"))
register(Table("table2"))
