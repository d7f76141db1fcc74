"""Every figure, rendered from small fixture result files, checked from matplotlib's artists:
panels, legend entries, no two texts overlapping, nothing outside the figure, untrained networks
never in an accuracy plot, the memory wall where the rows put it; files: PNG within the size
budget with an SVG twin. The titles follow the numbers."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matinv_bench.cli import main
from matinv_bench.experiments import where_can, why_cant
from matinv_bench.reporting import breakdown, headline, plots, precision, published, results, style
from matinv_bench.reporting.report import build_report

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30


# --- fixture rows ---------------------------------------------------------------------------

def row(solver, family, dataset, n, **kw):
    base = {"solver": solver, "family": family, "dataset": dataset, "n": n, "dtype": "float64", "device": "cpu",
            "seed": 0, "status": "ok", "reason": "", "timestamp": "2026-01-01T00:00:00+00:00", "params": "{}"}
    return {**base, **kw}


def paper_rows() -> pd.DataFrame:
    """Two boxes and an authors' file: classical, matmul-only, two trained nets (3 seeds), and an untrained one."""
    rows = []
    for dataset, n, scale in (
        ("paper-2x2-1st", 2, 1.0),
        ("paper-3x3", 3, 3.0),
        ("paper-dir:x/matrix_2_dataset", 2, 1.0),
    ):
        for seed in range(3):
            def add(solver, family, mae, t):
                rows.append(row(solver, family, dataset, n, seed=seed, mae=mae * scale * (1 + 0.05 * seed),
                                time_per_matrix_s=t * (1 + 0.1 * seed)))
            add("lu", "direct", 2e-16, 1e-6)
            add("linear-approx", "approximation", 2e-4, 2e-8)
            add("neumann[order=2]", "approximation", 4e-6, 3e-8)
            add("newton-schulz[init=base,steps=2]", "iterative", 9e-8, 4e-8)
            add(f"mlp-2fc[recipe=fast,seed={seed}]", "learned", 1.2e-5, 4e-8)
            add(f"mlp-3fc[recipe=quick,seed={seed}]", "learned", 3e-5, 9e-8)
            add(f"mlp-2fc[recipe=none,seed={seed}]", "learned", 1.0, 3e-8)  # untrained: timing only
    return results.to_frame(rows)


def scaling_rows() -> pd.DataFrame:
    """The scaling study's columns: seven solvers, n = 2..64, two networks skipped for memory."""
    limit, rows = 4 * GIB, []
    solvers = (("lu", "direct", "numpy", 3), ("torch-inv", "direct", "torch", 3), ("qr", "direct", "numpy", 3),
               ("gauss-jordan", "direct", "numpy", 3), ("neumann[order=3]", "approximation", "torch", 3),
               ("mlp-2fc[hidden=2n^2,recipe=none]", "learned", "torch", 4),
               ("mlp-3fc[hidden=8n^2,recipe=none]", "learned", "torch", 4))
    for label, family, library, p in solvers:
        for n in (2, 4, 8, 16, 32, 64):
            flops = 2.0 * n**p
            need = (10_000 if label.startswith("mlp-3") else 1_000) * n**4 if p == 4 else 32 * n * n
            r = row(label, family, f"spd-box[n={n}]", n, solver_label=label, library=library, batch=32,
                    flops_per_matrix=flops, mem_need_bytes=float(need), memory_limit_bytes=float(limit),
                    memory_total_bytes=float(16 * GIB), param_bytes=float(need / 2) if p == 4 else np.nan,
                    peak_gflops=100.0 if library == "numpy" else 80.0, mae=1.0 if p == 4 else 1e-15)
            if need > limit:
                r.update(status="skipped", reason=f"needs about {need / GIB:.2f} GiB ({need} bytes) for weights, "
                                                  f"batch and data; the limit is 4.00 GiB ({limit} bytes)")
            else:
                r.update(time_per_matrix_s=flops * 1e-10 * (1 + 1 / n), gflops=10.0)
            rows.append(r)
    return results.to_frame(rows)


def scaling_slopes(net: float = 4.2, lu: float = 2.3) -> pd.DataFrame:
    """Compute-bound exponents (``fit_range`` bound): networks over n = 8-32, the classical over 16-64."""
    labels = scaling_rows()["solver_label"].unique()
    mlp = [str(lab).startswith("mlp") for lab in labels]
    return pd.DataFrame({"solver_label": labels, "dtype": "float64", "device": "cpu", "fit_range": "bound",
                         "slope": [net if m else lu for m in mlp], "fit_n_lo": [8 if m else 16 for m in mlp],
                         "fit_n_hi": [32 if m else 64 for m in mlp],
                         "flops_exponent": [4.0 if m else 3.0 for m in mlp]})


THETAS = (0.1, 0.5, 0.9, 1.2, 2.0)


def where_rows(network_breaks: bool = True) -> pd.DataFrame:
    """The box sweep around two bases; linear-approx and neumann[order=1] identical; one untrained net."""
    rows = []
    for base in ("paper-2x2-1st", "paper-3x3"):
        for theta in THETAS:
            def add(solver, family, mae, bad):
                rows.append(row(solver, family, f"box[base={base},eps={theta}]", 2, base=base, theta=theta,
                                mae=mae, frac_bad=bad, threshold=0.01))
            lin = 1e-3 * theta**2
            add("lu", "direct", 2e-16, 0.0)
            add("linear-approx", "approximation", lin, float(theta > 0.4))
            add("neumann[order=1]", "approximation", lin, float(theta > 0.4))
            add("neumann[order=2]", "approximation", 1e-5 * theta**3, float(theta > 1))
            broken = network_breaks and theta > 1
            add("mlp-2fc[recipe=quick]", "learned", 5.0 if broken else 3e-4 * theta, 0.99 if broken else 0.01)
            add("mlp-2fc[recipe=none]", "learned", 50.0, 1.0)
    return results.to_frame(rows)


def conditioning_rows() -> pd.DataFrame:
    rows = []
    for cond in (1e2, 1e6, 1e10, 1e14):
        for seed in range(2):
            def add(solver, family, ratio, residual):
                rows.append(row(solver, family, f"randsvd[n=8,cond={cond:g}]", 8, seed=seed, kappa_median=cond,
                                rel_err_over_kappa_u=ratio * (1 + seed), residual_ratio=residual, mae=1e-3,
                                rel_fro_err=ratio * (1 + seed) * cond * 1.1e-16, time_per_matrix_s=1e-6))
            add("lu", "direct", 0.5, 2.0)
            add("gauss-jordan", "direct", 0.8, 5.0)
            add("newton-schulz[steps=40,init=scaled]", "iterative", 40.0, 1e3)
            add("mlp-2fc[recipe=none]", "learned", 1e6, 1e9)
    return results.to_frame(rows)


def per_matrix() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    sigma = 10.0 ** rng.uniform(-5, 0, 400)
    frames = [
        pd.DataFrame(
            {
                "solver": s,
                "dataset": "uniform[n=2]",
                "sigma_min": sigma,
                "mae": err,
                "rel_fro_err": err,
                "failed": False,
            }
        )
        for s, err in (
            ("lu", 1e-16 / sigma),
            ("mlp-2fc[recipe=quick]", 1 + sigma),
            ("mlp-2fc[recipe=none]", 1e3 + sigma),
        )
    ]
    return pd.concat(frames, ignore_index=True)


def moments() -> pd.DataFrame:
    """Stratum contributions ~ t^(1-K): they stop shrinking toward the singular set from K = 1, for every F."""
    rows = []
    for F, r, K, rep, j in itertools.product(("zero", "mlp-2fc[recipe=quick]", "mlp-2fc[recipe=none]"), (0.01, 0.1),
                                             (0.5, 1.0, 2.0), range(2), range(8)):
        t_lo, t_hi = (0.0, 1e-8) if j == 0 else (10.0 ** (j - 9), 10.0 ** (j - 8))
        rows.append({"F": F, "r": r, "K": K, "replicate": rep, "stratum": j, "t_lo": t_lo, "t_hi": t_hi, "p": 0.1,
                     "contribution": max(t_hi, 1e-9) ** (1 - K)})
    return pd.DataFrame(rows)


# --- checks from the artists ----------------------------------------------------------------

def _in_view(axis, loc: float) -> bool:
    lo, hi = sorted(axis.get_view_interval())
    return lo - 1e-9 * abs(lo) <= loc <= hi + 1e-9 * abs(hi)


def visible_texts(fig) -> list:
    """Every text the figure draws: tick labels of ticks in view, axis labels, titles, the
    suptitle, legend texts and titles, and annotations."""
    texts = [fig._suptitle] if fig._suptitle is not None else []
    for legend in fig.legends:
        texts += [legend.get_title(), *legend.get_texts()]
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for ticks in (axis.get_major_ticks(), axis.get_minor_ticks()):
                texts += [t.label1 for t in ticks if t.label1.get_visible() and _in_view(axis, t.get_loc())]
            texts.append(axis.label)
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        if ax.get_legend() is not None:
            texts += [ax.get_legend().get_title(), *ax.get_legend().get_texts()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def check_figure(fig, max_panels: int = style.MAX_PANELS) -> list:
    """Drawn once: 1 to ``max_panels`` panels, at most 12 legend entries, no two texts and no two
    legends overlapping, every text inside the figure, a title. Returns the panels."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.has_data()]
    assert 1 <= len(panels) <= max_panels
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert sum(len(lg.get_texts()) for lg in legends) <= style.MAX_LEGEND
    assert fig._suptitle is not None and title(fig)
    texts = visible_texts(fig)
    boxes = [t.get_window_extent(renderer).expanded(1, 1).padded(-0.5) for t in texts]
    page = fig.bbox.padded(1)
    for t, b in zip(texts, boxes):
        assert page.x0 <= b.x0 and b.x1 <= page.x1 and page.y0 <= b.y0 and b.y1 <= page.y1, \
            f"{t.get_text()!r} leaves the figure"
    for (t1, b1), (t2, b2) in itertools.combinations(zip(texts, boxes), 2):
        assert not b1.overlaps(b2), f"{t1.get_text()!r} overlaps {t2.get_text()!r}"
    for l1, l2 in itertools.combinations(legends, 2):  # side by side, a legend's handles clear of the next one
        assert not l1.get_window_extent(renderer).overlaps(l2.get_window_extent(renderer)), "two legends overlap"
    for ax in panels:  # every axis has a label (shared axes: the bottom row's x, the first column's y)
        spec = ax.get_subplotspec()
        if spec is None:
            continue
        assert ax.get_xlabel() or not spec.is_last_row() or ax.get_shared_x_axes().get_siblings(ax) == [ax]
        if spec.is_first_col():
            assert ax.get_ylabel()
    return panels


def gids(ax) -> list[str]:
    return [a.get_gid() for a in ax.get_children() if a.get_gid()]


def no_untrained(panels, y_below: float) -> None:
    """No artist of an untrained network, and no data point at its (planted, large) error."""
    for ax in panels:
        assert not [g for g in gids(ax) if "recipe=none" in g]
        for line in ax.get_lines():
            y = np.asarray(line.get_ydata(), dtype=float)
            if line.get_gid() and y.size and line.get_transform() == ax.transData:
                assert np.nanmax(y) < y_below, line.get_gid()


def vertical_at(ax, x: float) -> bool:
    """Whether the panel has a guide line (no gid) drawn at ``x`` from bottom to top."""
    return any(line.get_transform() != ax.transData and np.allclose(np.asarray(line.get_xdata(), float), x)
               for line in ax.get_lines() if not line.get_gid())


def title(fig) -> str:
    return fig._suptitle.get_text().replace("\n", " ")


def close(fig):
    style.plt.close(fig)


# --- each figure ----------------------------------------------------------------------------

def test_work_precision_aggregates_seeds_groups_the_legend_and_drops_untrained_nets():
    df = paper_rows()
    fig = precision.work_precision_figure(df[~df.dataset.str.startswith("paper-dir")], ("box", "boxes"))
    panels = check_figure(fig)
    assert [ax.get_title("left") for ax in panels] == ["paper-2x2-1st", "paper-3x3"]
    no_untrained(panels, y_below=0.5)
    # one marker per method and recipe, at the mean over its 3 seeds, bars from the smallest to the largest
    ax = panels[0]
    points = [line for line in ax.get_lines() if line.get_gid()]
    assert sorted(line.get_gid() for line in points) == sorted(
        ["lu", "linear-approx", "neumann[order=2]", "newton-schulz[init=base,steps=2]", "mlp-2fc[recipe=fast]",
         "mlp-3fc[recipe=quick]"])
    lu = next(line for line in points if line.get_gid() == "lu")
    assert lu.get_ydata()[0] == pytest.approx(2e-16 * 1.05)
    # one legend per family, titled, side by side: classical, matmul-only, networks
    assert [lg.get_title().get_text() for lg in fig.legends] == ["classical", "matmul-only", "networks"]
    labels = [[t.get_text() for t in lg.get_texts()] for lg in fig.legends]
    assert labels[0] == ["LU"] and labels[1][0] == "linear approx."
    assert labels[2] == ["2-FC", "3-FC", "network, recipe quick", "network, recipe fast"]
    assert title(fig).startswith("On every box, a matmul-only method")
    close(fig)


def test_work_precision_writes_the_recipes_as_one_entry_when_every_method_would_not_fit_otherwise():
    df = paper_rows()
    extra = [df[df.solver == "neumann[order=2]"].assign(solver=f"neumann[order={k}]") for k in range(3, 8)]
    df = pd.concat([df, *extra], ignore_index=True)  # 11 methods drawn, 2 recipes: 13 entries the long way
    fig = precision.work_precision_figure(df[df.dataset == "paper-3x3"])
    check_figure(fig)
    labels = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert "network recipe: ● quick, ■ fast" in labels and not any(lab.startswith("network, recipe") for lab in labels)
    assert {"Neumann, order=7", "2-FC", "3-FC", "LU"} <= set(labels)  # every method keeps its entry
    close(fig)


def test_work_precision_writes_the_recipes_in_a_title_when_the_methods_fill_the_legend():
    df = paper_rows()
    extra = [df[df.solver == "neumann[order=2]"].assign(solver=f"neumann[order={k}]") for k in range(3, 9)]
    df = pd.concat([df, *extra], ignore_index=True)  # 12 methods drawn: not even one entry for the recipes fits
    fig = precision.work_precision_figure(df[df.dataset == "paper-3x3"])
    check_figure(fig)
    labels = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    titles = [lg.get_title().get_text() for lg in fig.legends]
    assert len(labels) == 12 and {"Neumann, order=8", "2-FC", "3-FC", "LU"} <= set(labels)
    assert not any("recipe" in lab for lab in labels)
    assert any("recipe: ● quick, ■ fast" in t for t in titles), titles
    close(fig)


def test_work_precision_title_follows_the_numbers():
    df = paper_rows()
    df.loc[df.solver.str.startswith("mlp-2fc[recipe=fast"), "mae"] = 1e-12  # a network better than every series
    fig = precision.work_precision_figure(df[df.dataset == "paper-3x3"])
    assert title(fig).startswith("No matmul-only method")
    close(fig)


def test_work_precision_refuses_more_panels_than_fit():
    df = pd.concat([paper_rows().assign(dataset=f"paper-2x2-1st-{i}", rel_fro_err=1e-3) for i in range(9)])
    with pytest.raises(ValueError, match="9 panels"):
        precision.work_precision_figure(df)
    assert [len(c) for c in precision.chunks(list(range(19)))] == [8, 8, 3]


def test_conditioning_figure_from_a_kappa_sweep():
    df = conditioning_rows()
    assert len(precision.conditioning_rows(df.assign(dataset="randsvd[n=8,cond=10]"))) == 0  # one kappa: no sweep
    fig = precision.conditioning_figure(df)
    panels = check_figure(fig, max_panels=2)
    assert len(panels) == 2
    no_untrained(panels, y_below=1e5)
    assert {g for ax in panels for g in gids(ax)} == {"lu", "gauss-jordan", "newton-schulz[steps=40,init=scaled]"}
    assert title(fig) == ("Forward error within 10 κu at every κ for LU, Gauss-Jordan; above it for "
                                        "Newton-Schulz, steps=40, init=scaled")
    assert panels[0].get_xlabel().startswith("κ") and panels[1].get_ylabel()
    close(fig)


def test_scaling_time_figure_colours_families_and_marks_the_memory_wall():
    rows = scaling_rows()
    wall = plots.memory_wall(rows).set_index("solver_label")
    assert wall["first_skipped"].to_dict() == {"mlp-2fc[hidden=2n^2,recipe=none]": 64,
                                               "mlp-3fc[hidden=8n^2,recipe=none]": 32}
    assert wall.loc["mlp-3fc[hidden=8n^2,recipe=none]", "last_run"] == 16
    fig = plots.time_figure(rows, scaling_slopes(), "float64", "cpu")
    time_ax, flop_ax = check_figure(fig, max_panels=2)
    marks = {line.get_gid().split(":", 1)[1]: line.get_xdata()[0] for line in time_ax.get_lines()
             if str(line.get_gid()).startswith("memory-wall:")}
    assert marks == wall["first_skipped"].to_dict()
    colour = {line.get_gid(): line.get_color() for line in time_ax.get_lines() if line.get_gid()}
    blue, green, red = (lambda c: c[2] > max(c[0], c[1]), lambda c: c[1] > max(c[0], c[2]),
                        lambda c: c[0] > max(c[1], c[2]))
    assert blue(colour["lu"]) and blue(colour["qr"]) and green(colour["neumann[order=3]"])
    assert red(colour["mlp-2fc[hidden=2n^2,recipe=none]"])
    # (b) time per model flop, in ns
    lu = next(line for line in flop_ax.get_lines() if line.get_gid() == "lu")
    ok = rows[(rows.solver_label == "lu") & (rows.status == "ok")].sort_values("n")
    np.testing.assert_allclose(lu.get_ydata(), ok.time_per_matrix_s / ok.flops_per_matrix * 1e9)
    assert "ns/flop" in flop_ax.get_ylabel() and "(s" in time_ax.get_ylabel()
    assert title(fig).startswith("Where compute-bound, a network's time grows as $n^{4.2}$ (n = 8-32, flops $n^{4}$), "
                                 "LU's as $n^{2.3}$ (n = 16-64, flops $n^{3}$)")
    close(fig)


def test_scaling_time_figure_without_networks_says_how_far_the_solvers_are_from_lu():
    rows = scaling_rows()
    rows = rows[~rows["solver_label"].str.startswith("mlp")]
    rows.loc[rows["solver_label"] == "qr", "time_per_matrix_s"] *= 3.0  # qr 3x lu's time, gauss-jordan equal
    fig = plots.time_figure(rows, scaling_slopes(), "float64", "cpu")
    check_figure(fig, max_panels=2)
    # torch-inv has lu's fixture times: fastest at 1.00x; the largest n lu and another solver both ran is 64
    assert title(fig).startswith("At n = 64, every solver runs within 3.00x of LU's time (fastest: ")
    assert "1.00x)" in title(fig)
    close(fig)


def test_scaling_figures_write_png_and_svg(tmp_path):
    results.write_tables(scaling_rows(), tmp_path)
    scaling_slopes().to_csv(tmp_path / "slopes.csv", index=False)
    written = plots.scaling_figures(tmp_path)
    assert sorted(p.name for p in written) == ["mlp_memory-float64.png", "mlp_memory-float64.svg",
                                               "time_vs_n-float64-cpu.png", "time_vs_n-float64-cpu.svg"]
    for p in written:
        assert p.stat().st_size <= style.MAX_PNG_BYTES if p.suffix == ".png" else p.read_text().startswith("<?xml")
    fig = plots.memory_figure(scaling_rows().query("solver_label.str.startswith('mlp')"), "float64")
    check_figure(fig, max_panels=1)
    assert title(fig).startswith("From n = 32")
    close(fig)


def test_headline_figure_and_its_finding():
    fig = headline.headline_figure(scaling_rows(), scaling_slopes(), where_rows())
    time_ax, error_ax = check_figure(fig, max_panels=2)
    no_untrained([error_ax], y_below=10)
    assert "n (matrix size)" in time_ax.get_xlabel() and "θ" in error_ax.get_xlabel()
    assert set(gids(error_ax)) == {"linear-approx", "neumann[order=2]", "mlp-2fc[recipe=quick]"}  # order 1 merged
    assert "linear approx. = Neumann, order=1" in [t.get_text() for t in error_ax.get_legend().get_texts()]
    assert any(line.get_xdata()[0] == 1.0 for line in error_ax.get_lines() if not line.get_gid())  # theta = 1
    assert {g for g in gids(time_ax) if g.startswith("memory-wall")} == {
        "memory-wall:mlp-2fc[hidden=2n^2,recipe=none]", "memory-wall:mlp-3fc[hidden=8n^2,recipe=none]"}
    assert title(fig) == ("Where compute-bound, networks' time grows as $n^{4.2}$ (LU's: $n^{2.3}$), and past θ = 1 "
                          "they fail, as every series does")
    close(fig)
    fig = headline.headline_figure(scaling_rows(), scaling_slopes(net=2.0), where_rows(network_breaks=False))
    assert title(fig).startswith("Where compute-bound, networks' time grows no faster than LU's")
    assert title(fig).endswith("they hold past θ = 1 in these rows")
    close(fig)


def test_headline_draws_one_curve_per_network_over_its_seeds():
    where = where_rows()
    net = where[where.solver == "mlp-2fc[recipe=quick]"]
    seeds = [net.assign(solver=f"mlp-2fc[recipe=quick,seed={k}]", seed=k, mae=net.mae * (k + 1)) for k in range(3)]
    where = pd.concat([where[where.solver != "mlp-2fc[recipe=quick]"], *seeds], ignore_index=True)
    fig = headline.headline_figure(scaling_rows(), scaling_slopes(), where)
    _, error_ax = check_figure(fig, max_panels=2)
    assert [g for g in gids(error_ax) if g.startswith("mlp")] == ["mlp-2fc[recipe=quick]"]
    line = next(ln for ln in error_ax.get_lines() if ln.get_gid() == "mlp-2fc[recipe=quick]")
    assert line.get_ydata()[0] == pytest.approx(2 * 3e-4 * THETAS[0])  # the mean of 1, 2 and 3 times the error
    close(fig)


def test_headline_finding_without_lu_s_exponent_is_one_sentence():
    assert headline.finding(4.0, np.nan, True, True) == ("Where compute-bound, networks' time grows as $n^{4.0}$, and "
                                                         "past θ = 1 they fail, as every series does")
    assert headline.finding(np.nan, np.nan, False, False) == ("Networks against classical and matmul-only inversion: "
                                                              "they hold past θ = 1 in these rows")


def test_where_can_figure():
    ok = where_rows()
    fig = where_can.figure(ok)
    panels = check_figure(fig)
    assert len(panels) == 4
    no_untrained(panels, y_below=10)
    assert title(fig) == ("The first network fails on most matrices from θ = 1.2 (paper-2x2-1st, paper-3x3); "
                          "the first series from θ = 0.5 (paper-2x2-1st, paper-3x3); LU never")  # every base named
    close(fig)


def test_why_cant_figures():
    per = per_matrix()
    fig = why_cant.sigma_figure(per[per.solver != "mlp-2fc[recipe=none]"])
    check_figure(fig)
    assert title(fig).startswith("Near singular matrices the networks' relative error stays at or "
                                               "above 1")
    close(fig)
    m = moments()
    fig = why_cant.moments_figure(m[m.F != "mlp-2fc[recipe=none]"])
    (ax,) = check_figure(fig, max_panels=1)
    assert title(fig) == ("Near a rank-1 matrix, E‖inv(A) − F(A)‖^K diverges from K = 1, for the network as for F = 0, "
                          "below Theorem 3.2's K > n² = 4 (no K above it measured)")
    # one line per F (not per F, r and K), at the growth per decade toward the singular set: K - 1 here
    lines = {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}
    assert set(lines) == {"zero", "mlp-2fc[recipe=quick]"}
    np.testing.assert_allclose(lines["zero"].get_xdata(), [0.5, 1.0, 2.0])
    np.testing.assert_allclose(lines["zero"].get_ydata(), [-0.5, 0.0, 1.0], atol=1e-9)
    assert vertical_at(ax, 4.0)  # K = n^2
    close(fig)


def test_the_growth_per_decade_is_the_decade_slope_toward_the_singular_set():
    m = moments()
    growth = why_cant.growth_toward(m).set_index(["F", "r", "K"])["growth"]
    assert len(growth) == 3 * 2 * 3  # per F, r and K
    for (f, r, k), g in growth.items():
        assert g == pytest.approx(k - 1, abs=1e-9), (f, r, k)  # contributions ~ t^(1 - K): K - 1 per decade closer
    steeper = m.assign(contribution=np.where(m.F == "zero", m.contribution * m.t_hi.clip(lower=1e-9) ** -1.0,
                                             m.contribution))
    growth = why_cant.growth_toward(steeper).set_index(["F", "r", "K"])["growth"]
    assert growth[("zero", 0.01, 0.5)] == pytest.approx(0.5) and growth[("zero", 0.01, 2.0)] == pytest.approx(2.0)


def test_the_moments_title_says_where_theorem_3_2_stands():
    def growth(values):
        return pd.DataFrame([{"F": f, "r": r, "K": k, "growth": g} for (f, k), g in values.items() for r in (0.1, 0.5)])

    # every F diverges at K = 6 > n^2 and one already at K = 1
    g = growth({("zero", 1.0): 0.0, ("zero", 6.0): 5.0, ("lu-float64", 1.0): -1.0, ("lu-float64", 6.0): 4.0})
    assert why_cant.threshold_finding(g, 4) == ": as Theorem 3.2 says for K > n² = 4, and already below it"
    # one F converges above n^2: the title says so, naming it
    g = growth({("zero", 6.0): 5.0, ("mlp-2fc[recipe=quick]", 6.0): -0.5})
    assert why_cant.threshold_finding(g, 4) == "; against Theorem 3.2 (K > n² = 4), it converges above it for F = 2-FC"
    # a growth below -DIVERGES at one radius only is not divergence
    g = growth({("zero", 6.0): 5.0}).assign(growth=[5.0, -0.5])
    assert why_cant.threshold_finding(g, 4).startswith("; against Theorem 3.2")


# --- ours against the published values (Tables 1-2) ----------------------------------------

AUTHORS = "paper-dir:x/matrix_2_dataset"


def table(recipe: str, ours: dict[str, float], published_: dict[str, tuple[float, float]]):
    """A paper table (its CSV's columns) and its results rows: three seeds per method at ``ours``
    x (0.9, 1.0, 1.1), on our own split and on the authors' file."""
    rows, cited = [], []
    for dataset in ("paper-2x2-1st", AUTHORS):
        for method, mae in ours.items():
            family = "approximation" if method == "linear-approx" else "learned"
            for seed, f in enumerate((0.9, 1.0, 1.1)):
                spec = method if family != "learned" else f"{method[:-1] if method.endswith(']') else method + '['}" \
                    f"{',' if method.endswith(']') else ''}recipe={recipe},seed={seed}]"
                rows.append(row(spec, family, dataset, 2, seed=seed, mae=mae * f, time_per_matrix_s=1e-7))
            pub, std = published_.get(method, (np.nan, np.nan))
            cited.append({"method": method, "dataset": dataset, "published_mae": pub, "published_std": std})
    return pd.DataFrame(cited), results.to_frame(rows)


def paper_tables():
    return [table("quick", {"mlp-2fc": 3e-5, "mlp-3fc": 9e-6, "linear-approx": 2e-4},
                  {"mlp-2fc": (2e-5, 5e-6), "mlp-3fc": (1e-5, 5e-6), "linear-approx": (2.1e-4, np.nan)}),
            table("paper", {"mlp-2fc": 1.5e-5, "mlp-2fc[hidden=8]": 9e-5},
                  {"mlp-2fc": (2e-5, 5e-6), "mlp-2fc[hidden=8]": (7e-5, np.nan)})]


def test_ours_against_published_counts_the_points_below_y_equals_x_per_recipe():
    points = published.points(paper_tables())
    # the authors' files only; 2-FC from the paper recipe's table (which has it), the rest from quick's
    assert set(points.dataset) == {AUTHORS}
    assert sorted(zip(points.method, points.recipe)) == [("linear-approx", "quick"), ("mlp-2fc", "paper"),
                                                         ("mlp-2fc[hidden=8]", "paper"), ("mlp-3fc", "quick")]
    two = points.set_index("method").loc["mlp-2fc"]
    assert (two.mae, two.mae_lo, two.mae_hi) == pytest.approx((1.5e-5, 1.35e-5, 1.65e-5))
    counts = published.below(points)
    assert list(counts.index) == ["paper", "quick"]
    assert counts.to_dict("index") == {"paper": {"points": 2, "below": 1}, "quick": {"points": 2, "below": 2}}
    fig = published.figure(points)
    (ax,) = check_figure(fig, max_panels=1)
    assert title(fig) == ("Our MAE is below the published one (under y = x) at 3 of 4 points: 1 of 2 with the paper "
                          "recipe; 2 of 2 with the quick recipe")
    marks = {line.get_gid(): (line.get_xdata()[0], line.get_ydata()[0]) for line in ax.get_lines() if line.get_gid()}
    assert marks[f"mlp-2fc {AUTHORS} paper"] == pytest.approx((2e-5, 1.5e-5))
    assert any(np.allclose(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
               for line in ax.get_lines() if not line.get_gid())  # y = x
    close(fig)
    # a network made worse than published moves above the line, and the title follows
    worse = [(t, r.assign(mae=np.where(r.solver.str.startswith("mlp-3fc"), 1.0, r.mae))) for t, r in paper_tables()]
    assert published.finding(published.points(worse)).endswith("1 of 2 with the quick recipe")


def test_ours_against_published_leaves_out_what_a_log_axis_cannot_show():
    tables = [(t, r.assign(mae=np.where(r.solver == "linear-approx", 0.0, r.mae))) for t, r in paper_tables()]
    assert "linear-approx" not in set(published.points(tables).method)


def test_ours_against_published_on_our_own_split_when_no_authors_file():
    tables = [(t[~t.dataset.str.startswith("paper-dir")], r) for t, r in paper_tables()]
    assert set(published.points(tables).dataset) == {"paper-2x2-1st"}


# --- the theta at which each method breaks ---------------------------------------------------

def break_rows() -> pd.DataFrame:
    """Three bases; the network breaks at theta 1.2 on two and never on the third; linear-approx at
    0.5 (over half of the seeds' median), LU never; one cell failed on every matrix (no frac_bad)."""
    rows = []
    for base in ("paper-2x2-1st", "paper-2x2-2nd", "paper-3x3"):
        for theta in THETAS:
            for seed in range(3):
                def add(solver, family, bad, **kw):
                    rows.append(row(solver, family, f"box[base={base},eps={theta / 10}]", 2, seed=seed, base=base,
                                    theta=theta, frac_bad=bad, mae=1e-3, threshold=0.01, **kw))
                add("lu", "direct", 0.0)
                add("linear-approx", "approximation", (0.6, 0.9, 0.2)[seed] if theta >= 0.5 else 0.0)
                add("mlp-2fc[recipe=quick]", "learned", 0.8 if theta > 1 and base != "paper-3x3" else 0.4)
                add("mlp-2fc[recipe=none]", "learned", 1.0)  # untrained: never drawn
                if theta == 0.9 and base == "paper-3x3":
                    rows.append(row("neumann[order=2]", "approximation", f"box[base={base},eps={theta / 10}]", 2,
                                    seed=seed, theta=np.nan, status="failed", failure_rate=1.0, reason="diverged"))
                else:
                    add("neumann[order=2]", "approximation", 0.0)
    return results.to_frame(rows)


def test_break_thetas_are_computed_per_base():
    at = breakdown.break_thetas(break_rows()).set_index(["solver", "base"])
    assert "mlp-2fc[recipe=none]" not in at.index.get_level_values("solver")
    net = at.loc["mlp-2fc[recipe=quick]"]
    assert net.loc["paper-2x2-1st", "theta"] == 1.2 and net.loc["paper-2x2-2nd", "theta"] == 1.2
    assert net.loc["paper-3x3", "never"] and np.isnan(net.loc["paper-3x3", "theta"])  # not hidden by a median
    assert net.loc["paper-3x3", "largest"] == 2.0
    assert (at.loc["linear-approx", "theta"] == 0.5).all()  # the median over seeds (0.6, 0.9, 0.2) is over half
    assert at.loc["lu", "never"].all()
    # a cell that failed on every matrix counts as all bad, at its dataset's theta (and base from its spec)
    assert at.loc[("neumann[order=2]", "paper-3x3"), "theta"] == 0.9
    assert at.loc[("neumann[order=2]", "paper-2x2-1st"), "never"]
    # exactly half is not broken: "more than half"
    half = break_rows().assign(frac_bad=lambda d: np.where(d.solver == "lu", 0.5, d.frac_bad))
    assert breakdown.break_thetas(half).set_index("solver").loc["lu", "never"].all()
    assert breakdown.break_thetas(paper_rows()).empty  # no theta, no frac_bad: not a sweep


def test_breakdown_figure_and_its_finding():
    sweeps = {"fitted on its box (where-can)": breakdown.break_thetas(break_rows()),
              "fitted at c = 1 (out-of-box)": breakdown.break_thetas(where_rows())}
    fig = breakdown.figure(sweeps)
    panels = check_figure(fig, max_panels=2)
    assert len(panels) == 2
    no_untrained(panels, y_below=np.inf)
    marks = gids(panels[0])
    assert "mlp-2fc[recipe=quick]:paper-2x2-1st" in marks and "never:mlp-2fc[recipe=quick]:paper-3x3" in marks
    assert {m for m in marks if m.startswith("never:lu")} == {f"never:lu:{b}" for b in
                                                             ("paper-2x2-1st", "paper-2x2-2nd", "paper-3x3")}
    never = next(line for line in panels[0].get_lines() if line.get_gid() == "never:mlp-2fc[recipe=quick]:paper-3x3")
    assert never.get_xdata()[0] == 2.0  # at the largest theta tested on that base
    assert vertical_at(panels[0], 1.0)
    assert title(fig) == (
        "Fitted on its box (where-can), the network breaks at θ = 1.2 on 2 of 3 bases, never on 1 (linear approx. "
        "0.5; most robust matmul-only 0.9 on 1 of 3 bases, never on 2; LU never). Fitted at c = 1 (out-of-box), the "
        "network breaks at θ = 1.2 (linear approx. 0.5; most robust matmul-only 1.2; LU never)")
    close(fig)


def test_save_keeps_the_png_within_budget(tmp_path):
    with style.context():
        fig, ax = style.subplots(figsize=(style.WIDTH, 6))
        ax.imshow(np.random.default_rng(0).random((250, 250, 3)), interpolation="nearest")  # compresses badly
    fig.savefig(tmp_path / "first.png", dpi=style.DPI)
    assert (tmp_path / "first.png").stat().st_size > style.MAX_PNG_BYTES  # too large at the usual resolution
    written = style.save(fig, tmp_path / "noise.png")
    assert [p.name for p in written] == ["noise.png", "noise.svg"]
    assert written[0].stat().st_size <= style.MAX_PNG_BYTES
    assert written[1].stat().st_size > 0


def test_legend_refuses_too_many_entries():
    with style.context():
        fig, ax = style.subplots()
        with pytest.raises(ValueError, match="13 legend entries"):
            style.legend_below(fig, [style.handle("k")] * 13, [str(i) for i in range(13)])
    close(fig)


def test_pretty_labels():
    assert style.pretty("mlp-2fc[hidden=8n^2,recipe=none]") == "2-FC, h=8n²"
    assert style.pretty("mlp-3fc[recipe=fast,seed=2]", keep=("recipe",)) == "3-FC, recipe=fast"
    assert style.pretty("neumann[order=3]") == "Neumann, order=3" and style.pretty("not a [spec") == "not a [spec"


# --- through the report and the experiments' replot -----------------------------------------

@pytest.fixture
def fixture_results(tmp_path):
    """A results root with a manifest listing a paper table, a scaling run, a box sweep and a kappa sweep."""
    root = tmp_path / "results"
    sets = {"paper/table9": paper_rows(), "scaling": scaling_rows(), "where-can": where_rows(),
            "conditioning": conditioning_rows()}
    blocks = []
    for folder, df in sets.items():
        results.write_tables(df, root / folder)
        (root / folder / "summary.md").write_text(f"# {folder}\n\nMade by: `matinv-bench {folder}`\n")
        blocks.append(f'[[set]]\nname = "{folder.replace("/", "-")}"\nfolder = "results/{folder}"\n'
                      f'command = "matinv-bench x --out results/{folder}"\n')
    scaling_slopes().to_csv(root / "scaling" / "slopes.csv", index=False)
    (root / "where-can" / "where_can.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    pd.DataFrame({"method": ["mlp-2fc", "mlp-3fc", "lu"], "dataset": "paper-dir:x/matrix_2_dataset",
                  "published_mae": [1e-5, 1e-4, np.nan], "published_std": [2e-6, np.nan, np.nan]}).to_csv(
        root / "paper" / "table9.csv", index=False)
    blocks[0] += 'files = ["results/paper/table9.csv"]\n'
    (root / "asv" / "vm").mkdir(parents=True)
    (root / "asv" / "vm" / "machine.json").write_text('{"machine": "vm"}')
    (root / "asv" / "benchmarks.json").write_text("{}")
    blocks.append('[[set]]\nname = "asv"\nfolder = "results/asv"\nmade_by = "asv run"\n')
    (root / "manifest.toml").write_text("\n".join(blocks))
    return root


def test_report_draws_the_headline_and_one_figure_per_question(fixture_results):
    text = build_report(fixture_results).read_text()
    figures = fixture_results / "report"
    # ours against published, in the tables' section; where each method breaks, in where-can's
    tables, where = text.index("## Tables 1 and 2"), text.index("## Where can")
    assert tables < text.index("](report/published.png)") < where < text.index("](report/breakdown.png)")
    assert "*No asv result files yet" in text.split("## Regression tracking across commits (asv)")[1]
    for name in ("headline", "work_precision", "work_precision-conditioning", "conditioning", "published",
                 "breakdown"):
        png = figures / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size <= style.MAX_PNG_BYTES, name
        assert (figures / f"{name}.svg").is_file(), name
        assert f"](report/{name}.png)" in text, name
    assert text.index("## Headline") < text.index("## Tables 1 and 2")
    assert not (figures / "work_precision-scaling.png").exists()  # the scaling rows are drawn by their own figures


def test_where_can_and_why_cant_replot(fixture_results, tmp_path, capsys):
    out = fixture_results / "where-can"
    assert main(["reproduce", "where-can", "--replot", "--out", str(out)]) == 0
    assert (out / "where_can.png").stat().st_size > 100 and (out / "where_can.svg").is_file()
    folder = tmp_path / "why"
    folder.mkdir()
    per_matrix().to_parquet(folder / "per_matrix.parquet")
    moments().to_parquet(folder / "moments.parquet")
    assert main(["reproduce", "why-cant", "--replot", "--out", str(folder)]) == 0
    assert {p.name for p in folder.iterdir()} >= {"why_cant_sigma.png", "why_cant_sigma.svg", "why_cant_moments.png",
                                                  "why_cant_moments.svg"}
    assert main(["reproduce", "why-cant", "--replot"]) == 2
    assert main(["reproduce", "where-can", "--replot", "--out", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "needs --out DIR" in err[0] and "no results.parquet" in err[1]


def test_the_readme_shows_the_committed_headline_figure():
    text = (ROOT / "README.md").read_text()
    after = text.split("<!-- END headline -->", 1)[1].lstrip("\n").splitlines()[0]
    assert "results/report/headline.png" in after
    png = ROOT / "results" / "report" / "headline.png"
    assert png.is_file() and png.stat().st_size <= style.MAX_PNG_BYTES and png.with_suffix(".svg").is_file()


def test_committed_figures_are_within_budget_with_svg_twins():
    pngs = sorted((ROOT / "results").glob("**/*.png"))
    assert pngs
    for png in pngs:
        if "asv" in png.parts:
            continue
        assert png.stat().st_size <= style.MAX_PNG_BYTES, png
        assert png.with_suffix(".svg").is_file(), png



# every committed set with figures, and the command that redraws them from its committed files
REPLOTS = {"scaling": ["scaling", "--replot", "--quiet"], "scaling-float32": ["scaling", "--replot", "--quiet"],
           "gauss-jordan-blocks": ["scaling", "--replot", "--quiet"], "conditioning": ["run", "--replot"],
           **{name: ["reproduce", name, "--replot"] for name in ("where-can", "where-can-n", "out-of-box", "why-cant",
                                                                 "seeds")}}


@pytest.fixture
def checked_saves(monkeypatch):
    """style.save, wherever it was imported, runs :func:`check_figure` on each figure before writing it."""
    import importlib
    import pkgutil
    import sys

    from matinv_bench import experiments

    for info in pkgutil.iter_modules(experiments.__path__):  # imported now, each binds the original save
        importlib.import_module(f"{experiments.__name__}.{info.name}")
    original, checked = style.save, []

    def save(fig, path):
        check_figure(fig)
        checked.append(Path(path).name)
        return original(fig, path)

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("matinv_bench") and getattr(module, "save", None) is original:
            monkeypatch.setattr(module, "save", save)
    monkeypatch.setattr(style, "save", save)
    return checked


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REPLOTS))
def test_every_committed_figure_redrawn_from_its_rows_passes_the_checks(name, checked_saves, tmp_path):
    """The committed sets' figures, drawn again from their committed files by today's code: no
    overlapping texts, at most 12 legend entries, labelled axes (what the fixtures check, on real rows)."""
    import shutil

    folder = tmp_path / name
    shutil.copytree(ROOT / "results" / name, folder, ignore=shutil.ignore_patterns("cells", "*.png", "*.svg"))
    assert main([*REPLOTS[name], "--out", str(folder)]) == 0
    committed = {p.name for p in (ROOT / "results" / name).glob("*.png")}
    assert committed and committed <= set(checked_saves)


@pytest.mark.slow
def test_the_committed_report_figures_pass_the_checks(checked_saves, tmp_path):
    build_report(ROOT / "results", out=tmp_path / "REPORT.md")
    committed = {p.name for p in (ROOT / "results" / "report").glob("*.png")}
    assert committed and committed <= set(checked_saves)


def test_the_checks_catch_what_they_look_for():
    """The checks above fail on figures like the old ones: crowded tick labels, a long legend, an
    untrained network's error."""
    with style.context():
        fig, ax = style.subplots(figsize=(4, 3))
        ax.plot(range(40), range(40))
        ax.set_xticks(range(40), [f"1e-{i:02d}" for i in range(40)])
        ax.set(xlabel="x", ylabel="y")
        fig.suptitle("t")
    with pytest.raises(AssertionError, match="overlaps"):
        check_figure(fig)
    close(fig)
    with style.context():
        fig, ax = style.subplots(figsize=(6, 4))
        for i in range(14):
            ax.plot([0, 1], [i, i], label=f"seed {i}")
        ax.legend()
        fig.suptitle("t")
    with pytest.raises(AssertionError):
        check_figure(fig)
    close(fig)
    with style.context():
        fig, ax = style.subplots()
        ax.plot([1, 2], [1e-6, 1.0])[0].set_gid("mlp-2fc[recipe=none]")
    with pytest.raises(AssertionError):
        no_untrained([ax], y_below=0.5)
    close(fig)


def test_repetitions_are_drawn_as_one_median_point_per_size(tmp_path):
    """A sweep repeated three times draws one point per size (the median), not a zig-zag."""
    import pandas as pd

    from matinv_bench.reporting import plots

    rows = []
    for rep, factor in enumerate((1.0, 3.0, 2.0)):
        for n in (8, 16, 32):
            rows.append({"solver": "lu", "solver_label": "lu", "family": "direct", "library": "numpy",
                         "dtype": "float64", "device": "cpu", "n": n, "status": "ok", "repeat": rep,
                         "time_per_matrix_s": factor * 1e-9 * n**3, "flops_per_matrix": 2.0 * n**3,
                         "peak_gflops": 50.0, "reason": "", "mem_need_bytes": 1.0, "memory_limit_bytes": 2.0})
    fig = plots.time_figure(pd.DataFrame(rows), pd.DataFrame(), "float64", "cpu")
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "lu")
    assert list(line.get_xdata()) == [8, 16, 32]
    assert list(line.get_ydata()) == pytest.approx([2e-9 * n**3 for n in (8, 16, 32)])
    close(fig)
    fig = headline.headline_figure(pd.DataFrame(rows), pd.DataFrame(), where_rows())  # the README's figure too
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "lu")
    assert list(line.get_xdata()) == [8, 16, 32]
    assert list(line.get_ydata()) == pytest.approx([2e-9 * n**3 for n in (8, 16, 32)])
    close(fig)


def test_the_scaling_figure_of_the_default_sweep_fits_its_legend():
    """Every solver the default sweep runs, drawn at once: the legend stays within its limit
    (a sweep that grew by one solver once failed at drawing, after its rows were written)."""
    from matinv_bench.experiments.scaling import DEFAULT_SOLVERS
    from matinv_bench.solvers import SOLVERS
    from matinv_bench.specs import parse_spec

    rows = []
    for label in DEFAULT_SOLVERS:
        family = SOLVERS.get(parse_spec(label)[0]).family
        p = 4 if family == "learned" else 3
        for n in (8, 16, 32):
            rows.append(row(label, family, f"spd-box[n={n}]", n, solver_label=label, library="torch", batch=32,
                            flops_per_matrix=2.0 * n**p, time_per_matrix_s=2e-10 * n**p, gflops=10.0,
                            peak_gflops=80.0, mae=1e-15, mem_need_bytes=1e3, memory_limit_bytes=1e9,
                            memory_total_bytes=1e10, param_bytes=np.nan))
    fig = plots.time_figure(results.to_frame(rows), pd.DataFrame(), "float64", "cpu")
    check_figure(fig, max_panels=2)
    close(fig)


def test_a_size_axis_from_2_to_2048_labels_few_sizes_always_the_largest():
    with style.context():
        fig, ax = style.subplots(1, 1, figsize=(style.WIDTH / 3, 3))
        ax.plot([2, 2048], [1, 10])
        style.size_axis(ax, [2, 2048])
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert len(labels) <= style.MAX_SIZE_LABELS and labels[-1] == "2048"
        boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
        assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), "size labels overlap"
    close(fig)


def test_panel_titles_write_float_parameters_compactly():
    specs = [f"randsvd[n=32,cond={c}]" for c in ("1e2", "1e8", "1e14")]
    assert list(precision.short_titles(specs).values()) == ["cond=100", "cond=1e+08", "cond=1e+14"]


def test_work_precision_title_without_networks_names_the_fastest_method():
    rows = []
    for dataset, qr_time, lu_err in (("randsvd[n=8,cond=1e2]", 2e-6, 1e-15), ("randsvd[n=8,cond=1e5]", 2e-6, 9e-15),
                                     ("randsvd[n=8,cond=1e8]", 5e-7, 1e-15)):
        # off the paper's boxes the figure draws the relative error; the MAE would say the opposite
        rows.append(row("lu", "direct", dataset, 8, rel_fro_err=lu_err, mae=1.0, time_per_matrix_s=1e-6))
        rows.append(row("qr", "direct", dataset, 8, rel_fro_err=3e-15, mae=1e6 * lu_err, time_per_matrix_s=qr_time))
    fig = precision.work_precision_figure(results.to_frame(rows))
    check_figure(fig)
    assert {ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()} == {"relative error (Frobenius)"}
    # lu is fastest on the first two panels, but more accurate than qr only on the first
    assert title(fig) == "LU is the fastest on 2 of 3 datasets, and within 10 % of the lowest error on 1 of them"
    close(fig)


def test_the_moments_title_groups_the_maps_by_where_they_diverge(monkeypatch):
    # F = LU in float64 diverges one power earlier than the others; names as the legend writes them, no raw "zero"
    growth = {("lu-float64", 0.5): -1.0, ("lu-float64", 1.0): -2.0, ("lu-float32", 0.5): 0.5, ("lu-float32", 1.0): -1.0,
              ("mlp-2fc[recipe=quick]", 0.5): 0.5, ("mlp-2fc[recipe=quick]", 1.0): -1.0, ("zero", 0.5): 0.5,
              ("zero", 1.0): -1.0}
    slopes = pd.DataFrame([{"F": f, "K": k, "log10_growth_per_decade_outward": g + why_cant.DIVERGES}
                           for (f, k), g in growth.items()])
    monkeypatch.setattr(why_cant, "decade_slopes", lambda moments: slopes)
    assert why_cant.moments_finding(pd.DataFrame()) == (
        "Near a rank-1 matrix, E‖inv(A) − F(A)‖^K diverges from K = 0.5 for F = lu-float64, and from K = 1 for "
        "F = lu-float32, 2-FC and 0")
