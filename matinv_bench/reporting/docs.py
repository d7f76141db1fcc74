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
from pathlib import Path

import pandas as pd

from matinv_bench.datasets import DATASETS
from matinv_bench.errors import DataFileError
from matinv_bench.reporting import findings
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
        out[readme] = replace_block(text, "headline", findings.headline_markdown(repo / "results"))
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

