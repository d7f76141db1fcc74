"""asv's result files, read back: the report's regression-tracking section, and time ratios.

asv (``asv run RANGE``, ``asv continuous A B``; see docs/benchmarks.md) writes one JSON file per
commit, machine and environment: ``<results_dir>/<machine>/<commit>-<env>.json`` beside the
machine's ``machine.json``. In such a file (asv's format version 2) ``result_columns`` names the
columns of each entry of ``results``, a benchmark name -> a list holding ``result`` (one value per
combination of the parameter lists, in ``itertools.product`` order; None where it failed or was
skipped) and ``params`` (the lists, as reprs); ``date`` is the commit's date in ms since the epoch.

- :func:`load`: every value of every result file under a results folder, one row each;
- :func:`ratios`: per benchmark (and parameters) on one machine and environment, the oldest
  commit's value over the newest one's (above 1: the benchmark got faster, for a time), with the
  commit of the largest step between consecutive commits;
- :func:`section`: the report's lines, the trained networks' tracked accuracy at the newest
  commit and the largest changes in time.

Nothing here imports asv (the report runs without it); benchmark names and parameters are kept as
asv writes them.
"""

from __future__ import annotations

import ast
import itertools
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.errors import ReportError

TRAINED = "bench_accuracy.TrainedAccuracy.track_"  # the trained networks' tracked accuracy
TIME = "time_"  # asv's prefix of a time benchmark's method name
MAKES = ("`asv run --quick --machine vm HASHFILE:results/asv/commits.txt` (or `asv continuous main HEAD`; "
         "see docs/benchmarks.md)")
COLUMNS = ["machine", "env", "commit", "date", "benchmark", "params", "value"]
TOP = 10  # changes in time listed


def result_files(folder: Path) -> list[Path]:
    """The result files under ``folder``: the JSON files beside a ``machine.json`` (asv's layout)."""
    return sorted(p for m in sorted(Path(folder).glob("*/machine.json"))
                  for p in m.parent.glob("*.json") if p.name != "machine.json")


def _param(text: str) -> str:
    try:
        return str(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return text


def read_file(path: Path) -> pd.DataFrame:
    """One result file, one row per benchmark x parameter combination (see :data:`COLUMNS`);
    ``params`` is the combination as text (``lu, 32, float32``), ``value`` NaN where asv has none.
    A file that is not asv's result JSON is a :class:`ReportError`."""
    try:
        d = json.loads(Path(path).read_text())
        columns, results = d["result_columns"], d["results"]
        commit, date, env = d["commit_hash"], d["date"], d["env_name"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{path}: not an asv result file ({type(exc).__name__}: {exc})") from None
    rows = []
    for name, entry in results.items():
        entry = dict(zip(columns, entry))
        values, params = entry.get("result"), entry.get("params") or []
        if values is None:
            continue
        for combo, v in zip(itertools.product(*params), values):
            rows.append((path.parent.name, env, commit, date, name, ", ".join(_param(p) for p in combo),
                         np.nan if v is None else float(v)))
    return pd.DataFrame(rows, columns=COLUMNS)


def load(folder: Path) -> pd.DataFrame:
    """Every value of every result file under ``folder`` (:func:`read_file`), oldest commit first."""
    frames = [read_file(p) for p in result_files(folder)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(["date", "commit"], kind="stable", ignore_index=True)


def ratios(values: pd.DataFrame, kind: str = "") -> pd.DataFrame:
    """Per machine, environment, benchmark (those whose method name starts with ``kind``, e.g.
    ``time_``) and parameters, over the commits that have a finite value: ``oldest`` and
    ``newest`` (commits, by date), their values, ``ratio`` = oldest value / newest value (for a
    time, above 1 means faster), and ``step_commit``, the commit whose value changed most from
    the commit before it (by the factor between them). Benchmarks with a value at one commit only
    are left out. Sorted by how far the ratio is from 1, largest first."""
    v = values[values["value"].notna() & values["benchmark"].str.split(".").str[-1].str.startswith(kind)]
    v = v[v["value"] > 0] if len(v) else v
    keys = ["machine", "env", "benchmark", "params"]
    rows = []
    for key, g in v.sort_values(["date", "commit"], kind="stable").groupby(keys, sort=False):
        if g["commit"].nunique() < 2:
            continue
        steps = np.abs(np.diff(np.log(g["value"].to_numpy())))
        first, last = g.iloc[0], g.iloc[-1]
        rows.append((*key, first["commit"], last["commit"], first["value"], last["value"],
                     first["value"] / last["value"], g["commit"].iloc[int(np.argmax(steps)) + 1]))
    out = pd.DataFrame(rows, columns=[*keys, "oldest", "newest", "oldest_value", "newest_value", "ratio",
                                      "step_commit"])
    order = np.abs(np.log(out["ratio"].astype(float))).sort_values(ascending=False, kind="stable").index
    return out.loc[order].reset_index(drop=True)


def short(commit: str) -> str:
    return str(commit)[:8]


def _date(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def seconds(t: float) -> str:
    """A time as asv shows it: ``1.43 ms``, ``190 μs``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("μs", 1e-6), ("ns", 1e-9)):
        if abs(t) >= scale or unit == "ns":
            return f"{t / scale:.3g} {unit}"
    return f"{t:.3g} s"


def tracked(values: pd.DataFrame, prefix: str = TRAINED) -> tuple[pd.DataFrame, str | None]:
    """The values of the benchmarks named ``prefix...`` at the newest commit that has any, one row
    per parameters and a column per benchmark (its name after ``prefix``), and that commit."""
    v = values[values["benchmark"].str.startswith(prefix) & values["value"].notna()]
    if v.empty:
        return pd.DataFrame(), None
    commit = v.sort_values(["date", "commit"], kind="stable")["commit"].iloc[-1]
    v = v[v["commit"] == commit]
    table = v.assign(metric=v["benchmark"].str[len(prefix):]).pivot_table(
        index=["machine", "env", "params"], columns="metric", values="value", aggfunc="first")
    return table.reset_index(), commit


def _names(folder: Path, benchmark: str) -> str:
    """The parameter names of a benchmark from asv's ``benchmarks.json`` (``params`` if unknown)."""
    try:
        names = json.loads((Path(folder) / "benchmarks.json").read_text())[benchmark]["param_names"]
    except (OSError, ValueError, KeyError, TypeError):
        return "params"
    return ", ".join(names) or "params"


def section(folder: Path) -> list[str]:
    """The report's lines for an asv results folder: which commits it holds; the trained networks'
    tracked accuracy (:data:`TRAINED`) at the newest commit that has it; the :data:`TOP` largest
    changes in time between each benchmark's oldest and newest commit. With no result file, a
    line naming the command that makes them."""
    files = result_files(folder)
    if not files:
        return [f"*No asv result files yet (`{folder.name}/<machine>/<commit>-<env>.json`): {MAKES} makes one per "
                "commit measured.*", ""]
    values = load(folder)
    commits = values.drop_duplicates("commit")
    lines = [f"{len(files)} result files: commits "
             + ", ".join(f"{short(c)} ({_date(d)})" for c, d in zip(commits["commit"], commits["date"]))
             + f" on {', '.join(f'`{m}`' for m in sorted(values['machine'].unique()))}, oldest first "
             "(by the commits' dates). Made more by " + MAKES + ".", ""]
    table, commit = tracked(values)
    lines += ["#### The trained networks' accuracy", ""]
    if commit is None:
        lines += [f"*No result file holds `{TRAINED}*` (the suite may be newer than the commits measured).*", ""]
    else:
        names = _names(folder, TRAINED + table.columns[-1])
        shown = table.rename(columns={"params": names}).drop(columns=["machine", "env"] if len(
            table[["machine", "env"]].drop_duplicates()) == 1 else [])
        lines += [f"`{TRAINED}*` at commit {short(commit)}, the newest that has them:", "",
                  shown.to_markdown(index=False, floatfmt=".3g"), ""]
    changes = ratios(values, TIME)
    lines += ["#### The largest changes in time", ""]
    if changes.empty:
        lines += ["*No time benchmark has values at two commits.*", ""]
        return lines
    top = changes.head(TOP)
    shown = pd.DataFrame({
        "benchmark": top["benchmark"].str.split(".").str[-2:].str.join("."),
        "params": top["params"],
        "oldest": [f"{seconds(t)} ({short(c)})" for t, c in zip(top["oldest_value"], top["oldest"])],
        "newest": [f"{seconds(t)} ({short(c)})" for t, c in zip(top["newest_value"], top["newest"])],
        "oldest / newest": top["ratio"].map(lambda r: f"{r:.2f} ({'faster' if r > 1 else 'slower'})"),
        "largest step at": top["step_commit"].map(short),
    })
    lines += [f"The {len(top)} of {len(changes)} time benchmarks (x parameters) whose time changed most between "
              "their oldest and newest commit (above 1: faster now). One run per commit on a shared machine: a "
              "single change is a lead to rerun, not a finding (docs/benchmarks.md).", "",
              shown.to_markdown(index=False), ""]
    return lines
