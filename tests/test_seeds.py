"""``matinv-bench reproduce seeds``: the small net over seeds against the best affine maps, the
eq. (16) warm start, the affine fits themselves and the training curves they read."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from matinv_bench.analysis import affine
from matinv_bench.cli import main
from matinv_bench.datasets import make_dataset
from matinv_bench.errors import ReportError
from matinv_bench.experiments import seeds
from matinv_bench.reporting import manifest, report
from matinv_bench.reporting.results import read_results
from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers.learned import training
from matinv_bench.solvers.learned.cache import retraining

RUN = ["reproduce", "seeds", "--recipe", "tiny", "--seeds", "3", "--warm-seeds", "2", "--n-matrices", "64",
       "--ls-matrices", "600", "--lae-matrices", "300", "--curve-every", "50", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds")
    assert main([*RUN, "--out", str(out)]) == 0
    return out


def test_every_seed_has_its_rows_and_the_outputs_are_written(run):
    df = read_results(run)
    assert (df.status == "ok").all(), df.loc[df.status != "ok", "reason"].tolist()
    warm = df.solver.str.contains("init=linear", regex=False)
    random, warm = df[df.solver.str.contains("hidden=8", regex=False) & ~warm], df[warm]
    assert sorted(random.seed) == [0, 1, 2] and sorted(warm.seed) == [0, 1]
    assert sorted(df.loc[df.solver == "linear-approx", "seed"]) == [0, 1, 2]
    assert (random.train_steps == 300).all() and (df.n_matrices == 64).all()
    table = pd.read_csv(run / "seeds.csv")
    assert sorted(table.seed) == [0, 1, 2] and list(table.mae) == sorted(table.mae)
    text = (run / "summary.md").read_text()
    assert text.startswith(f"# {seeds.TITLE}\n\nMade by: `matinv-bench reproduce seeds")
    assert "standard deviation (ddof=1)" in text
    for name in ("seeds.png", "seeds.svg", "warm_start.png", "warm_start.svg", "affine.csv", "curves.csv"):
        assert (run / name).is_file(), name


def test_the_collapse_count_is_the_stated_criterion_applied_to_the_rows(run):
    df, maps = read_results(run), pd.read_csv(run / "affine.csv")
    best = maps[maps["map"].isin(["least squares", "least absolute error"])].groupby("seed")["mae"].min()
    nets = df[df.solver.str.contains("hidden=8", regex=False)].set_index("seed")["mae"]
    expected = int(((nets / best - 1).abs() <= seeds.COLLAPSE_TOL).sum())
    text = (run / "summary.md").read_text()
    assert re.search(rf"\*\*{expected} of 3 seeds collapse to about the best affine map", text), text
    assert f"|MAE / MAE_affine - 1| <= {seeds.COLLAPSE_TOL:g}" in text
    assert int(pd.read_csv(run / "seeds.csv")["collapsed"].sum()) == expected


def test_the_collapse_criterion_on_known_rows():
    maes = {0: 1.05e-4, 1: 1.2e-4, 2: 0.5e-4, 3: 0.95e-4}  # the best affine map scores 1e-4 on every split
    df = pd.DataFrame([{"solver": f"mlp-2fc[hidden=8,seed={s}]", "seed": s, "mae": m, "status": "ok",
                        "train_steps": 1} for s, m in maes.items()]
                      + [{"solver": "linear-approx", "seed": s, "mae": 2e-4, "status": "ok"} for s in maes])
    maps = pd.DataFrame([{"map": name, "seed": s, "mae": mae} for s in maes
                         for name, mae in (("least squares", 1.1e-4), ("least absolute error", 1e-4),
                                           ("linear approximation", 0.9e-4))])  # not a fit: never the reference
    table = seeds.seed_table(df, maps).set_index("seed")
    assert table["collapsed"].to_dict() == {0: True, 1: False, 2: False, 3: True}
    assert table["affine_mae"].eq(1e-4).all() and table["linear_approx_mae"].eq(2e-4).all()


def test_the_warm_start_begins_at_the_linear_approximation(run):
    df, curves = read_results(run), pd.read_csv(run / "curves.csv")
    lin = df[df.solver == "linear-approx"].set_index("seed")["mae"]
    start = curves[(curves["init"] == "linear") & (curves.step == 0)].set_index("seed")["mae"]
    assert sorted(start.index) == [0, 1]
    np.testing.assert_allclose(start, lin[start.index], rtol=1e-9)  # the eq. (16) net IS the linear approximation
    random_start = curves[(curves["init"] == "random") & (curves.step == 0)]["mae"]
    assert (random_start > 10 * lin.max()).all()  # an untrained random net is far from it
    # the curve is measured on the cell's test set: its last point is the row's MAE
    for r in df[df.solver.str.startswith("mlp-")].itertuples():
        assert json.loads(r.train_curve)[-1] == [300, pytest.approx(r.mae, rel=1e-9)]


def test_the_warm_start_table_reads_the_curves():
    c = pd.DataFrame([("random", 0, 0, 1.0), ("random", 0, 10, 0.5), ("random", 0, 20, 0.3),
                      ("random", 1, 0, 1.0), ("random", 1, 10, 0.6), ("random", 1, 20, 0.4),
                      ("linear", 0, 0, 0.5), ("linear", 0, 10, 0.34), ("linear", 0, 20, 0.2),
                      ("linear", 1, 0, 0.5), ("linear", 1, 10, 0.3), ("linear", 1, 20, 0.25)],
                     columns=["init", "seed", "step", "mae"])
    warm, target = seeds.warm_table(c)
    assert target == pytest.approx(0.35)
    got = warm.set_index("init")
    assert got.loc["random", "steps_to_target"] == np.inf and got.loc["random", "reached"] == 1  # seed 1 never
    assert got.loc["linear", "steps_to_target"] == 10 and got.loc["linear", "reached"] == 2
    assert got.loc["linear", "mae_final"] == pytest.approx(0.225) and got.loc["random", "mae_step0"] == 1.0


@pytest.fixture(scope="module")
def draw():
    data = make_dataset("paper-2x2-1st", n_test=1, seed=0)
    train = data.draw_train(2000)
    return train.A, train.inv_ref, data.base, data.eps


def test_the_affine_fits_beat_the_linear_approximation_on_their_own_criteria(draw):
    A, inv, base, eps = draw
    ls = affine.fit_least_squares(A, inv, base, eps)
    lae = affine.fit_least_absolute(A, inv, base, eps)
    lin = affine.linear_approximation(base, eps)
    # the linear approximation is an affine map of A - A0: least squares cannot do worse in MSE,
    # least absolute error cannot do worse in MAE than either
    assert affine.mse(ls, A, inv) <= affine.mse(lin, A, inv)
    assert affine.mae(lae, A, inv) <= affine.mae(ls, A, inv) <= affine.mae(lin, A, inv)
    assert affine.mse(ls, A, inv) <= affine.mse(lae, A, inv)
    # the linear approximation's map is the solver's
    la = SOLVERS.build("linear-approx").fit(make_dataset("paper-2x2-1st", n_test=4))
    la.prepare(A[:50])
    np.testing.assert_allclose(lin(A[:50]), la.collect(la.invert()).X, rtol=1e-12, atol=1e-15)


def test_the_affine_fits_recover_an_exactly_affine_map(draw, rng):
    A, _, base, eps = draw
    W, b = rng.standard_normal((4, 4)), rng.standard_normal(4)
    Y = (affine.features(A, base, eps) @ W.T + b).reshape(-1, 2, 2)
    for fit in (affine.fit_least_squares, affine.fit_least_absolute):
        f = fit(A[:300], Y[:300], base, eps)
        np.testing.assert_allclose(f.W, W, atol=1e-8)
        np.testing.assert_allclose(f.b, b, atol=1e-8)


def test_an_affine_fit_needs_more_matrices_than_coefficients(draw):
    A, inv, base, eps = draw
    with pytest.raises(ValueError, match="more than 4 matrices"):
        affine.fit_least_squares(A[:4], inv[:4], base, eps)


@pytest.mark.parametrize("args, words", [
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--seeds", "2", "--warm-seeds", "3"], "--warm-seeds must be in 0..--seeds (2)"),
    (["--dataset", "uniform[n=2]"], "is not a box"),
    (["--n-matrices", "0"], "--n-matrices must be at least 1"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, words):
    out = tmp_path / "out"
    assert main(["reproduce", "seeds", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not out.exists()


# -- the training curve the warm start reads -------------------------------------------------------

def test_a_curve_leaves_the_training_alone_and_the_stack_records_each_networks_own():
    data = make_dataset("paper-2x2-1st", n_test=32, seed=1)
    with retraining():
        plain = SOLVERS.build("mlp-2fc[hidden=8,recipe=tiny,seed=1]").fit(data)
        single = SOLVERS.build("mlp-2fc[hidden=8,recipe=tiny,seed=1,curve_every=100,curve_matrices=32]").fit(data)
    assert "train_curve" not in plain.fit_info_
    for a, b in zip(plain.model_.parameters(), single.model_.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # recording the curve changed no weight
    curve = json.loads(single.fit_info_["train_curve"])
    assert [step for step, _ in curve] == [0, 100, 200, 300]
    nets = [SOLVERS.build(f"mlp-2fc[hidden=8,recipe=tiny,seed={s},curve_every=100,curve_matrices=32]") for s in (0, 1)]
    datas = [make_dataset("paper-2x2-1st", n_test=1, seed=s) for s in (0, 1)]
    with retraining():
        infos = training.fit_many([n.trainee(d) for n, d in zip(nets, datas)], datas, "tiny")
    stacked = json.loads(infos[1]["train_curve"])
    np.testing.assert_allclose(np.array(stacked), np.array(curve), rtol=1e-9)
    assert json.loads(infos[0]["train_curve"])[0][1] != curve[0][1]  # seed 0: its own init and test split


def test_a_curve_needs_a_recipe():
    with pytest.raises(ValueError, match="curve_every records training"):
        SOLVERS.build("mlp-2fc[init=linear,curve_every=10]")


def test_the_report_section_reads_the_run(run, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(run, root / "seeds")
    (root / "manifest.toml").write_text('[[set]]\nname = "seeds"\nfolder = "results/seeds"\n'
                                        'command = "matinv-bench reproduce seeds --out results/seeds"\n')
    section = next(s for s in report.SECTIONS if s.folder == "seeds")
    text = "\n".join(report.render_section(manifest.load(root / "manifest.toml"), root, section))
    assert (
        text.startswith(f"### {seeds.TITLE}") and "Made by: `matinv-bench reproduce seeds" in text
    )  # under "Beyond the paper"
    assert "(seeds/seeds.png)" in text and "(seeds/warm_start.png)" in text
    (root / "seeds" / "seeds.csv").write_text("seed,mae\n0,1e-4\n")
    with pytest.raises(ReportError, match="seeds.csv: malformed, missing columns affine_mae"):
        report.render_section(manifest.load(root / "manifest.toml"), root, section)
