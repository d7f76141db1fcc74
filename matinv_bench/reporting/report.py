"""``matinv-bench report``: build ``results/REPORT.md`` from the committed result sets alone.

The report reads only the sets that the results folder's ``manifest.toml`` lists
(:mod:`matinv_bench.reporting.manifest`): a results folder without a manifest is a
:class:`ReportError`, and a folder the manifest does not list (a local run) is never read. Each
section belongs to one listed folder, or to the listed folders inside it (a collection, such as
``paper/``), and states the command that made it (the ``Made by:`` line of the folder's
``summary.md``). A section with no listed set, or whose listed folder does not exist, gives a short
"missing" note naming the command that makes it (an error with ``strict``); a listed folder that
lacks a file its section needs, or holds a file that cannot be read or lacks required columns,
stops the report with a one-line :class:`ReportError`. The report's own figures go to ``report/``
beside it (PNG and SVG): the headline (:mod:`~matinv_bench.reporting.headline`, from the listed
scaling and where-can sets), and the work-precision diagrams (error against time per matrix, one
figure per question, :mod:`~matinv_bench.reporting.precision`) from the timed results tables of
the listed sets. After the headline, a table says which commit each set's rows and networks
come from (:mod:`~matinv_bench.reporting.provenance`). Nothing is recomputed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from matinv_bench.errors import ReportError
from matinv_bench.analysis.breakdown import BROKEN
from matinv_bench.reporting import asv_results, manifest, provenance, results
from matinv_bench.reporting.manifest import Manifest, ResultSet
from matinv_bench.reporting.summary import MADE_BY


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
    beyond: bool = False  # a question the paper leaves open: rendered under "Beyond the paper"
    render: Callable[[Path], list[str]] | None = None  # the body of a folder another tool wrote (no summary.md)


SECTIONS = (
    Section("paper", "Tables 1 and 2: the paper's datasets",
            "the paper-table experiments of `matinv-bench reproduce`, writing to results/paper/",
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
    Section("regions-paper-net", "The paper's own 4-8-4 network (Appendix D.1): activation regions",
            "matinv-bench reproduce regions --weights PATH (the authors' released weights)",
            {"census.csv": ("pattern", "count", "fraction"),
             "regions.csv": ("pattern", "fraction", "max_coef_diff_T", "lp_max_dev_from_linear"),
             "bounds.csv": ("quantity", "value")}),
    Section("regions-fast", "What the network learned: activation regions, fast recipe",
            "matinv-bench reproduce regions --recipe fast",
            {"census.csv": ("pattern", "count", "fraction"),
             "regions.csv": ("pattern", "fraction", "max_coef_diff_T", "lp_max_dev_from_linear"),
             "bounds.csv": ("quantity", "value")}),
    Section("scaling", "Scaling: O(n^3) against O(n^4)",
            "the scaling study (`matinv-bench scaling`), writing to results/scaling/", {"results": ()}),
    Section("scaling-latency", "Scaling, one matrix per call (latency)",
            "the scaling study at one matrix per call (`matinv-bench scaling --batch 1`), writing to "
            "results/scaling-latency/", {"results": ()}),
    Section("scaling-float32", "Scaling in float32",
            "the scaling study in float32 (`matinv-bench scaling --dtype float32`), writing to "
            "results/scaling-float32/", {"results": ()}),
    Section("gauss-jordan-blocks", "Blocked Gauss-Jordan: block size, and its targets against LU and the matmul peak",
            "`matinv-bench scaling` with the Gauss-Jordan blocks (see manifest.toml), writing to "
            "results/gauss-jordan-blocks/", {"results": ()}),
    Section("asv", "Regression tracking across commits (asv)", "asv (see docs/benchmarks.md)",
            {"benchmarks.json": ()}, render=asv_results.section),
    Section("where-can-n", "Where can, as n grows", "matinv-bench reproduce where-can-n",
            {"results": (), "where_can_n.png": ()}, beyond=True),
    Section("out-of-box", "Out of the training box", "matinv-bench reproduce out-of-box",
            {"results": (), "out_of_box.png": ()}, beyond=True),
    Section("seeds", "Seeds of the paper's small network, and the eq. (16) warm start", "matinv-bench reproduce seeds",
            {"results": (), "seeds.csv": ("seed", "mae", "affine_mae", "ratio", "collapsed"),
             "affine.csv": ("map", "seed", "mae", "train_mae", "train_mse"),
             "curves.csv": ("init", "seed", "step", "mae"), "seeds.png": (), "warm_start.png": ()}, beyond=True),
)

BEYOND = ["## Beyond the paper", "",
          "Questions the paper leaves open, each answered by one command whose summary follows: does the "
          "networks' edge over the linear approximation survive as n grows, at equal theta and at equal flops "
          "(where-can-n)? Where does each method break outside the box it was fitted on (out-of-box)? How do "
          "seeds of the paper's small network spread, and how many collapse to the best affine map (seeds)? "
          "Two more answers sit in the sections above: the moments of Theorem 3.2 with F = LU in float64 and "
          "float32 beside the network and F = 0 (why-cant), and matmul-only iterations with designed "
          "(`minimax-ns`) and trained (`learned-ns`) coefficients, extra rows in Tables 1-2, where-can and "
          "scaling.", ""]

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
    m = MADE_BY.search(text)
    return None if m is None else (m.group(1), re.sub(r"^(#+) ", r"\1## ", text[m.end():].strip(), flags=re.M))


def _path(root: Path, path: Path) -> str:
    """``path`` as the report writes it: relative to the results folder ``root`` where it lies inside."""
    path, base = path.resolve(), root.resolve()
    return path.relative_to(base).as_posix() if base in path.parents else str(path)


def listed(sets: Manifest, root: Path, section: Section) -> list[ResultSet]:
    """The sets of a section: the one listed at its folder, or for a collection the ones inside it."""
    target = (root / section.folder).resolve()
    chosen = []
    for s in sets.sets:
        folder = (sets.root / s.folder).resolve()
        if folder == target or (section.collection and folder.parent == target):
            chosen.append(s)
    return chosen


def _missing_note(sets: Manifest, root: Path, section: Section, s: ResultSet | None) -> str:
    if s is None:
        return f"*Missing: `manifest.toml` lists no set in `{root / section.folder}`. Made by {section.makes}.*"
    return f"*Missing: no `{sets.root / s.folder}` folder. Made by `{s.command or s.made_by}`.*"


def render_collection(sets: Manifest, root: Path, section: Section) -> list[str]:
    """A folder of listed runs: every run's results table and summary, and the extra files it owns,
    are checked; each run's Markdown table (with its ``Made by:`` line) is shown, else its summary."""
    docs, pngs, lines = [], [], []
    for s in listed(sets, root, section):
        folder = sets.root / s.folder
        if not folder.is_dir():
            lines += [_missing_note(sets, root, section, s), ""]
            continue
        check_file(folder, "results")
        summary = made_by(folder)
        own = [sets.root / f for f in s.files]
        for path in own:
            check_file(path.parent, path.name)
        shown = [(p, d) for p in own if p.suffix == ".md" for d in [_made_by_text(p)] if d is not None]
        docs += shown or [(folder / "summary.md", summary)]
        pngs += [*folder.rglob("*.png"), *(p for p in own if p.suffix == ".png")]
    for path, (command, body) in sorted(docs, key=lambda d: _path(root, d[0])):
        lines += [f"### {_path(root, path)}", "", f"Made by: `{command}`", "", body, ""]
    for png in sorted(pngs, key=lambda p: _path(root, p)):
        check_file(png.parent, png.name)
        lines += [f"![{png.stem}]({_path(root, png)})", ""]
    return lines


def render_section(sets: Manifest, root: Path, section: Section, out: Path | None = None) -> list[str]:
    """A section's lines: heading, ``Made by:`` line, the report's own figures for it (drawn into
    ``out``'s figures folder when ``out`` is given, see :data:`EXTRAS`), the folder's figures and
    its summary (or, for a folder another tool wrote, what ``section.render`` makes of it)."""
    lines = [f"{'###' if section.beyond else '##'} {section.title}", ""]
    chosen = listed(sets, root, section)
    extra = EXTRAS.get(section.folder) if out is not None else None
    if section.collection and chosen:
        return lines + (extra(sets, root, out) if extra else []) + render_collection(sets, root, section)
    if not chosen or not (sets.root / chosen[0].folder).is_dir():
        return lines + [_missing_note(sets, root, section, chosen[0] if chosen else None), ""]
    folder = sets.root / chosen[0].folder
    for name, cols in section.files.items():
        check_file(folder, name, cols)
    if section.render is not None:
        return lines + [f"Made by: {chosen[0].command or chosen[0].made_by}; files in `{_path(root, folder)}/`.",
                        "", *section.render(folder)]
    command, body = made_by(folder)
    lines += [f"Made by: `{command}` (files in `{_path(root, folder)}/`)", ""]
    lines += extra(sets, root, out) if extra else []
    for png in sorted(folder.glob("*.png")):
        check_file(folder, png.name)
        lines += [f"![{png.stem}]({_path(root, png)})", ""]
    return lines + [body, ""]


def listed_rows(sets: Manifest, root: Path, timed: bool = True) -> pd.DataFrame:
    """Every ok row (with ``timed``: ok and timed, with or without an error measured: the scaling
    studies time without a reference) of the results table of every listed set that has one, with
    a ``run`` column (the set's folder relative to ``root``); a malformed table is a ReportError,
    and folders the manifest does not list are not read."""
    frames = []
    for s in sets.sets:
        folder = sets.root / s.folder
        if not results.has_results(folder):
            continue
        check_file(folder, "results")
        df = results.read_results(folder)
        df = df[df.status == "ok"]
        if timed:
            df = df[df.time_per_matrix_s.notna()]
        if len(df):
            frames.append(df.assign(run=_path(root, folder)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def timed_tables(sets: Manifest, root: Path) -> pd.DataFrame:
    """Every ok, timed row of the results table of every listed set that has one (see :func:`listed_rows`)."""
    return listed_rows(sets, root, timed=True)


FIGURES = "report"  # the report's own figures: a folder beside REPORT.md
_FILE_DATASET = re.compile(r"^[\w-]+:")  # a dataset read from a file (paper-dir:..., npy:...)


def _figure_lines(paths: list[Path], out: Path, alt: str) -> list[str]:
    rel = [p.relative_to(out.parent).as_posix() for p in paths if p.suffix == ".png"]
    return [line for r in rel for line in (f"![{alt}]({r})", "")]


def headline(sets: Manifest, root: Path, out: Path) -> list[str]:
    """The headline section: the figure of :mod:`~matinv_bench.reporting.headline` from the
    listed ``scaling`` and ``where-can`` sets (a note naming what is missing otherwise)."""
    from matinv_bench.reporting.headline import write_headline

    lines = ["## Headline", ""]
    need = {
        name: listed(sets, root, next(s for s in SECTIONS if s.folder == name)) for name in ("scaling", "where-can")
    }
    folders = {name: sets.root / chosen[0].folder for name, chosen in need.items() if chosen}
    absent = [name for name in need if name not in folders or not folders[name].is_dir()]
    if absent:
        return lines + [f"*Missing: the headline figure needs the listed sets {' and '.join(absent)}.*", ""]
    check_file(folders["scaling"], "results")
    check_file(folders["where-can"], "results")
    paths = write_headline(folders["scaling"], folders["where-can"], out.parent / FIGURES / "headline.png")
    return lines + [f"From `{_path(root, folders['scaling'])}/` (a) and `{_path(root, folders['where-can'])}/` (b); "
                    "vector version beside it (`.svg`).", "", *_figure_lines(paths, out, "headline")]


def work_precision(sets: Manifest, root: Path, out: Path) -> list[str]:
    """The work-precision section: one figure per question (the paper's boxes, from the listed sets
    under ``paper/``; then each other timed set that is not a scaling study), at most 8 panels each,
    and the conditioning figure when a listed set sweeps kappa."""
    from matinv_bench.reporting import precision
    from matinv_bench.reporting.style import save

    lines = ["## Work-precision diagrams", ""]
    df = timed_tables(sets, root)
    if df.empty:
        return lines + ["*Missing: no listed set has a timed results table. Made by `matinv-bench run` "
                        "(or any experiment that times its cells), listed in `manifest.toml`.*", ""]
    if "solver_label" in df:  # the scaling study's rows: time against n, drawn in its own figures
        df = df[df["solver_label"].isna()]
    paper = df["run"].str.startswith("paper/")
    questions = [("work_precision", "the paper's boxes", df[paper & ~df["dataset"].str.match(_FILE_DATASET)],
                  ("box", "boxes"))]
    questions += [(f"work_precision-{run.replace('/', '-')}", f"`{run}/`", g, ("dataset", "datasets"))
                  for run, g in df[~paper].groupby("run")]
    for stem, what, rows, nouns in questions:
        rows = precision.drawable(rows)
        if rows.empty:
            continue
        runs = ", ".join(f"`{r}/`" for r in sorted(rows.run.unique()))
        lines += [f"### {what[0].upper() + what[1:]}", "",
                  f"From the timed rows of {runs} (the latest row per solver x dataset x dtype x seed; marker: "
                  "mean over seeds, bars: smallest to largest seed; untrained networks left out"
                  + ("; the authors' test files, `paper-dir:`, are in the tables" if nouns[0] == "box" else "")
                  + "); each run's command is in its `summary.md`.", ""]
        datasets = list(rows.sort_values("n")["dataset"].drop_duplicates())
        for i, chunk in enumerate(precision.chunks(datasets)):
            path = out.parent / FIGURES / f"{stem}{'' if i == 0 else f'-{i + 1}'}.png"
            paths = save(precision.work_precision_figure(rows[rows["dataset"].isin(chunk)], nouns), path)
            lines += _figure_lines(paths, out, "work-precision")
    every = precision.conditioning_rows(listed_rows(sets, root, timed=False))
    if len(every):
        paths = save(precision.conditioning_figure(every), out.parent / FIGURES / "conditioning.png")
        lines += ["### Error against conditioning", "",
                  f"From the rows of {', '.join(f'`{r}/`' for r in sorted(every.run.unique()))} whose datasets sweep "
                  "kappa.", "", *_figure_lines(paths, out, "conditioning")]
    return lines


def published_figure(sets: Manifest, root: Path, out: Path) -> list[str]:
    """Ours against the published MAE (:mod:`~matinv_bench.reporting.published`), from the table
    files (``tableK-RECIPE.csv``) and results folders of the listed sets under ``paper/``."""
    from matinv_bench.reporting import published, style

    section = next(s for s in SECTIONS if s.folder == "paper")
    tables, used = [], []
    for s in listed(sets, root, section):
        folder = sets.root / s.folder
        csvs = [sets.root / f for f in s.files if f.endswith(".csv")]
        if not folder.is_dir() or not csvs:
            continue
        check_file(folder, "results")
        for csv in csvs:
            tables.append((_check_table(csv, ("method", "dataset", "published_mae", "published_std")),
                           results.read_results(folder)))
            used.append(_path(root, csv))
    points = published.points(tables)
    if points.empty:
        return []
    paths = style.save(published.figure(points), out.parent / FIGURES / "published.png")
    return ["### Ours against the published values", "",
            f"From {', '.join(f'`{u}`' for u in used)} (the published values they cite) and each table's "
            "results folder (ours): x the paper's MAE (bar: ± its printed spread, where it prints one), y ours (mean "
            "over seeds; bar: smallest to largest seed), one marker per method and dataset, from the table of the "
            f"first recipe of {', '.join(published.RECIPES)} that has it"
            + (", on the authors' test files (`paper-dir:`) on which the published values were measured"
               if points["dataset"].str.startswith(published.AUTHORS).all() else "")
            + "; vector version beside it (`.svg`).", "", *_figure_lines(paths, out, "ours against published")]


def breakdown_figure(sets: Manifest, root: Path, out: Path) -> list[str]:
    """The theta at which each method breaks, per base (:mod:`~matinv_bench.reporting.breakdown`),
    from the listed where-can and (where listed) out-of-box sets."""
    from matinv_bench.reporting import breakdown, style

    sweeps, used = {}, []
    for folder, name in (("where-can", "fitted on its box (where-can)"),
                         ("out-of-box", "fitted at c = 1 (out-of-box)")):
        chosen = listed(sets, root, next(s for s in SECTIONS if s.folder == folder))
        path = sets.root / chosen[0].folder if chosen else None
        if path is None or not path.is_dir():
            continue
        check_file(path, "results")
        at = breakdown.break_thetas(results.read_results(path))
        if len(at):
            sweeps[name] = at
            used.append(_path(root, path))
    if not sweeps:
        return []
    paths = style.save(breakdown.figure(sweeps), out.parent / FIGURES / "breakdown.png")
    return [f"From the rows of {' and '.join(f'`{u}/`' for u in used)}: per method and base, the first θ tested at "
            f"which more than half ({BROKEN:g}) of the matrices are bad (`frac_bad`, mean over seeds; a "
            "cell that failed on every matrix counts as all bad); vector version beside it (`.svg`).", "",
            *_figure_lines(paths, out, "where each method breaks")]


EXTRAS: dict[str, Callable[[Manifest, Path, Path], list[str]]] = {
    "paper": published_figure, "where-can": breakdown_figure}  # the report's own figures, per section


def build_report(root: Path | str = "results", out: Path | str | None = None, strict: bool = False) -> Path:
    """Write the report (default ``root/REPORT.md``) from the sets ``root/manifest.toml`` lists, and
    return its path.

    Raises :class:`ReportError` for a missing results root or manifest, for a malformed or missing
    file in a listed folder, and with ``strict`` for a section with no listed folder on disk;
    :class:`~matinv_bench.errors.ManifestError` for a malformed manifest.
    """
    root = Path(root)
    out = Path(out) if out is not None else root / "REPORT.md"
    if not root.is_dir():
        raise ReportError(f"{root}: no such results folder")
    if not (root / "manifest.toml").is_file():
        raise ReportError(f"{root}: no manifest.toml; the report reads only the result sets a manifest lists "
                          "(see results/manifest.toml)")
    sets = manifest.load(root / "manifest.toml")
    missing = [s.folder for s in SECTIONS
               if not any((sets.root / r.folder).is_dir() for r in listed(sets, root, s))]
    if strict and missing:
        raise ReportError(f"{root}: missing result folders: {', '.join(missing)}")
    lines = ["# matinv-bench report", "",
             "Built by `matinv-bench report` from the result sets listed in `manifest.toml` alone; every "
             "section names the command that made its files.", ""]
    if missing:
        lines += [f"Missing sections (no folder yet): {', '.join(missing)}.", ""]
    lines += headline(sets, root, out)
    after_headline = len(lines)
    for section in SECTIONS:
        if section.beyond and section is next(s for s in SECTIONS if s.beyond):
            lines += BEYOND
        lines += render_section(sets, root, section, out)
    lines += work_precision(sets, root, out)
    # read last, placed after the headline: the sections have checked every listed file, with their messages
    lines[after_headline:after_headline] = provenance.section(sets)
    results.write_text(out, "\n".join(lines))
    return out
