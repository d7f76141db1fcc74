"""``reproduce where-can-n`` on tiny settings: its files, its grid, the edge table computed from
the rows, the words that follow the numbers, --resume, the figures, and one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest

from matinv_bench.cli import build_parser, main
from matinv_bench.experiments import EXPERIMENTS, where_can_n
from matinv_bench.reporting import style
from matinv_bench.reporting.results import read_results

TINY = ["reproduce", "where-can-n", "--n", "2", "3", "--theta", "0.3", "--recipe", "tiny", "--steps", "60",
        "--seeds", "2", "--n-matrices", "32", "--no-timing", "--quiet"]
NETS = ["mlp-2fc[recipe=tiny,seed={s},steps=60]", "mlp-3fc[recipe=tiny,seed={s},steps=60]"]
OTHERS = ["linear-approx", "neumann[order=2]", "neumann[order=3]", "newton-schulz[init=base,steps=2]",
          "learned-ns[init=base,steps=2]", "minimax-ns"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("where-can-n") / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    return out


def test_the_command_writes_its_files(run):
    for name in ("results.parquet", "results.csv", "summary.md", "where_can_n.png", "where_can_n.svg"):
        assert (run / name).is_file(), name
    assert (run / "where_can_n.png").read_bytes()[:4] == b"\x89PNG"
    assert not (run / "work_precision_n.png").exists()  # --no-timing: no time to draw against
    text = (run / "summary.md").read_text()
    assert text.startswith("# Where can, as n grows\n\nMade by: `matinv-bench reproduce where-can-n --n 2 3")
    assert "Every network trained 60 steps of 256 matrices at every n and θ." in text  # tiny's batch


def test_the_rows_are_every_solver_on_every_box_and_seed_with_equal_training(run):
    df = read_results(run)
    solvers = {(net.format(s=seed), seed) for net in NETS for seed in (0, 1)} | {(o, s) for o in OTHERS for s in (0, 1)}
    expected = {(s, f"spd-box[cond=10,n={n},theta=0.3]", seed) for s, seed in solvers for n in (2, 3)}
    assert set(zip(df.solver, df.dataset, df.seed)) == expected and len(df) == len(expected)
    nets = df[df.family == "learned"]
    assert (nets.train_steps == 60).all() and (nets.train_samples == 60 * 256).all()  # the same at every n
    assert (df.status == "ok").all(), df.loc[df.status != "ok", ["solver", "reason"]].to_string()
    assert df.time_per_matrix_s.isna().all()


def _markdown_table(text: str, heading: str) -> pd.DataFrame:
    block = text.split(heading, 1)[1].split("\n", 1)[1].strip().split("\n\n", 1)[0].splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in block if not set(line) <= set("|-: ")]
    return pd.DataFrame(cells[1:], columns=cells[0])


def test_the_edge_table_is_the_ratio_of_the_rows(run):
    table = _markdown_table((run / "summary.md").read_text(), "## Edge over the linear approximation")
    df = read_results(run)
    assert list(table["n"]) == ["2", "3"]
    df = df.assign(method=df.solver.map(lambda s: style.without(s, "seed")))
    for n, line in zip((2, 3), table.itertuples(index=False)):
        rows = df[df.n == n]
        mean = rows.groupby("method").mae.mean()
        nets = mean[[m.startswith("mlp") for m in mean.index]]
        best = nets.idxmin()  # the best network: the lowest mean over seeds
        assert line[2] == f"`{best}`"
        by_seed = rows.pivot_table(index="seed", columns="method", values="mae")
        ratio = by_seed[best] / by_seed["linear-approx"]  # seed by seed, on the same test split
        assert line[5] == f"{ratio.mean():.3g} [{ratio.min():.3g}, {ratio.max():.3g}]" and line[6] == "2"
        assert line[7] == ("wins" if ratio.max() < 1 else "loses" if ratio.min() > 1 else "open")
        # equal flops: the matmul-only method with the fewest flops at or above the net's, else the most
        flops = rows.groupby("method").flops_per_matrix.first()
        series = [m for m in mean.index if rows[rows.method == m].family.iloc[0] in ("approximation", "iterative")]
        above = [m for m in series if flops[m] >= flops[best]]
        pool = [m for m in above if flops[m] == min(flops[a] for a in above)] if above else \
            [m for m in series if flops[m] == max(flops[s] for s in series)]
        match = min(pool, key=lambda m: mean[m])
        assert line[8] == f"`{match}`"
        f = by_seed[best] / by_seed[match]
        assert line[10] == f"{f.mean():.3g} [{f.min():.3g}, {f.max():.3g}]"


@pytest.mark.parametrize("intervals, kind, words", [
    ([(0.1, 0.3), (0.4, 0.6), (1.2, 1.4)], "vanishes", "every seed wins up to n = 3 and loses from n = 4 on"),
    ([(0.1, 0.3), (0.4, 0.6), (0.8, 1.2)], "fades", "up to n = 3; from n = 4 on the seeds disagree"),
    ([(0.1, 0.3), (0.2, 0.4), (0.8, 0.95)], "shrinks", "every seed wins at every n, the ratio rising"),
    ([(0.4, 0.6), (0.3, 0.5), (0.2, 0.4)], "holds", "every seed wins at every n"),
    ([(2.0, 3.0), (1.5, 4.0), (1.1, 2.0)], "never", "every seed loses at every n"),
    ([(0.5, 1.5), (1.5, 4.0), (1.1, 2.0)], "undecided", "the seeds disagree at n = 2"),
    ([(0.4, 0.6), (1.2, 1.4), (0.4, 0.6)], "mixed", "win at n = 2, 4 only"),
    ([(0.4, 0.6)], "one size", "at n = 2 the networks win on every seed"),
])
def test_a_verdict_is_stated_only_where_the_seeds_agree(intervals, kind, words):
    lo, hi = zip(*intervals)
    mean = [(a + b) / 2 for a, b in intervals]
    got_kind, sentence = where_can_n.verdict([2, 3, 4][:len(lo)], list(lo), list(hi), mean)
    assert got_kind == kind and words in sentence, sentence


def test_the_summary_turns_with_planted_numbers(run, tmp_path):
    df = read_results(run)
    lin = df.solver == "linear-approx"
    df.loc[lin, "mae"] = df.loc[lin, "mae"] * 0 + 1e-12  # a linear approximation no network can beat
    where_can_n.write(df, tmp_path, "matinv-bench test")
    text = (tmp_path / "summary.md").read_text()
    assert "against the linear approximation: the networks never win: every seed loses at every n" in text
    df.loc[lin & (df.n == 2), "mae"] = 1.0  # beaten at n = 2 only, on both seeds
    df.loc[lin & (df.n == 3), "mae"] = 1e-12
    where_can_n.write(df, tmp_path, "matinv-bench test")
    text = (tmp_path / "summary.md").read_text()
    assert "the edge vanishes: every seed wins up to n = 2 and loses from n = 3 on" in text
    df.loc[lin & (df.n == 3) & (df.seed == 1), "mae"] = 1.0  # the seeds disagree at n = 3: no verdict there
    where_can_n.write(df, tmp_path, "matinv-bench test")
    assert "from n = 3 on the seeds disagree or lose, so no verdict there" in (tmp_path / "summary.md").read_text()


def test_a_resumed_run_reruns_nothing(run, capsys):
    before = {p.name: p.read_bytes() for p in (run / "cells").glob("*.json")}
    stamps = read_results(run).timestamp.tolist()
    argv = [a for a in TINY if a != "--quiet"]  # progress lines would name any cell run again
    assert main([*argv, "--resume", str(run)]) == 0
    said = capsys.readouterr()
    assert "training:" not in said.out + said.err and " done: " not in said.out + said.err
    assert {p.name: p.read_bytes() for p in (run / "cells").glob("*.json")} == before
    assert read_results(run).timestamp.tolist() == stamps


def test_the_work_precision_figure_draws_at_most_eight_sizes_at_the_middle_theta(run, tmp_path):
    base = read_results(run)
    frames = []
    for n in range(2, 12):  # ten sizes and three thetas, timed
        for theta in (0.1, 0.3, 0.6):
            frames.append(base[base.n == 2].assign(n=n, dataset=f"spd-box[cond=10,n={n},theta={theta}]",
                                                   time_per_matrix_s=1e-6 * n * (1.0 + base.index[base.n == 2])))
    df = pd.concat(frames, ignore_index=True)
    rows = where_can_n.work_precision_rows(df)
    sizes = sorted(rows.n.unique())
    assert len(sizes) == style.MAX_PANELS and sizes[0] == 2 and sizes[-1] == 11
    assert set(rows.dataset.map(where_can_n.box_theta)) == {0.3}
    written = where_can_n.figures(df, tmp_path)
    assert [p.name for p in written] == ["where_can_n.png", "work_precision_n.png"]
    assert (tmp_path / "work_precision_n.svg").is_file()


def test_replot_redraws_the_figures(run, capsys):
    (run / "where_can_n.png").unlink()
    assert main(["reproduce", "where-can-n", "--replot", "--out", str(run)]) == 0
    assert (run / "where_can_n.png").read_bytes()[:4] == b"\x89PNG"


def test_the_mae_figure_leaves_out_untrained_networks(run):
    df = read_results(run)
    untrained = df[df.solver.str.startswith("mlp-2fc")].assign(
        solver="mlp-2fc[recipe=none,seed=0]", train_recipe="none"
    )
    m = where_can_n.methods(pd.concat([df, untrained], ignore_index=True))
    assert "mlp-2fc[recipe=none]" not in set(m.method) and "mlp-2fc[recipe=tiny,steps=60]" in set(m.method)
    fig = where_can_n.figure(m, where_can_n.edges(df))
    gids = {line.get_gid() for ax in fig.axes for line in ax.lines}
    assert "mlp-2fc[recipe=none]" not in gids and "mlp-2fc[recipe=tiny,steps=60]" in gids
    style.plt.close(fig)


@pytest.mark.parametrize("extra, words", [
    (["--theta", "1.2"], "--theta must be in (0, 1)"),
    (["--theta", "0"], "--theta must be in (0, 1)"),
    (["--solver", "no-such-solver"], "no-such-solver"),
    (["--n", "1"], "--n must be at least 2"),
])
def test_bad_input_is_a_one_line_error_and_writes_nothing(tmp_path, capsys, extra, words):
    out = tmp_path / "out"
    assert main([*TINY, *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("matinv-bench: error:") and words in err[0], err
    assert not out.exists()


def test_the_default_grid_is_the_documented_one():
    args = build_parser().parse_args(["reproduce", "where-can-n"])
    cells = EXPERIMENTS["where-can-n"].cells(args)
    assert sorted({c.dataset for c in cells}) == sorted(where_can_n.dataset_spec(n, t) for n in where_can_n.NS[:-1]
                                                        for t in where_can_n.THETAS)  # n = 16: over the budget
    assert {c.solver for c in cells if c.seed == 0} == {
        s.format(recipe="quick", steps=1000).replace(",steps", ",seed=0,steps") if s.startswith("mlp") else s
        for s in where_can_n.SOLVER_SPECS}
    assert {c.seed for c in cells} == {0, 1, 2}  # three seeds of every network and method


def test_the_default_sweep_stops_where_training_would_exceed_its_budget():
    args = build_parser().parse_args(["reproduce", "where-can-n"])
    ns, why = EXPERIMENTS["where-can-n"].sizes(args)
    assert ns == [2, 3, 4, 6, 8, 12] and "stops at n = 12: at n = 16" in why
    cost = where_can_n.training_flops("mlp-3fc[recipe=quick,steps=1000]", 16)
    assert cost == pytest.approx(3 * 160 * 16**4 * 512 * 1000) and cost > where_can_n.MAX_TRAIN_FLOPS
    args = build_parser().parse_args(["reproduce", "where-can-n", "--max-train-flops", "inf"])
    assert EXPERIMENTS["where-can-n"].sizes(args) == (list(where_can_n.NS), "")


def test_the_report_shows_the_set_as_its_own_section(run, tmp_path):
    import shutil

    from matinv_bench.reporting.report import build_report

    root = tmp_path / "results"
    shutil.copytree(run, root / "where-can-n")
    (root / "manifest.toml").write_text('[[set]]\nname = "where-can-n"\nfolder = "results/where-can-n"\n'
                                        'command = "matinv-bench reproduce where-can-n --out results/where-can-n"\n')
    text = build_report(root).read_text()
    section = text.split("## Where can, as n grows", 1)[1]
    assert section.lstrip().startswith("Made by: `matinv-bench reproduce where-can-n --n 2 3")
    assert "(where-can-n/where_can_n.png)" in section and "### The answer" in section


def test_the_budget_line_follows_the_steps(run):
    m = where_can_n.methods(read_results(run))
    assert where_can_n.budget_line(m) == "Every network trained 60 steps of 256 matrices at every n and θ."
    nets = m["family"] == "learned"
    m.loc[nets & (m.n == 3), "train_steps"] = 100
    assert "between 60 and 100 steps" in where_can_n.budget_line(m)
    assert where_can_n.budget_line(m, short=True) == "networks: 60 to 100 steps of 256 matrices"  # in the legend
