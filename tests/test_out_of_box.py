"""``reproduce out-of-box``: a network trained on the eps box, tested on the box of radius c eps.

One tiny run (one base, c in {1, 4}, a tiny net) into its own model cache, and a plain box run of
the same net beside it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matinv_bench.cli import main
from matinv_bench.datasets import make_dataset
from matinv_bench.engine.runner import make_grid, run_grid
from matinv_bench.errors import SpecError
from matinv_bench.experiments import out_of_box
from matinv_bench.experiments.where_can import BASE_NAMES
from matinv_bench.reporting.results import read_results
from matinv_bench.solvers import SOLVERS

BASE = "paper-2x2-1st"
NET = "mlp-2fc[hidden=16,recipe=tiny]"
NET_ROW = "mlp-2fc[hidden=16,recipe=tiny,seed=0]"  # a network's rows name the seed of their cell
PLAIN = f"box[base={BASE},eps=0.01]"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The experiment's rows, the number of models it left in its cache, and a plain box run of the
    same net (its MAE threshold 1e-3, so that the tiny net and the linear approximation break at c = 4)."""
    root = tmp_path_factory.mktemp("out-of-box")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATINV_BENCH_CACHE", str(root / "models"))
        assert main(["reproduce", "out-of-box", "--base", BASE, "--seeds", "1", "--c", "1", "4", "--solver", NET,
                     "linear-approx", "lu",
                     "--threshold", "1e-3", "--n-matrices", "64", "--quiet", "--out", str(root / "run")]) == 0
        models = len(list((root / "models").glob("*.pt")))
        plain = run_grid(make_grid([NET, "linear-approx", "lu"], [PLAIN]), None, n_test=64, time_it=False,
                         progress=False)
        models_after_plain = len(list((root / "models").glob("*.pt")))
    rows = read_results(root / "run")
    assert NET_ROW in set(rows.solver)  # a network's rows name the seed of their cell
    rows["solver"] = rows["solver"].replace(NET_ROW, NET)
    return {"out": root / "run", "rows": rows, "models": models, "plain": plain,
            "models_after_plain": models_after_plain}


def test_the_net_is_trained_once_and_reused_across_c(run):
    net = run["rows"][run["rows"].solver == NET]
    assert sorted(net.c) == [1.0, 4.0] and (net.status == "ok").all()
    assert run["models"] == 1, "one model for every c"
    assert net.cache_key.nunique() == 1 and net.train_cache_hit.all()  # trained before the cells, found by each


def test_at_c_1_the_result_is_a_plain_box_run_of_the_same_net(run):
    rows, plain = run["rows"], run["plain"].set_index("solver")
    at1 = rows[rows.c == 1].set_index("solver")
    assert run["models_after_plain"] == 1, "the plain eps box finds the same model"
    assert plain.loc[NET, "cache_key"] == at1.loc[NET, "cache_key"]
    for solver in (NET, "linear-approx", "lu"):
        assert plain.loc[solver, "mae"] == at1.loc[solver, "mae"], solver
        assert plain.loc[solver, "theta"] == at1.loc[solver, "theta"]


def test_the_net_sees_the_training_eps_and_inputs_beyond_the_training_box():
    solver = SOLVERS.build(NET.replace("recipe=tiny", "recipe=none"))  # the input map needs no training
    for c, low, high in ((1, 0.9, 1.0), (4, 3.6, 4.0)):
        data = make_dataset(f"box[base={BASE},eps=0.01,test_scale={c}]", n_test=256)
        solver.fit(data)
        X = solver.features(data.A)
        assert solver.eps_ == 0.01 and data.eps == 0.01
        assert low < np.abs(X).max() <= high + 1e-9, c  # T = (A - A0) / eps, in [-c, c]
        np.testing.assert_allclose(X, data.T.reshape(len(X), -1), atol=1e-9)
        assert data.theta == pytest.approx(c * make_dataset(PLAIN, n_test=1).theta)
        train = data.draw_train(256)
        assert np.abs((train.A - train.base) / 0.01).max() <= 1.0 + 1e-9  # training stays in the eps box


def test_the_linear_approximation_error_grows_like_c_squared(run):
    lin = run["rows"][run["rows"].solver == "linear-approx"].set_index("c").mae
    assert 16 / 2 < lin[4.0] / lin[1.0] < 16 * 2  # second-order remainder: (4 eps)^2 / eps^2


def _break_table(summary: str) -> dict[str, list[str]]:
    lines = summary.split("## Where each breaks", 1)[1].split("\n## ", 1)[0].splitlines()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("|")]
    return {r[0]: r[1:] for r in rows[2:]}


def _expected(rows) -> dict[str, str]:
    """Per solver, the smallest c with frac_bad above one half, from the rows alone."""
    out = {}
    for solver, g in rows.groupby("solver"):
        bad = g[(g.frac_bad > 0.5) | (g.status == "failed")].c
        out[solver] = f"{bad.min():g}" if len(bad) else "never"
    return out


def test_the_break_table_is_made_from_the_rows(run, tmp_path):
    rows = run["rows"]
    table = _break_table((run["out"] / "summary.md").read_text())
    expected = _expected(rows)
    assert expected == {NET: "4", "linear-approx": "4", "lu": "never"}  # the run shows a break, and none for LU
    assert {s.replace(NET_ROW, NET): cells[0].split()[0] for s, cells in table.items()} == expected
    # planted: LU bad at c = 1, the net failed on every matrix at c = 1
    planted = rows.copy()
    planted.loc[(planted.solver == "lu") & (planted.c == 1), "frac_bad"] = 0.9
    net1 = (planted.solver == NET) & (planted.c == 1)
    planted.loc[net1, ["status", "failure_rate", "mae", "frac_bad", "c", "base"]] = ["failed", 1.0, np.nan, np.nan,
                                                                                    np.nan, None]
    out_of_box.write(planted, tmp_path, "matinv-bench reproduce out-of-box")
    table = _break_table((tmp_path / "summary.md").read_text())
    assert table["lu"][0].startswith("1 (θ = 0.0456)") and table[NET][0].startswith("1 (θ")
    assert (tmp_path / "summary.md").read_text().startswith("# Out of the training box\n\nMade by: `matinv-bench")


def test_the_figure_leaves_out_untrained_nets(run, tmp_path):
    assert (run["out"] / "out_of_box.png").read_bytes()[:4] == b"\x89PNG" and (run["out"] / "out_of_box.svg").is_file()
    rows = run["rows"]
    untrained = rows[rows.solver == NET].assign(solver="mlp-2fc[hidden=16,recipe=none]", train_recipe="none")
    scored = out_of_box.scored(pd.concat([rows, untrained]))
    fig = out_of_box.figure(scored)
    drawn = {line.get_gid() for ax in fig.axes for line in ax.get_lines()} - {None}
    assert drawn == {NET, "linear-approx", "lu"}
    title = out_of_box.finding(scored).replace("\u00a0", " ")  # "c = 4" is never broken across lines
    at = out_of_box.breaks_at(scored)
    net, linear = at.loc[NET, BASE], at.loc["linear-approx", BASE]  # per base, each named
    assert title.startswith(f"Trained at c = 1: the first network breaks at c = {net:g} ({BASE})")
    assert (("the linear approximation at the same c" in title) == (net == linear))
    assert "at the same c" in title or f"the linear approximation: c = {linear:g} ({BASE})" in title
    # planted: the linear approximation never breaks -> said apart from the networks
    holds = scored.assign(frac_bad=scored["frac_bad"].where(scored.solver != "linear-approx", 0.0))
    assert f"the linear approximation: never ({BASE})" in out_of_box.finding(holds).replace("\u00a0", " ")


def test_the_default_scales_pass_theta_1_for_every_base():
    cs = out_of_box.default_scales(BASE_NAMES, 0.01)
    assert cs[:5] == [0.5, 1, 2, 4, 8] and cs == sorted(cs)
    for base in BASE_NAMES:
        theta = make_dataset(out_of_box.box_spec(base, 0.01, cs[-1]), n_test=1).theta
        assert theta > 1, base
    # the last scale is the first needed: one doubling less leaves a base below theta = 1
    assert min(make_dataset(out_of_box.box_spec(b, 0.01, cs[-2]), n_test=1).theta for b in BASE_NAMES) < 1
    assert out_of_box.default_scales(["paper-3x3"], 0.01)[-1] == 8  # theta(8) = 1.16


@pytest.mark.parametrize("c", ["0", "-2", "nan"])
def test_a_bad_c_is_a_one_line_error_that_writes_nothing(c, tmp_path, capsys):
    assert main(["reproduce", "out-of-box", "--base", BASE, "--c", "1", c, "--solver", "lu",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--c" in err[0]
    assert not (tmp_path / "run").exists()
    with pytest.raises(SpecError, match="test_scale"):
        make_dataset(f"box[base={BASE},test_scale={c}]", n_test=1)
