"""`matinv-bench run` with no arguments: the default suite asks the paper's question (trained
networks against the matmul-only methods and the classical solvers on the paper's small boxes,
the classical solvers alone on classic matrices), ends with computed comparison lines, and draws
a figure with at most 12 legend entries and the relative error off the boxes.

The run here is the default suite itself, from an empty model cache, with the demo recipe cut
to 300 steps (the full recipe's 1,500 steps take seconds per network; its MAE on the authors'
2x2 test set was checked by hand: docs/running.md), a small test set and a short clock."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from matinv_bench.cli import main
from matinv_bench.experiments.run import Run, box_name
from matinv_bench.experiments.suites import CLASSIC_MATRICES, PAPER_SMALL_BOXES, SUITES
from matinv_bench.reporting import precision, results, standings, style
from matinv_bench.solvers import SOLVERS, Trainable
from matinv_bench.solvers.learned import recipes
from matinv_bench.specs import parse_spec

FAST = ["--warmup", "0", "--min-time", "0.005", "--n-matrices", "32"]


def names(specs) -> set[str]:
    return {parse_spec(s)[0] for s in specs}


def test_the_default_suite_asks_the_papers_question():
    boxes, classic = SUITES["quick"].grids
    assert boxes.datasets == PAPER_SMALL_BOXES == ("paper-2x2-1st", "paper-2x2-2nd", "paper-3x3")
    nets = [s for s in boxes.solvers if isinstance(SOLVERS.build(s), Trainable)]
    assert names(nets) == {"mlp-2fc", "mlp-3fc"} and {parse_spec(s)[1].get("recipe") for s in nets} == {"demo"}
    assert {"linear-approx", "neumann", "newton-schulz", "minimax-ns", "lu", "torch-inv", "closed-form"} \
        == names(boxes.solvers) - names(nets)
    assert names(classic.datasets) == {"hilbert", "pascal", "randsvd", "near-singular", "spd"}
    assert classic.datasets == CLASSIC_MATRICES
    assert {SOLVERS.get(name).family for name in names(classic.solvers)} == {"direct"}  # classical solvers only


def test_the_demo_recipe_trains_the_small_boxes_fully_and_caps_big_networks():
    for n, hidden in ((2, 32), (3, 72)):
        r = recipes.recipe_for("demo", n, hidden)
        assert r.steps == 1_500 and r.train_size == 50_000 and r.standardize
        assert r.total_steps(2 * (n * n * hidden + hidden * n * n)) == 1_500  # not cut by the flop cap
    assert recipes.recipe_for("demo", 16, 2048).total_steps(2 * 2 * 256 * 2048) < 1_500


@pytest.mark.parametrize("given, solver, threads", [(None, None, 1), (2, None, 2), (None, ["lu"], None)])
def test_the_default_suite_times_on_one_thread_unless_told(given, solver, threads):
    args = argparse.Namespace(suite="quick", solver=solver, dataset=None, threads=given)
    assert Run().settings(args)["threads"] == threads  # None: every usable core, for a grid of your own


@pytest.mark.parametrize("held", [True, False])
def test_the_paper_boxes_are_the_authors_test_sets_where_paper_data_holds_them(tmp_path, held):
    folder = tmp_path / "matrix_3_dataset"
    folder.mkdir()
    if held:
        (folder / "test_set.npy").write_bytes(b"")  # only its presence is looked at here
    args = argparse.Namespace(suite="quick", solver=None, dataset=None, paper_data=tmp_path)
    datasets = [d for g in Run().grids(args) for d in g.datasets]
    assert datasets[:3] == ["paper-2x2-1st", "paper-2x2-2nd", f"paper-dir:{folder}" if held else "paper-3x3"]
    assert box_name(f"paper-dir:{folder}") == "paper-3x3 (authors' test set)"


def test_the_default_run_from_an_empty_model_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MATINV_BENCH_CACHE", str(tmp_path / "cache"))
    demo = recipes.RECIPES["demo"]
    monkeypatch.setitem(recipes.RECIPES, "demo", lambda n, hidden=None: replace(demo(n, hidden), steps=300))
    figures = []
    save = style.save
    monkeypatch.setattr(style, "save", lambda fig, path: figures.append(fig) or save(fig, path))
    no_data = tmp_path / "no-paper-data"
    no_data.mkdir()
    out = tmp_path / "run"
    assert main(["run", "--paper-data", str(no_data), "--out", str(out), *FAST]) == 0
    printed = capsys.readouterr().out

    df = results.read_results(out)
    for box in PAPER_SMALL_BOXES:  # drawn, since no released test set is there
        trained = df[(df.dataset == box) & (df.family == "learned") & (df.status == "ok") & (df.train_steps > 0)]
        assert len(trained) >= 1, box
    nets = df[(df.dataset == "paper-2x2-1st") & (df.family == "learned")]
    assert nets["mae"].min() < 1e-3
    assert set(df["threads"]) == {1}
    classic = df[df.dataset.isin(SUITES["quick"].grids[1].datasets)]
    assert set(classic["family"]) == {"direct"} and (classic.status != "failed").all()

    summary = (out / "summary.md").read_text().rstrip().splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in summary if line.startswith("| ")]
    header = next(c for c in cells if c[0] == "solver")
    mae = {(c[0], c[1]): c[header.index("mae")] for c in cells if c[0] == "lu"}
    assert mae["lu", "hilbert[n=10]"] == "" and float(mae["lu", "paper-2x2-1st"]) < 1e-12  # the MAE on boxes only
    standing = standings.table(df).assign(dataset=lambda t: t["dataset"].map(box_name))
    assert summary[-1] == standings.finding(standing) + "." and summary[-1].startswith("On the paper's 3 boxes")
    assert any("no released test set at" in line for line in summary)
    assert standings.finding(standing) in printed

    fig = figures[0]
    legends = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert 0 < len(legends) <= style.MAX_LEGEND
    assert [lg.get_title().get_text() for lg in fig.legends] == ["classical", "matmul-only", "networks, recipe demo"]
    assert fig._suptitle.get_text().replace("\n", " ") == standings.finding(standing)
    labels = {ax.get_title("left").split("\n")[0]: ax.get_ylabel() for ax in fig.axes if ax.has_data()}
    assert labels["paper-2x2-1st"] == precision.ERROR_LABELS["mae"]
    assert labels["hilbert[n=10]"] == precision.ERROR_LABELS["rel_fro_err"]
