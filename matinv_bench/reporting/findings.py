"""The README's findings, computed from the committed result files, each with its evidence.

Every finding names its dataset(s), recipe and seeds, and links the file it comes from. A
comparison between two methods is made seed by seed over the same test splits: one *beats*
another only where the intervals of their errors over the seeds (smallest to largest) do not
overlap (:func:`compare`); where they overlap, the text says so. The paper's recipe comes first,
set against the paper's published values (labelled as the paper's); ``fast`` and ``quick`` are
labelled as ours. A finding whose files are absent is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.analysis.breakdown import BROKEN, breaks_at, by_method, method_of
from matinv_bench.specs import SpecError, format_spec, parse_spec

AUTHORS = {"matrix_2_dataset": "the authors' 2x2 (1st) test set",
           "matrix_2_dataset_2": "the authors' 2x2 (2nd) test set",
           "matrix_3_dataset": "the authors' 3x3 test set", "matrix_16": "a 16x16 box around the authors' base"}
# the matmul-only series around inv(A0) set against the networks (Newton-Schulz from a scaled start is a
# full iterative inversion, not an approximation around the box's base)
SERIES = {"neumann[order=2]": "Neumann's series of order 2", "newton-schulz[init=base,steps=2]":
          "two Newton-Schulz steps from inv(A0)"}
RECIPES = {"paper": "the paper's recipe", "fast": "our `fast` recipe (not the paper's)",
           "quick": "our `quick` recipe (not the paper's)"}
NETS = {"mlp-2fc": "2-FC", "mlp-3fc": "3-FC", "mlp-2fc[hidden=8]": "small 2-FC (h = 8)"}


def g(x: float) -> str:
    """Three significant digits, in scientific notation below 1e-3 (errors are read by exponent)."""
    return f"{x:.2e}" if abs(x) < 1e-3 else f"{x:.3g}"


@dataclass(frozen=True)
class Interval:
    """A method's error over seeds: the mean, the smallest and the largest, and how many seeds."""

    mean: float
    lo: float
    hi: float
    seeds: int

    def text(self) -> str:
        if self.seeds < 2 or g(self.lo) == g(self.hi):
            return g(self.mean)
        return f"{g(self.mean)} [{g(self.lo)}, {g(self.hi)}]"


def interval(values: pd.Series) -> Interval:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return Interval(float(v.mean()), float(v.min()), float(v.max()), int(len(v)))


def compare(a: Interval, b: Interval) -> str:
    """``beats`` where every seed of ``a`` has a lower error than every seed of ``b`` (the intervals
    do not overlap), ``loses`` where every one has a higher error, else ``overlaps``."""
    if a.hi < b.lo:
        return "beats"
    if a.lo > b.hi:
        return "loses"
    return "overlaps"


def said(a: str, verdict: str, b: str) -> str:
    """``A beats B`` / ``A does not beat B (every seed is worse)`` / ``A and B overlap over the seeds``."""
    if verdict == "beats":
        return f"{a} beats {b}"
    if verdict == "loses":
        return f"{a} does not beat {b} (every seed is worse)"
    return f"{a} and {b} overlap over the seeds (no verdict)"


def _method(spec: str) -> str:
    """A row's method: the spec without seed, device and recipe (the table's own)."""
    try:
        name, params = parse_spec(method_of(spec))
    except SpecError:
        return str(spec)
    return format_spec(name, {k: v for k, v in params.items() if k != "recipe"})


def _dataset_name(spec: str) -> str:
    if str(spec).startswith("paper-dir:"):
        return AUTHORS.get(Path(str(spec).split(":", 1)[1]).name, str(spec))
    return f"our draw of `{spec}`"


def _link(path: str) -> str:
    return f"[`{path}`]({path})"


class Table:
    """The per-seed rows of one committed table set (``results/paper/tableK-RECIPE/``) with its
    published values (``tableK-RECIPE.csv``)."""

    def __init__(self, results: Path, table: str, recipe: str):
        self.name, self.recipe = f"{table}-{recipe}", recipe
        folder = results / "paper" / self.name
        rows = pd.read_parquet(folder / "results.parquet")
        rows = rows[rows["status"] == "ok"]
        self.rows = rows.assign(method=rows["solver"].map(_method))
        self.summary = pd.read_csv(results / "paper" / f"{self.name}.csv")
        self.link = _link(f"results/paper/{self.name}.md")

    def dataset(self, prefer: str, authors: str) -> str | None:
        """The authors' test set of a box where the table scored on it, else our draw of it."""
        names = set(self.rows["dataset"])
        found = [d for d in names if d.startswith("paper-dir:") and Path(d.split(":", 1)[1]).name == authors]
        return found[0] if found else (prefer if prefer in names else None)

    def interval(self, method: str, dataset: str) -> Interval | None:
        v = self.rows[(self.rows["method"] == method) & (self.rows["dataset"] == dataset)]["mae"]
        return interval(v) if len(v.dropna()) else None

    def published(self, method: str, dataset: str) -> float:
        s = self.summary[(self.summary["method"] == method) & (self.summary["dataset"] == dataset)]
        return float(s["published_mae"].iloc[0]) if len(s) and s["published_mae"].notna().iloc[0] else np.nan

    def seeds(self) -> int:
        nets = self.rows[self.rows["method"].str.startswith("mlp")]
        return int(nets["seed"].nunique()) if len(nets) else int(self.rows["seed"].nunique())


def _table(results: Path, table: str, recipe: str) -> Table | None:
    try:
        return Table(results, table, recipe)
    except (OSError, KeyError, ValueError):
        return None


def _networks_against_linear(t: Table, dataset: str) -> tuple[list[str], list[str]]:
    """The networks' error intervals (with the paper's value where it prints one) and their verdicts
    against the linear approximation on ``dataset``."""
    lin = t.interval("linear-approx", dataset)
    shown, verdicts = [], []
    for net, label in NETS.items():
        iv = t.interval(net, dataset)
        if iv is None:
            continue
        paper = t.published(net, dataset)
        shown.append(f"{label} {iv.text()}" + (f" (the paper's {g(paper)})" if np.isfinite(paper) else ""))
        if lin is not None:
            verdicts.append(said(f"the {label}", compare(iv, lin), "the linear approximation"))
    return shown, verdicts


def _boxes(results: Path) -> list[str]:
    """The networks against the linear approximation on the 2x2 box: the paper's recipe first (beside
    the paper's values), then our recipes, each named."""
    lines = []
    for recipe in ("paper", "fast"):
        t = _table(results, "table2", recipe)
        if t is None:
            continue
        dataset = t.dataset("paper-2x2-1st", "matrix_2_dataset")
        lin = t.interval("linear-approx", dataset) if dataset else None
        if lin is None:
            continue
        shown, verdicts = _networks_against_linear(t, dataset)
        paper_lin = t.published("linear-approx", dataset)
        lines.append(
            f"- **With {RECIPES[recipe]}, on {_dataset_name(dataset)} ({t.seeds()} seeds):** "
            + "; ".join(verdicts) + ". Mean absolute error over the seeds [smallest, largest]: "
            + ", ".join(shown) + f"; the linear approximation {lin.text()}"
            + (f" (the paper's Table 2: {g(paper_lin)})" if np.isfinite(paper_lin) else "") + f". {t.link}")
    return lines


def _series(results: Path) -> list[str]:
    """The matmul-only series around inv(A0) (:data:`SERIES`) against the best network, box by box
    (``fast`` recipe, Table 1)."""
    t = _table(results, "table1", "fast")
    if t is None:
        return []
    parts = []
    for box, authors in (("paper-2x2-1st", "matrix_2_dataset"), ("paper-2x2-2nd", "matrix_2_dataset_2"),
                         ("paper-3x3", "matrix_3_dataset")):
        dataset = t.dataset(box, authors)
        if dataset is None:
            continue
        means = t.rows[t.rows["dataset"] == dataset].groupby("method")["mae"].mean()
        nets = means[[m.startswith("mlp") for m in means.index]]
        if nets.empty:
            continue
        net = nets.idxmin()
        said_ = [said(f"{name} ({g(means[s])})", compare(t.interval(s, dataset), t.interval(net, dataset)),
                      f"the {NETS.get(net, net)} ({g(nets[net])})")
                 for s, name in SERIES.items() if s in means.index]
        if said_:
            parts.append(f"on {_dataset_name(dataset)}, " + "; ".join(said_))
    if not parts:
        return []
    return [f"- **Matmul-only series around inv(A0) against the best network, {RECIPES['fast']}, {t.seeds()} "
            "seeds:** " + "; ".join(parts) + f". {t.link}"]


def _sixteen(results: Path) -> list[str]:
    """The 16x16 box, where the networks lose to the linear approximation (quick recipe)."""
    t = _table(results, "table1", "quick")
    if t is None:
        return []
    dataset = t.dataset("paper-16x16", "matrix_16")
    if dataset is None or t.interval("linear-approx", dataset) is None:
        return []
    shown, verdicts = _networks_against_linear(t, dataset)
    lin = t.interval("linear-approx", dataset)
    return [f"- **At 16x16, with {RECIPES['quick']}, on {_dataset_name(dataset)} ({t.seeds()} seeds):** "
            + "; ".join(verdicts) + f". Mean absolute error: {', '.join(shown)}; the linear approximation "
            f"{lin.text()}. {t.link}"]


def _closed_form(results: Path) -> list[str]:
    """At n <= 4 the fair classical baseline is a closed-form inverse: its time against the networks'
    (scaling rows at n = 2 and 4) and its error on the 2x2 box (Table 1)."""
    path = results / "scaling" / "results.parquet"
    if not path.is_file():
        return []
    rows = pd.read_parquet(path)
    rows = rows[(rows["status"] == "ok") & rows["n"].isin([2, 4])]
    if "solver_label" not in rows or not (rows["solver_label"] == "closed-form").any():
        return []
    t = rows.groupby(["n", "solver_label"])["time_per_matrix_s"].median().unstack("solver_label")
    nets = [c for c in t.columns if str(c).startswith("mlp") and "8n^2" in str(c)]
    parts = []
    for n in t.index:
        cf = t.loc[n, "closed-form"]
        fastest = min(nets, key=lambda c: t.loc[n, c]) if nets else None
        if fastest is not None and np.isfinite(t.loc[n, fastest]):
            parts.append(f"at n = {n} it takes {cf * 1e9:.0f} ns per matrix, the fastest network "
                         f"{t.loc[n, fastest] / cf:.1f}x that, LU {t.loc[n, 'lu'] / cf:.1f}x")
    batch = int(rows["batch"].iloc[0]) if "batch" in rows and rows["batch"].notna().any() else None
    error = ""
    table = _table(results, "table1", "fast") or _table(results, "table1", "quick")
    if table is not None:
        dataset = table.dataset("paper-2x2-1st", "matrix_2_dataset")
        cf, net = table.interval("closed-form", dataset), table.interval("mlp-2fc", dataset)
        if cf is not None and net is not None:
            error = (f"; on {_dataset_name(dataset)} its mean absolute error is {g(cf.mean)}, the 2-FC's "
                     f"{g(net.mean)} ({table.name})")
    if not parts:
        return []
    return ["- **At n <= 4 the fair baseline is a closed-form (cofactor) inverse, not batched LAPACK:** "
            + "; ".join(parts) + (f" (batches of {batch}, medians over the repetitions)" if batch else "")
            + error + f". {_link('results/scaling/summary.md')}"]


def _where_can(results: Path) -> list[str]:
    """Per base: the 2-FC's share of bad matrices just inside theta = 1 and just past it, and the
    theta from which it is broken (:func:`~matinv_bench.analysis.breakdown.breaks_at`); the lead
    says on how many bases it breaks at the first theta past 1."""
    path = results / "where-can" / "results.parquet"
    if not path.is_file():
        return []
    df = pd.read_parquet(path)
    ok = df[(df["status"] == "ok") & df["solver"].astype(str).str.startswith("mlp-2fc")]
    if ok.empty or "frac_bad" not in ok:
        return []
    curves = by_method(ok, "theta")
    seeds = int(curves["seeds"].max())
    broken = breaks_at(curves).min()  # per base: the first theta at which the 2-FC is broken
    parts, at_once = [], []
    for base, c in curves.groupby("base"):
        c = c.set_index("theta").sort_index()
        inside, past = c[c.index < 1], c[c.index > 1]
        if inside.empty or past.empty:
            continue
        a, b = inside.iloc[-1], past.iloc[0]
        spread = f" [{100 * a.frac_bad_min:.1f}, {100 * a.frac_bad_max:.1f}]" if a.seeds > 1 else ""
        when = broken.get(base, np.inf)
        at_once.append(when == past.index[0])
        parts.append(f"{base}: {100 * a.frac_bad:.1f} %{spread} at θ = {inside.index[-1]:g}, "
                     f"{100 * b.frac_bad:.0f} % at θ = {past.index[0]:g}, "
                     + (f"broken from θ = {when:g}" if np.isfinite(when) else "never broken in the sweep"))
    if not parts:
        return []
    trained = ok["train_recipe"].dropna() if "train_recipe" in ok else pd.Series(dtype=str)
    recipe = str(trained.iloc[0]) if len(trained) else "quick"
    spread = " (mean [smallest, largest seed])" if seeds > 1 else ""
    lead = ("Where the box reaches singular matrices (θ > 1), the network breaks at the first θ past 1 on "
            + ("every base" if all(at_once) else f"{sum(at_once)} of {len(at_once)} bases"))
    return [f"- **{lead}** "
            f"({RECIPES.get(recipe, recipe)}, {seeds} seed{'s' if seeds != 1 else ''}; the share of matrices whose "
            f"2-FC inverse is off by more than 1 %{spread}): " + "; ".join(parts)
            + f". A method counts as broken where over {BROKEN:.0%} are. {_link('results/where-can/summary.md')}"]


def _bound(results: Path, folder: str) -> pd.DataFrame:
    """The float64 compute-bound exponents of one scaling set (``results/<folder>/slopes.csv``), by label."""
    path = results / folder / "slopes.csv"
    s = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    if not {"fit_range", "flops_exponent", "slope", "dtype", "solver_label"} <= set(s.columns):
        return pd.DataFrame()
    return s[(s["fit_range"] == "bound") & s["slope"].notna() & (s["dtype"] == "float64")].set_index("solver_label")


def _exponent(r: pd.Series) -> str:
    return (f"n^{r.slope:.2f} [{r.ci_lo:.2f}, {r.ci_hi:.2f}] over n = {int(r.fit_n_lo)}-{int(r.fit_n_hi)} "
            f"(its flops: n^{r.flops_exponent:.0f})")


def _scaling(results: Path) -> list[str]:
    """The compute-bound exponents of the dense networks (``results/scaling``, one batch at every n)
    and LU, each over its stated sizes, beside the exponent of the flop count. LU's comes from the
    same set, else, where the classical solvers share no compute-bound range there, from the
    latency view (``results/scaling-latency``, one matrix per call), and says so."""
    s = _bound(results, "scaling")
    named = (("mlp-2fc[hidden=8n^2,recipe=none]", "the 2-FC of width 8 n^2"),
             ("mlp-3fc[hidden=8n^2,recipe=none]", "the 3-FC"))
    nets = [(name, s.loc[label]) for label, name in named if label in s.index]
    if not nets:
        return []
    shown = [f"{name} {_exponent(r)}" for name, r in nets]
    where, lu = "scaling", s.loc["lu"] if "lu" in s.index else None
    latency = _bound(results, "scaling-latency")
    if lu is None and "lu" in latency.index:
        where, lu = "scaling-latency", latency.loc["lu"]
        shown.append(f"LU, at one matrix per call, {_exponent(lu)} ({_link('results/scaling-latency/summary.md')}; "
                     "at the networks' batch the classical solvers share no compute-bound range)")
    elif lu is not None:
        shown.append(f"LU {_exponent(lu)}")
    spread = sorted(f"{r.slope:.2f}" for _, r in nets)
    title = (f"Where each is compute-bound, a dense network's time grows as n^{spread[0]}"
             + (f"-n^{spread[-1]}" if spread[-1] != spread[0] else "") + " (its flops: n^4)"
             + ("" if lu is None else f"; LU's{', at one matrix per call,' if where == 'scaling-latency' else ''} "
                f"as n^{lu.slope:.2f} (its flops: n^3)"))
    return [f"- **{title}** (one batch of matrices for every solver at every n; effective exponents on this 2-core "
            "machine, 95 % intervals over the repetitions): " + "; ".join(shown)
            + f". {_link('results/scaling/summary.md')}"]


FINDINGS: tuple[Callable[[Path], list[str]], ...] = (_boxes, _sixteen, _series, _closed_form, _where_can, _scaling)


def headline_markdown(results: Path) -> str:
    """The README's headline findings, each computed from a committed result file it links."""
    lines = [line for finding in FINDINGS for line in finding(results)]
    return "\n".join(lines) + "\n"
