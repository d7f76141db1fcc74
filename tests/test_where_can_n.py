"""``reproduce where-can-n`` on tiny settings: its files, its grid, the edge table computed from
the rows, the words that follow the numbers, --resume, the figures, and one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest

from matinv_bench.cli import build_parser, main
from matinv_bench.experiments import EXPERIMENTS, where_can_n
from matinv_bench.reporting import style
from matinv_bench.reporting.results import read_results

TINY = ["reproduce", "where-can-n", "--n", "2", "3", "--theta", "0.3", "--recipe", "tiny", "--n-matrices", "32",
        "--no-timing", "--quiet"]
SOLVERS = ["mlp-2fc[recipe=tiny,seed=0]", "mlp-3fc[recipe=tiny,seed=0]", "linear-approx", "neumann[order=2]",
           "neumann[order=3]", "newton-schulz[init=base,steps=2]", "learned-ns[init=base,steps=2]", "minimax-ns"]


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
    assert "stops at 16" in text


def test_the_rows_are_every_solver_on_every_box(run):
    df = read_results(run)
    expected = {(s, f"spd-box[cond=10,n={n},theta=0.3]") for s in SOLVERS for n in (2, 3)}
    assert set(zip(df.solver, df.dataset)) == expected and len(df) == len(expected)
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
    for n, line in zip((2, 3), table.itertuples(index=False)):
        rows = df[df.n == n].set_index("solver")
        nets = rows[rows.family == "learned"]
        best = nets.mae.idxmin()
        assert line[2] == f"`{style.without(best, 'seed')}`"
        edge = nets.mae.min() / rows.loc["linear-approx", "mae"]
        assert float(line[5]) == pytest.approx(edge, rel=5e-3)
        # equal flops: the matmul-only method with the fewest flops at or above the net's, else the most
        series = rows[rows.family.isin(["approximation", "iterative"])]
        net_flops = rows.loc[best, "flops_per_matrix"]
        above = series[series.flops_per_matrix >= net_flops]
        pool = above[above.flops_per_matrix == above.flops_per_matrix.min()] if len(above) else \
            series[series.flops_per_matrix == series.flops_per_matrix.max()]
        match = pool.mae.idxmin()
        assert line[6] == f"`{match}`"
        assert float(line[9]) == pytest.approx(nets.mae.min() / pool.mae.min(), rel=5e-3)


@pytest.mark.parametrize("ratio, kind, words", [
    ([0.2, 0.5, 1.3], "vanishes", "win up to n = 3 and not from n = 4 on"),
    ([0.2, 0.3, 0.9], "shrinks", "rising from 0.2 at n = 2 to 0.9 at n = 4"),
    ([0.5, 0.4, 0.3], "holds", "the networks win at every n"),
    ([2.0, 3.0, 1.5], "never", "never beat it"),
    ([0.5, 1.2, 0.5], "mixed", "win at n = 2, 4 only"),
    ([0.5, 1.2, 0.5, 1.3], "vanishes", "last win at n = 4 and not from n = 5 on"),
    ([0.5], "one size", "one size only, no trend: at n = 2 the ratio is 0.5, the networks win"),
])
def test_the_verdict_follows_the_numbers(ratio, kind, words):
    got_kind, sentence = where_can_n.verdict([2, 3, 4, 5][:len(ratio)], ratio)
    assert got_kind == kind and words in sentence


def test_the_summary_turns_with_planted_numbers(run, tmp_path):
    df = read_results(run)
    lin = df.solver == "linear-approx"
    df.loc[lin, "mae"] = df.loc[lin, "mae"] * 0 + 1e-12  # a linear approximation no network can beat
    where_can_n.write(df, tmp_path, "matinv-bench test")
    text = (tmp_path / "summary.md").read_text()
    assert "against the linear approximation: the networks never beat it" in text
    df.loc[lin & (df.n == 2), "mae"] = 1.0  # beaten at n = 2 only
    df.loc[lin & (df.n == 3), "mae"] = 1e-12
    where_can_n.write(df, tmp_path, "matinv-bench test")
    assert (
        "the edge vanishes: the networks win up to n = 2 and not from n = 3 on" in (tmp_path / "summary.md").read_text()
    )


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
    assert "mlp-2fc[recipe=none]" not in set(m.method) and "mlp-2fc[recipe=tiny]" in set(m.method)
    fig = where_can_n.figure(m, where_can_n.edges(df))
    gids = {line.get_gid() for ax in fig.axes for line in ax.lines}
    assert "mlp-2fc[recipe=none]" not in gids and "mlp-2fc[recipe=tiny]" in gids
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
    assert sorted({c.dataset for c in cells}) == sorted(where_can_n.dataset_spec(n, t) for n in where_can_n.NS
                                                        for t in where_can_n.THETAS)
    assert {c.solver for c in cells} == {s.format(recipe="quick").replace("]", ",seed=0]") if s.startswith("mlp")
                                         else s for s in where_can_n.SOLVER_SPECS}
    assert "stops at 16" in where_can_n.__doc__ and max(where_can_n.NS) == 16


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


def test_the_training_note_follows_the_steps(run):
    m = where_can_n.methods(read_results(run))
    assert where_can_n.training_note(m) == []  # the tiny recipe trains 300 steps at every n
    nets = m["family"] == "learned"
    m.loc[nets & (m.n == 3), "train_steps"] = 100
    (line,) = where_can_n.training_note(m)
    assert "`mlp-2fc[recipe=tiny]` 300 steps at n = 2, 100 at n = 3" in line
