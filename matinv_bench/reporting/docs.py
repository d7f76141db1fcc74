"""Documentation generated from the code and the committed result files, never typed by hand.

Two kinds of text:

- ``docs/reference.md``: every built-in solver and dataset, from the registries (parameters with
  their defaults, family, the first paragraph of the docstring; a solver's model flop count as its
  class states it, with its source);
- blocks inside hand-written Markdown, between ``<!-- BEGIN name -->`` and ``<!-- END name -->``:
  ``headline`` in the README, the findings computed from the committed result files.

``matinv-bench report --docs`` rewrites them; ``tests/test_docs_sync.py`` fails when a committed
file differs from what this module generates, so a number can never drift from its source.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from matinv_bench.datasets import DATASETS
from matinv_bench.errors import DataFileError
from matinv_bench.solvers import SOLVERS
from matinv_bench.specs import Registry

BLOCK = re.compile(r"(<!-- BEGIN (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END (?P=name) -->)", re.S)


# --- the registries -----------------------------------------------------------------------------

def _built_in(registry: Registry) -> list[str]:
    """Names registered by the package itself (plugins have their own documentation)."""
    return [n for n in registry if registry.get(n).__module__.startswith("matinv_bench.")]


def _params(registry: Registry, name: str) -> str:
    shown = [k if v is inspect.Parameter.empty else f"{k}={v}" for k, v in registry.parameters(name).items()]
    return ", ".join(f"`{p}`" for p in shown)


def _doc(cls) -> str:
    """The first paragraph of a class's docstring, on one line."""
    return " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())


def reference_markdown() -> str:
    """``docs/reference.md``: the built-in solvers (parameters, model flop count and its source)
    and datasets with their parameters."""
    solvers = pd.DataFrame([{"solver": f"`{n}`", "family": SOLVERS.get(n).family,
                             "parameters (defaults)": _params(SOLVERS, n), "what it is": _doc(SOLVERS.get(n)),
                             "flops per matrix": SOLVERS.get(n).flops_formula,
                             "counted as": SOLVERS.get(n).flops_source}
                            for n in _built_in(SOLVERS)])
    datasets = pd.DataFrame([{"dataset": f"`{n}:PATH`" if n in DATASETS.prefixes else f"`{n}`",
                              "parameters (defaults)": "" if n in DATASETS.prefixes else _params(DATASETS, n),
                              "what it is": _doc(DATASETS.get(n))} for n in _built_in(DATASETS)])
    return "\n".join([
        "# Solvers and datasets",
        "",
        "Generated from the registries by `matinv-bench report --docs`; `matinv-bench list` prints the",
        "same. A spec is a name with optional parameters, e.g. `neumann[order=3]` or",
        "`randsvd[n=64,cond=1e8]`.",
        "",
        "## Solvers",
        "",
        "Flops per matrix are model counts, leading terms, additions plus multiplications (the `gflops`",
        "column and the scaling plots use them); each solver's class states its own (`flops(n)`,",
        "`flops_formula`, `flops_source`), LAPACK routines by LAPACK Working Note 41's counts",
        "(`matinv_bench/solvers/flops.py`).",
        "",
        solvers.to_markdown(index=False),
        "",
        "## Datasets",
        "",
        datasets.to_markdown(index=False),
        "",
    ])


# --- findings from the committed results --------------------------------------------------------

def _g(x: float) -> str:
    """Three significant digits, in scientific notation below 1e-3 (errors are read by exponent)."""
    return f"{x:.2e}" if abs(x) < 1e-3 else f"{x:.3g}"


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataFileError(f"cannot write the headline: {path} is missing")
    return pd.read_csv(path)


def _table2(results: Path) -> list[str]:
    name = "table2-fast"
    t = _read_csv(results / "paper" / f"{name}.csv")
    t = t[t["dataset"] == "paper-2x2-1st"].set_index("method")
    lin, two, three = (t.loc[m] for m in ("linear-approx", "mlp-2fc", "mlp-3fc"))
    neu, ns = t.loc["neumann[order=2]"], t.loc["newton-schulz[init=base,steps=2]"]
    src = f"[`results/paper/{name}.md`](results/paper/{name}.md)"
    beat = two.mae_mean < lin.mae_mean and three.mae_mean < lin.mae_mean
    verdict = ("the networks beat the linear approximation they are said to learn" if beat else
               "the networks do not beat the linear approximation")
    ratio = (f"{lin.mae_mean / two.mae_mean:.0f}x and {lin.mae_mean / three.mae_mean:.0f}x below" if beat else
             "against")
    best_net = min(two.mae_mean, three.mae_mean, t.loc["mlp-2fc[hidden=8]"].mae_mean)
    series = max(neu.mae_mean, ns.mae_mean) < best_net
    return [
        f"- **Inside the paper's 2x2 box, {verdict}.** Trained 2-FC and 3-FC nets reach a mean absolute "
        f"error of {_g(two.mae_mean)} and {_g(three.mae_mean)} ({int(two.seeds)} seeds), {ratio} the linear "
        f"approximation ({_g(lin.mae_mean)}; the paper's Table 2 prints {_g(lin.published_mae)}). {src}",
        f"- **{'A matmul-only series beats every network' if series else 'The matmul-only series'}.** "
        f"Neumann's series of order 2 reaches {_g(neu.mae_mean)} and two Newton-Schulz steps from inv(A0) "
        f"{_g(ns.mae_mean)} on the same matrices. {src}",
    ]


def _where_can(results: Path) -> list[str]:
    df = pd.read_parquet(results / "where-can" / "results.parquet") if (results / "where-can" /
                                                                          "results.parquet").is_file() else None
    if df is None:
        raise DataFileError(f"cannot write the headline: {results / 'where-can' / 'results.parquet'} is missing")
    net = df[df["solver"].str.startswith("mlp-2fc") & (df["base"] == "paper-2x2-1st") & (df["status"] == "ok")]
    by_theta = net.groupby("theta")["frac_bad"].mean()
    safe = by_theta[by_theta.index < 1]
    far = by_theta[by_theta.index > 1]
    if safe.empty or far.empty:
        return []
    t_safe, t_far = safe.index.max(), far.index.min()
    return [
        f"- **Where the box reaches singular matrices, the network breaks.** On boxes around the "
        f"paper's 2x2 base, the share of matrices whose 2-FC inverse is off by more than 1 % goes from "
        f"{100 * safe.loc[t_safe]:.1f} % at theta = {t_safe:g} to {100 * far.loc[t_far]:.0f} % at theta = "
        f"{t_far:g} (from theta = 1 on, a box may hold singular matrices). "
        f"[`results/where-can/summary.md`](results/where-can/summary.md)",
    ]


def _scaling(results: Path) -> list[str]:
    s = _read_csv(results / "scaling" / "slopes.csv")
    if "fit_range" in s:  # each solver's own asymptotic range (the common range is in the summary)
        s = s[s["fit_range"] == "own"]
    s = s.set_index("solver_label")
    lu, net = s.loc["lu"], s.loc["mlp-2fc[hidden=8n^2,recipe=none]"]
    below = " (LU still short of its n^3 regime)" if lu.slope < 2.8 else ""
    return [
        f"- **A dense network's time per matrix grows about as n^{net.slope:.0f}, LU's as n^{lu.slope:.1f} "
        f"on 2 CPU cores{below}.** Effective exponents on this machine: LU "
        f"{lu.slope:.2f} [{lu.ci_lo:.2f}, {lu.ci_hi:.2f}] over n = {int(lu.fit_n_lo)}-{int(lu.fit_n_hi)}, "
        f"the 2-FC of width 8 n^2 {net.slope:.2f} [{net.ci_lo:.2f}, {net.ci_hi:.2f}] over n = "
        f"{int(net.fit_n_lo)}-{int(net.fit_n_hi)}. [`results/scaling/summary.md`](results/scaling/summary.md)",
    ]


FINDINGS: tuple[Callable[[Path], list[str]], ...] = (_table2, _where_can, _scaling)


def headline_markdown(results: Path) -> str:
    """The README's headline findings, each computed from a committed result file it links."""
    lines = [line for finding in FINDINGS for line in finding(results)]
    return "\n".join(lines) + "\n"


# --- blocks in hand-written files ---------------------------------------------------------------

def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the block ``name`` holding ``body``; DataFileError if it has no such block."""
    found = False

    def sub(m: re.Match) -> str:
        nonlocal found
        if m.group("name") != name:
            return m.group(0)
        found = True
        return m.group(1) + body + m.group(4)

    out = BLOCK.sub(sub, text)
    if not found:
        raise DataFileError(f"no block '<!-- BEGIN {name} -->' ... '<!-- END {name} -->' to fill")
    return out


def generated_files(repo: Path) -> dict[Path, str]:
    """Every generated file under ``repo`` and the text it should hold."""
    readme = repo / "README.md"
    text = readme.read_text() if readme.is_file() else ""
    out = {repo / "docs" / "reference.md": reference_markdown()}
    if "<!-- BEGIN headline -->" in text:
        out[readme] = replace_block(text, "headline", headline_markdown(repo / "results"))
    return out


def write_generated(repo: Path) -> list[Path]:
    """Rewrite the generated files under ``repo``; return those that changed."""
    from matinv_bench.reporting.results import write_text

    changed = []
    for path, text in generated_files(repo).items():
        if not path.is_file() or path.read_text() != text:
            write_text(path, text)
            changed.append(path)
    return changed

