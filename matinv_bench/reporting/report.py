"""``matinv-bench report``: build ``results/REPORT.md`` from result files alone.

Each section belongs to one results folder and states the command that made it (the
``Made by:`` line of the folder's ``summary.md``). A folder that does not exist gives a short
"missing" note naming the command that makes it (an error with ``strict``); a folder that exists
but lacks a file its section needs, or holds a file that cannot be read or lacks required
columns, stops the report with a one-line :class:`ReportError`. Work-precision diagrams (error
against time per matrix, one marker per solver, one panel per dataset) are drawn from every
timed results table under the results folder. Nothing is recomputed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from matinv_bench.errors import DataFileError
from matinv_bench.reporting import results


class ReportError(DataFileError):
    """A results file the report needs is missing or malformed. The message names the file."""


@dataclass(frozen=True)
class Section:
    """A report section: its folder under the results root, and the files it needs there.

    ``files`` maps a file name to the columns it must have; the special name ``results`` means a
    run's ``results.parquet`` or ``results.csv`` with the full results schema.
    """

    folder: str
    title: str
    makes: str
    files: dict[str, tuple[str, ...]] = field(default_factory=dict)
    collection: bool = False  # a folder of runs: Markdown tables and run subfolders (see render_collection)


SECTIONS = (
    Section("paper", "Tables 1 and 2: the paper's datasets (issue 3)",
            "the paper-table experiments of `matinv-bench reproduce` (issue 3), writing to results/paper/",
            collection=True),
    Section("where-can", "Where can: the box sweep", "matinv-bench reproduce where-can",
            {"results": (), "where_can.png": ()}),
    Section("why-cant", "Why can't: near singular matrices", "matinv-bench reproduce why-cant",
            {"results": (), "per_matrix.parquet": ("solver", "dataset", "sigma_min", "mae", "rel_fro_err", "failed"),
             "moments.parquet": ("F", "r", "K", "replicate", "stratum", "t_lo", "t_hi", "p", "contribution"),
             "moments_summary.csv": ("F", "r", "K", "estimate_median", "innermost_share"),
             "why_cant_sigma.png": (), "why_cant_moments.png": ()}),
    Section("regions", "What the network learned: activation regions", "matinv-bench reproduce regions",
            {"census.csv": ("pattern", "count", "fraction"),
             "regions.csv": ("pattern", "fraction", "max_coef_diff_T", "lp_max_dev_from_linear"),
             "bounds.csv": ("quantity", "value")}),
    Section("scaling", "Scaling: O(n^3) against O(n^4) (issue 4)",
            "the scaling study of issue 4 (`matinv-bench scaling`), writing to results/scaling/", {"results": ()}),
)

_MADE_BY = re.compile(r"^Made by: `(.+)`\s*$", re.M)
_PNG = b"\x89PNG\r\n\x1a\n"


def _check_table(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:
        raise ReportError(f"{path}: cannot be read as {path.suffix[1:]} ({type(exc).__name__}: {exc})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ReportError(f"{path}: malformed, missing columns {', '.join(missing)}")
    if df.empty:
        raise ReportError(f"{path}: malformed, no rows")
    return df


def check_file(folder: Path, name: str, columns: tuple[str, ...] = ()) -> None:
    """Raise :class:`ReportError` unless ``folder/name`` exists and is well formed."""
    if name == "results":
        try:
            df = results.read_results(folder)
        except FileNotFoundError:
            raise ReportError(f"{folder}: missing results.parquet or results.csv") from None
        except Exception as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(str(folder)):
                raise ReportError(str(exc)) from None  # the schema check's own message
            raise ReportError(f"{folder}: results table cannot be read ({type(exc).__name__}: {exc})") from None
        if df.empty:
            raise ReportError(f"{folder}: malformed results table, no rows")
        return
    path = folder / name
    if not path.is_file():
        raise ReportError(f"{path}: missing (the folder exists, so the run that made it is incomplete)")
    if path.suffix in (".parquet", ".csv"):
        _check_table(path, columns)
    elif path.suffix == ".png" and path.read_bytes()[:8] != _PNG:
        raise ReportError(f"{path}: malformed, not a PNG image")


def made_by(folder: Path) -> tuple[str, str]:
    """(command, body) of a folder's ``summary.md``; ReportError if it is missing or has no command."""
    path = folder / "summary.md"
    if not path.is_file():
        raise ReportError(f"{path}: missing (every results folder states the command that made it there)")
    found = _made_by_text(path)
    if found is None:
        raise ReportError(f"{path}: malformed, no 'Made by: `command`' line")
    return found


def _made_by_text(path: Path) -> tuple[str, str] | None:
    text = path.read_text()
    m = _MADE_BY.search(text)
    return None if m is None else (m.group(1), re.sub(r"^(#+) ", r"\1## ", text[m.end():].strip(), flags=re.M))


def render_collection(root: Path, section: Section) -> list[str]:
    """A folder of runs: every run subfolder's results table and summary are checked; the Markdown
    tables at the top (each with its ``Made by:`` line) are shown, else the runs' summaries."""
    folder = root / section.folder
    runs = sorted(p for p in folder.iterdir() if p.is_dir()
                  and ((p / "results.parquet").is_file() or (p / "results.csv").is_file()))
    for run in runs:
        check_file(run, "results")
        made_by(run)
    for table in sorted(folder.glob("*.csv")):
        _check_table(table, ())
    docs = [(p, _made_by_text(p)) for p in sorted(folder.glob("*.md"))]
    docs = [(p, d) for p, d in docs if d is not None] or [(r / "summary.md", made_by(r)) for r in runs]
    if not docs:
        raise ReportError(f"{folder}: no Markdown table with a 'Made by: `command`' line and no run subfolder")
    lines = []
    for path, (command, body) in docs:
        rel = path.relative_to(root)
        lines += [f"### {rel}", "", f"Made by: `{command}`", "", body, ""]
    for png in sorted(folder.rglob("*.png")):
        check_file(png.parent, png.name)
        lines += [f"![{png.stem}]({png.relative_to(root)})", ""]
    return lines


def render_section(root: Path, section: Section) -> list[str]:
    folder = root / section.folder
    lines = [f"## {section.title}", ""]
    if not folder.is_dir():
        return lines + [f"*Missing: no `{folder}` folder. Made by {section.makes}.*", ""]
    if section.collection:
        return lines + render_collection(root, section)
    for name, cols in section.files.items():
        check_file(folder, name, cols)
    command, body = made_by(folder)
    lines += [f"Made by: `{command}` (files in `{section.folder}/`)", ""]
    for png in sorted(folder.glob("*.png")):
        check_file(folder, png.name)
        lines += [f"![{png.stem}]({section.folder}/{png.name})", ""]
    return lines + [body, ""]


def timed_tables(root: Path) -> pd.DataFrame:
    """Every ok, timed row of every results table in a folder under ``root``, or one level deeper
    (a folder of runs, such as ``paper/``); a malformed table is a ReportError."""
    frames = []
    folders = {p.parent for pattern in ("*/results.*", "*/*/results.*") for p in root.glob(pattern)
               if p.name in ("results.parquet", "results.csv")}
    for folder in sorted(folders):
        check_file(folder, "results")
        df = results.read_results(folder)
        df = df[(df.status == "ok") & df.time_per_matrix_s.notna() & df.mae.notna()]
        if len(df):
            frames.append(df.assign(run=folder.relative_to(root).as_posix()))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def work_precision(root: Path, out: Path) -> list[str]:
    """The work-precision section: one figure, one panel per dataset, one marker per solver."""
    lines = ["## Work-precision diagrams", ""]
    df = timed_tables(root)
    if df.empty:
        return lines + ["*Missing: no timed results table under the results folder. Made by `matinv-bench run` "
                        "(or any experiment that times its cells).*", ""]
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    from matinv_bench.reporting.plots import save_figure

    df = df.sort_values("timestamp").drop_duplicates(["solver", "dataset", "dtype", "seed"], keep="last")
    df = df[(df.mae > 0) & (df.time_per_matrix_s > 0)]
    # a file dataset's title is its file name, not its path
    df = df.assign(panel=df.dataset.str.replace(r"^(\w+-?\w*):.*/([^/]+)$", r"\1:\2", regex=True))
    g = sns.relplot(data=df, x="time_per_matrix_s", y="mae", hue="solver", style="solver", col="panel",
                    col_wrap=4, height=2.8, aspect=1.0, s=60, facet_kws={"sharex": False, "sharey": False})
    g.set(xscale="log", yscale="log")
    g.set_titles("{col_name}", size=8)
    g.set_axis_labels("time per matrix (s)", "mean absolute error")
    save_figure(g.figure, out.parent / "report" / "work_precision.png")
    runs = ", ".join(f"`{r}/`" for r in sorted(df.run.unique()))
    return lines + [f"From the timed rows of {runs} (the latest row per solver x dataset x dtype x seed); each "
                    "run's command is in its `summary.md`.", "", "![work-precision](report/work_precision.png)", ""]


def build_report(root: Path | str = "results", out: Path | str | None = None, strict: bool = False) -> Path:
    """Write the report (default ``root/REPORT.md``) and return its path.

    Raises :class:`ReportError` for a malformed or missing file in an existing results folder, for a
    missing results root, and with ``strict`` for a missing section folder.
    """
    root = Path(root)
    out = Path(out) if out is not None else root / "REPORT.md"
    if not root.is_dir():
        raise ReportError(f"{root}: no such results folder")
    missing = [s.folder for s in SECTIONS if not (root / s.folder).is_dir()]
    if strict and missing:
        raise ReportError(f"{root}: missing result folders: {', '.join(missing)}")
    lines = ["# matinv-bench report", "",
             "Built by `matinv-bench report` from the result files under this folder alone; every section "
             "names the command that made its files.", ""]
    if missing:
        lines += [f"Missing sections (no folder yet): {', '.join(missing)}.", ""]
    for section in SECTIONS:
        lines += render_section(root, section)
    lines += work_precision(root, out)
    results.write_text(out, "\n".join(lines))
    return out
