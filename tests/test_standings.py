"""Where the networks stand on the paper's boxes: the comparison that ends `matinv-bench run`,
computed from fixture rows whose ratios are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matinv_bench.reporting import results, standings


def row(solver, family, dataset, mae, t, seed=0, **kw):
    return {"solver": solver, "family": family, "dataset": dataset, "n": 2, "dtype": "float64", "seed": seed,
            "status": "ok", "mae": mae, "rel_fro_err": mae, "time_per_matrix_s": t,
            "timestamp": "2026-01-01T00:00:00+00:00", **kw}


def box_rows(dataset="paper-2x2-1st", net_mae=2e-4, scale=1.0) -> list[dict]:
    return [
        row("mlp-2fc[recipe=demo,seed=0]", "learned", dataset, net_mae, 4e-8 * scale, train_steps=1500),
        row("mlp-3fc[recipe=demo,seed=0]", "learned", dataset, 2 * net_mae, 8e-8 * scale, train_steps=1500),
        row("mlp-2fc[recipe=none,seed=0]", "learned", dataset, 1e-9, 1e-9, train_steps=0),  # untrained: never best
        row("linear-approx", "approximation", dataset, 1e-4, 2e-8),
        row("neumann[order=2]", "approximation", dataset, 4e-6, 3e-8),
        row("newton-schulz[init=base,steps=2]", "iterative", dataset, 1e-7, 4e-8),
        row("lu", "direct", dataset, 2e-16, 1e-6),
        row("closed-form", "direct", dataset, 2e-16, 1e-8),
        row("closed-form[backend=torch]", "direct", dataset, 2e-16, 5e-8),
    ]


def test_the_table_compares_the_best_trained_network_with_each_baseline():
    df = results.to_frame(box_rows() + [row("lu", "direct", "hilbert[n=10]", 1e5, 1e-6)])  # not a box: left out
    t = standings.table(df).set_index("role")
    assert list(t.index) == [standings.NETWORK, *standings.BASELINES]
    assert set(t["dataset"]) == {"paper-2x2-1st"}
    assert t.loc[standings.NETWORK, "method"] == "mlp-2fc[recipe=demo]"  # the trained one with the lowest MAE
    assert t.loc["best matmul-only", "method"] == "newton-schulz[init=base,steps=2]"
    assert t.loc["closed-form", "method"] == "closed-form"  # the faster of its two backends
    assert t.loc["linear approximation", "error_ratio"] == pytest.approx(2.0)
    assert t.loc["linear approximation", "time_ratio"] == pytest.approx(2.0)
    assert t.loc["best matmul-only", "error_ratio"] == pytest.approx(2e3)
    assert t.loc["LU", "time_ratio"] == pytest.approx(0.04)
    assert t.loc["closed-form", "time_ratio"] == pytest.approx(4.0)
    assert np.isnan(t.loc[standings.NETWORK, "error_ratio"])


def test_seeds_are_averaged_and_counted():
    rows = box_rows() + [{**r, "seed": 1, "mae": 3 * r["mae"], "solver": r["solver"].replace("seed=0", "seed=1")}
                         for r in box_rows()]
    t = standings.table(results.to_frame(rows)).set_index("role")
    assert (t["seeds"] == 2).all()
    assert t.loc[standings.NETWORK, "mae"] == pytest.approx(4e-4)  # mean of 2e-4 and 6e-4
    assert "means over 2 seeds" in " ".join(standings.lines(standings.table(results.to_frame(rows))))


def test_the_finding_says_ratios_in_the_direction_of_the_numbers():
    # box 1: the network has 2x the linear approximation's error; box 2: half of it
    df = results.to_frame(box_rows("paper-2x2-1st", 2e-4) + box_rows("paper-3x3", 5e-5))
    finding = standings.finding(standings.table(df))
    assert finding == ("On the paper's 2 boxes the best network is within 2x of the linear approximation's error, "
                       "500-2,000x less accurate than the best matmul-only method and 4x slower than closed-form")
    df = results.to_frame(box_rows("paper-2x2-1st", 5e-5, scale=0.1))
    assert standings.finding(standings.table(df)) == (
        "On the paper's box the best network is 2x more accurate than the linear approximation, 500x less "
        "accurate than the best matmul-only method and 2.5x faster than closed-form")


def test_lines_end_with_the_finding_and_say_one_seed_is_a_ratio_not_a_verdict():
    t = standings.table(results.to_frame(box_rows()))
    text = standings.lines(t)
    assert text[-1] == standings.finding(t) + "."
    assert "one seed, so these are ratios of one run, not verdicts" in text[0]
    network = text[2].splitlines()[2]
    assert [c.strip() for c in network.strip("|").split("|")][:3] == ["paper-2x2-1st", "best network",
                                                                         "2-FC, recipe=demo"]
    assert "beats" not in "\n".join(text)


def test_no_trained_network_on_a_box_no_comparison():
    rows = [r for r in box_rows() if "recipe=demo" not in r["solver"]]
    t = standings.table(results.to_frame(rows))
    assert t.empty and standings.lines(t) == [] and standings.finding(t) == ""
    assert standings.table(pd.DataFrame(columns=results.COLUMNS)).empty


@pytest.mark.parametrize("r, text", [(0.7512, "0.75x"), (3.14, "3.1x"), (1734, "1,700x"), (8.8e11, "8.8e+11x"),
                                     (float("nan"), "n/a")])
def test_ratio_words(r, text):
    assert standings.ratio(r) == text
