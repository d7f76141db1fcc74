"""The scaling study's summary and figures: ``slopes.csv``, ``crossovers.csv``, ``summary.md``
(where and how it ran, the exponents, crossovers, the memory wall, the times, blocked Gauss-Jordan
against its targets) and the figures of :mod:`~matinv_bench.reporting.plots`, from a run folder's
rows (:func:`finish`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.analysis.scaling import BOUND_SHARE, PER_CELL, analyse, complete
from matinv_bench.errors import UserError
from matinv_bench.reporting import plots, results, summary
from matinv_bench.specs import parse_spec

TITLE = "Scaling of time, flops and memory with n"


@dataclass(frozen=True)
class Protocol:
    """What the summary says of how the sweep measured (the experiment's settings)."""

    dataset: str  # e.g. ``spd-box[n={n}]``
    batch: str  # how the batch was chosen, when it varies with n
    matmul_n: int  # the matmul probe's size
    probe_s: float  # seconds the probe is timed
    min_blocks: int  # timed blocks per timing at least


TARGET_N = 1024  # where blocked Gauss-Jordan is held to its targets: within 2x of lu, >= 50 % of the matmul peak


def _gib(x) -> str:
    return "" if pd.isna(x) else f"{float(x) / 2**30:.2f} GiB"


def memory_wall(df: pd.DataFrame) -> pd.DataFrame:
    """Per network and dtype: the largest size that ran and the first size skipped for memory."""
    out = []
    nets = df[df["solver_label"].astype(str).str.startswith("mlp")]
    for (label, dtype), g in nets.groupby(["solver_label", "dtype"], sort=False):
        ran = g[g["status"] == "ok"]
        mem = g[(g["status"] == "skipped") & g["reason"].astype(str).str.startswith("needs about")]
        first = mem.sort_values("n").iloc[0] if len(mem) else None
        out.append({"network": label, "dtype": dtype,
                    "largest n run": int(ran["n"].max()) if len(ran) else None,
                    "its weights": _gib(ran.sort_values("n")["param_bytes"].iloc[-1]) if len(ran) else "",
                    "first n skipped": int(first["n"]) if first is not None else None,
                    "weights needed": _gib(first["param_bytes"]) if first is not None else "",
                    "cell needs": _gib(first["mem_need_bytes"]) if first is not None else ""})
    return pd.DataFrame(out)


def _memory_lines(df: pd.DataFrame) -> list[str]:
    """The memory line(s) of the summary: each limit the run used (host, and GPU on CUDA)."""
    mem = df.dropna(subset=["memory_limit_bytes"])
    where = np.where(mem["device"].astype(str).str.startswith("cuda"), "GPU", "host")
    limits = mem.groupby(where, sort=True)[["memory_total_bytes", "memory_limit_bytes"]].first()
    return [f"- memory{'' if len(limits) == 1 else ' (' + w + ')'}: {_gib(r.memory_total_bytes)} in total; "
            f"cells needing more than {_gib(r.memory_limit_bytes)} were skipped, not run"
            for w, r in limits.iterrows()]


def load_lines(df: pd.DataFrame) -> list[str]:
    """The summary's lines on how loaded the machine was (the runner's load columns; older runs
    recorded only ``loadavg_1m``)."""
    cols = [c for c in ("loadavg_1m_before", "loadavg_1m_after", "loadavg_1m") if c in df and df[c].notna().any()]
    if not cols:
        return []
    loads = df[cols].stack()
    lines = [f"- load average (1 min) of the machine before and after the cells: {loads.min():.2f} to "
             f"{loads.max():.2f}, median {loads.median():.2f}"]
    ran = df[df["status"] == "ok"]
    if "load_above_threads" in df and ran["load_above_threads"].notna().any():
        over = ran["load_above_threads"].fillna(False).astype(bool)
        lines[0] += (f"; {int(over.sum())} of {len(ran)} measured cells ran while the load exceeded the thread "
                     "count (column `load_above_threads`: other work shared the cores)")
    if "other_cores_busy" in df and ran["other_cores_busy"].notna().any():
        busy = ran["other_cores_busy"]
        lines.append(f"- cores kept busy by other processes during a cell (`other_cores_busy`): median "
                     f"{busy.median():.2f}, max {busy.max():.2f}")
    return lines


def _per_cell(ok: pd.DataFrame) -> bool:
    """Whether the rows' matmul probes ran right after each cell (else once per process: older runs)."""
    return "peak_probe" in ok and bool((ok["peak_probe"] == PER_CELL).any())


def _peak_lines(ok: pd.DataFrame, protocol: Protocol) -> list[str]:
    """The matmul probes of the run: right after every cell, or (older runs) one per library, dtype
    and device in each repetition's process."""
    if not len(ok) or not ok["peak_gflops"].notna().any():
        return []
    if _per_cell(ok):
        parts = []
        for (library, dtype, device), g in ok.dropna(subset=["peak_gflops"]).groupby(["library", "dtype", "device"],
                                                                                      sort=False):
            per_rep = g.groupby("repeat")["peak_gflops"].median()
            parts.append(f"{library} {dtype} {device}: median {g['peak_gflops'].median():.1f} "
                         f"[{g['peak_gflops'].min():.1f}, {g['peak_gflops'].max():.1f}] over {len(g)} cells; "
                         "median per repetition " + ", ".join(f"{v:.1f}" for v in per_rep))
        return [
            f"Matmul probe ({protocol.matmul_n} x {protocol.matmul_n}, GFLOP/s), {protocol.probe_s:g} s timed right "
            "after every cell in "
            "the cell's process: " + "; ".join(parts) + ". A row's `peak_fraction` is its GFLOP/s over its own "
            "probe, taken in the same minute: a machine that slows down slows both.",
            "",
        ]
    probes = ok.dropna(subset=["peak_gflops"]).groupby(["library", "dtype", "device", "repeat"])["peak_gflops"].first()
    parts = []
    for (library, dtype, device), p in probes.groupby(level=[0, 1, 2], sort=False):
        values = ", ".join(f"{v:.1f}" for v in p)
        parts.append(f"{library} {dtype} {device}: {values}" + (f" (best {p.max():.1f})" if len(p) > 1 else ""))
    return [
        f"Matmul probe ({protocol.matmul_n} x {protocol.matmul_n}, GFLOP/s), measured once in each repetition's "
        "process, in "
        "repetition order: " + "; ".join(parts) + ". A row's `peak_fraction` is its GFLOP/s over the probe "
        "of its own repetition and library; on a shared machine one probe can catch a busy moment that the "
        "cells around it do not (a fraction above 100 % means the probe read low).",
        "",
    ]


def gj_note(per_cell: bool) -> str:
    probe = "the probe taken right after the cell" if per_cell else "the repetition's own matmul probe"
    return ("Targets, as ratios within each repetition (same process, same minutes): time within 2x of `lu` (the same "
            "library's LAPACK) and at least 50 % of the matmul peak; the ratio to `torch-inv` for reference. Each "
            f"cell: median over the repetitions [lowest, highest]. `% of probe` uses {probe}, `% of best probe` the "
            "best probe of the whole run (the stricter reading). `time vs smaller block`: the time over that of the "
            "next smaller block measured (below 1: the larger block is faster).")


def _median_range(x: pd.Series, fmt: str = ".2f") -> str:
    return f"{x.median():{fmt}} [{x.min():{fmt}}, {x.max():{fmt}}]" if x.notna().any() else ""


def gauss_jordan_targets(ok: pd.DataFrame, n: int = TARGET_N) -> pd.DataFrame:
    """Each Gauss-Jordan variant at size ``n`` (float64) against ``lu`` and ``torch-inv`` of the
    same repetition, and against the matmul probes: its targets, as ratios measured in one
    run. Empty without Gauss-Jordan or ``lu`` rows at ``n``."""
    d = ok[(ok["n"] == n) & (ok["dtype"] == "float64")]
    t = d.pivot_table(index="repeat", columns="solver_label", values="time_per_matrix_s", aggfunc="median")
    labels = [lab for lab in t.columns if str(lab).startswith("gauss-jordan")]
    if "lu" not in t or not labels:
        return pd.DataFrame()
    best = ok.groupby("library")["peak_gflops"].max()
    params = {lab: parse_spec(lab)[1] for lab in labels}
    backend = {lab: p.get("backend", "numpy") for lab, p in params.items()}
    block = {lab: float(p.get("block", 0)) for lab, p in params.items()}

    rows = []
    for label in sorted(labels, key=lambda lab: (backend[lab], block[lab])):
        g = d[d["solver_label"] == label].set_index("repeat")
        lib = g["library"].iloc[0]
        row = {"solver_label": label, "repetitions": len(g),
               "time / lu": _median_range(t[label] / t["lu"]),
               "time / torch-inv": _median_range(t[label] / t["torch-inv"]) if "torch-inv" in t else "",
               "% of probe": _median_range(100 * g["peak_fraction"], ".0f"),
               "% of best probe": _median_range(100 * g["gflops"] / best.get(lib, np.nan), ".0f")}
        same = [lab for lab in labels if backend[lab] == backend[label] and 0 < block[lab] < block[label]]
        smaller = max(same, key=block.get) if same else None
        row["time vs smaller block"] = (f"{_median_range(t[label] / t[smaller])} ({smaller})" if smaller else "")
        rows.append(row)
    return pd.DataFrame(rows)


def _protocol_line(df: pd.DataFrame, protocol: Protocol) -> str:
    reps = int(df["repeat"].max()) + 1 if len(df) else 0
    blocks = df["timing_blocks"].dropna() if "timing_blocks" in df else pd.Series(dtype=float)
    budget = df["reason"].astype(str).str.contains("--cell-budget").sum()
    return (
        f"- protocol: {reps} repetition{'s' if reps != 1 else ''} of the sweep, each in a fresh process; at each "
        "size the solvers take turns (round robin, starting one later each repetition); every time is the median "
        f"of at least {protocol.min_blocks} timed blocks"
        + (f" (fewest here: {int(blocks.min())})" if len(blocks) else "")
        + f"; {budget} cells skipped for the cell budget (estimated from the previous size)"
    )


def exponent_text(row) -> str:
    """``3.91 [3.86, 4.39] over n = 16-48``, or why there is none."""
    if not np.isfinite(row["slope"]):
        return "no range of 3 sizes"
    ci = f"[{row['ci_lo']:.2f}, {row['ci_hi']:.2f}]" if np.isfinite(row["ci_lo"]) else "[no interval]"
    return f"{row['slope']:.2f} {ci} over n = {int(row['fit_n_lo'])}-{int(row['fit_n_hi'])}"


def exponent_table(slopes: pd.DataFrame) -> pd.DataFrame:
    """One line per solver label, dtype and device: its exponent over each range, and the flop
    count's over the compute-bound one."""
    lines = []
    for (label, dtype, device), g in slopes.groupby(["solver_label", "dtype", "device"], sort=False):
        by = g.set_index("fit_range")
        line = {"solver": label, "dtype": dtype, "device": device}
        for rng, name in (("common", "common"), ("bound", "compute-bound"), ("own", "own")):
            line[name] = exponent_text(by.loc[rng]) if rng in by.index else ""
            if rng == "bound":
                f = by.loc[rng, "flops_exponent"] if rng in by.index and "flops_exponent" in by else np.nan
                line["flop count's, same sizes"] = f"{f:.2f}" if np.isfinite(f) else ""
        lines.append(line)
    return pd.DataFrame(lines)


def write_summary(df: pd.DataFrame, slopes: pd.DataFrame, cross: pd.DataFrame, out: Path, command: str,
                  protocol: Protocol) -> Path:
    """``summary.md``: where and how it ran, slopes, crossovers, the memory wall, the times."""
    ok = df[df["status"] == "ok"]
    devices = sorted(d for d in df["device"].dropna().astype(str).unique() if d)
    lines = [
        f"- devices: {', '.join(devices)}"
        + ("" if any(d.startswith("cuda") for d in devices) else " (CPU only)"),
        *_memory_lines(df),
        f"- data: `{protocol.dataset}` (SPD box, kappa about 10); batch: "
        + (f"{int(df['batch'].iloc[0])} for every cell" if df["batch"].nunique() == 1 else protocol.batch)
        + ", the same for every solver at each n (column `batch`); "
        f"{len(df)} rows: " + ", ".join(f"{(df['status'] == s).sum()} {s}" for s in results.STATUSES),
        _protocol_line(df, protocol),
        *load_lines(df),
    ]
    lines.append("")
    lines += _peak_lines(ok, protocol)
    if len(slopes):
        s = slopes.copy()
        env = df.dropna(subset=["cpu"]).iloc[0] if "cpu" in df and df["cpu"].notna().any() else {}
        machine = (f"{env.get('cpu', 'this CPU')} ({env.get('host', '')}), {env.get('threads', '?')} threads, "
                   f"BLAS {env.get('blas', '?')}")
        methods = sorted({m for m in s["ci_method"].astype(str) if m})
        lines += ["## Effective exponents on this machine", "",
                  f"Slopes of log time per matrix on log n measured on {machine}: effective exponents of this "
                  "machine, its BLAS and these sizes, not asymptotic complexities. Each is fitted over the sizes "
                  "its column names: `common`, the sizes every solver ran (the families like for like); "
                  "`compute-bound`, the sizes at which every solver of its family (classical, matmul-only, "
                  f"networks) runs at {BOUND_SHARE:.0%} or more of its own best GFLOP/s, beside the exponent of its "
                  "model flop count over the same sizes (what a compute-bound method's time follows: 4 for a dense "
                  "layer of width K n^2, 3 for LU); `own`, the larger half of the sizes it ran. 95 % intervals: "
                  + "; ".join(methods) + ".", "", exponent_table(s).to_markdown(index=False), ""]
    if len(cross):
        lines += ["## Crossovers: the size from which each network is slower", "",
                  "`all n`: slower at every size both ran; `none`: not slower at the largest size both ran.", "",
                  cross[["network", "baseline", "dtype", "device", "text"]]
                  .rename(columns={"text": "slower from n ="}).to_markdown(index=False), ""]
    wall = memory_wall(df)
    if len(wall):
        lines += ["## Where the networks' weights stop fitting", "", wall.to_markdown(index=False), ""]
    if len(ok):
        keys = ["solver_label", "dtype", "device", "n"]
        median = ok.groupby(keys, sort=False).median(numeric_only=True).reset_index()  # over the repetitions
        median = median.merge(ok.groupby(keys, sort=False)["peak_mem_kind"].first().reset_index(), on=keys)
        last = median.sort_values("n").groupby(["solver_label", "dtype", "device"], sort=False).tail(1).copy()
        last["% of matmul peak"] = 100 * last["peak_fraction"]
        last["peak memory"] = last["peak_mem_bytes"].map(_gib) + " (" + last["peak_mem_kind"].astype(str) + ")"
        last["h2d_s_per_matrix"] = last["h2d_s_per_matrix"].map(lambda x: "" if pd.isna(x) else f"{x:.3g}")
        lines += ["## At the largest size each solver ran", "",
                  last[["solver_label", "dtype", "device", "n", "batch", "time_per_matrix_s", "gflops",
                        "% of matmul peak", "peak memory", "h2d_s_per_matrix"]]
                  .to_markdown(index=False, floatfmt=".3g", missingval=""), ""]
        t = ok.pivot_table(index="n", columns="solver_label", values="time_per_matrix_s", aggfunc="median")
        lines += ["## Time per matrix (s, median over the repetitions of each cell's median block)", "",
                  t.to_markdown(floatfmt=".3g"), ""]
        g = ok.pivot_table(index="n", columns="solver_label", values="gflops", aggfunc="median")
        lines += ["## Achieved GFLOP/s (model flops: `matinv_bench/solvers/flops.py`)", "",
                  g.to_markdown(floatfmt=".3g"), ""]
        if ok["ns_per_flop"].notna().any():
            f = ok.pivot_table(index="n", columns="solver_label", values="ns_per_flop", aggfunc="median")
            lines += ["## Nanoseconds per model flop", "", f.to_markdown(floatfmt=".3g"), ""]
    gj = gauss_jordan_targets(ok)
    if len(gj):
        lines += [f"## Blocked Gauss-Jordan against its targets (n = {TARGET_N})", "", gj_note(_per_cell(ok)), "",
                  gj.to_markdown(index=False), ""]
    other = df[df["status"] != "ok"]
    if len(other):
        r = other.groupby(["solver_label", "status", "reason"], sort=False)["n"].agg(
            lambda v: ", ".join(str(int(x)) for x in sorted(v))).reset_index()
        r["reason"] = r["reason"].astype(str).str.replace(r"\(\d+ bytes\)", "", regex=True).str.slice(0, 110)
        lines += ["## Skipped and failed cells", "", r.to_markdown(index=False), ""]
    return summary.write(out, df, TITLE, command, lines)


def read_rows(out: Path) -> pd.DataFrame:
    """The rows of a scaling run folder; UserError for a folder without them or of another command."""
    path = out / "results.parquet"
    if not path.is_file():
        raise UserError(f"no results.parquet in {str(out)!r}")
    df = pd.read_parquet(path)
    if "solver_label" not in df:
        raise UserError(f"{str(out)!r} is not a scaling run: its rows have no solver_label column "
                        "(made by `matinv-bench run`?); give a folder made by `matinv-bench scaling`")
    return df


def finish(out: Path, command: str, protocol: Protocol, fit_from: int | None = None,
           df: pd.DataFrame | None = None) -> list[Path]:
    """Analyse the rows of the run in ``out`` (``df``, else its ``results.parquet``) and write
    ``slopes.csv``, ``crossovers.csv``, ``summary.md`` and the figures; returns what was written."""
    df = complete(read_rows(out) if df is None else df)
    slopes, cross = analyse(df, fit_from)
    results.atomic_write(out / "slopes.csv", lambda tmp: slopes.to_csv(tmp, index=False))
    results.atomic_write(out / "crossovers.csv", lambda tmp: cross.to_csv(tmp, index=False))
    text = write_summary(df, slopes, cross, out, command, protocol)
    return [out / "slopes.csv", out / "crossovers.csv", text, *plots.scaling_figures(out, df)]
