"""Networks with given weights: the paper's own 4-8-4 net (Appendix D.1) against the figures the
paper reports for it, and its equation (16), the linear approximation built as a ReLU net."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from matinv_bench.cli import main
from matinv_bench.datasets import make_dataset
from matinv_bench.errors import UserError
from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers.learned import fixed, recipes, standardization
from matinv_bench.solvers.learned.architecture import build_mlp

# cited from the paper (appendix_d1/README.md and published.md of the paper data)
PAPER_SMALL_NET_MAE = 6.82e-5  # Table 2, average of 3 trained nets
PAPER_LINEAR_MAE = 1.97e-4  # Table 2
# Table 3: share of 1M samples and LP max abs(f - lin) of a11, per activation pattern h0..h7
PAPER_TABLE3 = {"01001111": (0.5567, 0.0014152), "01011100": (0.4172, 0.0015488), "01010100": (0.0006, 0.0019683)}
# Perturbing every printed weight within half a unit of its last printed digit moves these LP
# maxima by up to 1.5% (measured over 30 draws); shares of 1M samples differ between two draws
# by about 0.07 percentage points (one standard deviation).
LP_RTOL, SHARE_ATOL = 0.02, 0.003


def _out(solver, data):
    solver.prepare(data.A)
    return solver.collect(solver.invert()).X


@pytest.fixture
def paper_net(paper_data):
    return paper_data / "appendix_d1" / "weights.json", paper_data / "matrix_2_dataset"


def test_the_papers_network_on_the_authors_test_set(paper_net):
    weights, folder = paper_net
    solver = SOLVERS.build(f"mlp-2fc[weights={weights}]")
    assert solver.hidden == 8 and solver.recipe == "none"  # the width comes from the file; never trained
    data = make_dataset(f"paper-dir:{folder}")
    assert solver.skip(data) is None and len(data) == 10_000
    mae = np.abs(_out(solver.fit(data), data) - data.inv_ref).mean()
    # read as the paper trained it (input T, output (inv(A) - inv(A0)) / eps): the paper's accuracy,
    # three times better than the linear approximation; read wrongly it would be off by orders
    assert mae == pytest.approx(PAPER_SMALL_NET_MAE, rel=0.1)
    assert mae < PAPER_LINEAR_MAE / 2
    assert solver.fit_info_["train_steps"] == 0


def test_regions_of_the_papers_network_match_section_5_3_and_table_3(paper_net, tmp_path):
    weights, folder = paper_net
    out = tmp_path / "regions"
    assert main(["reproduce", "regions", "--weights", str(weights), "--dataset", f"paper-dir:{folder}",
                 "--max-regions", "8", "--milp-time-limit", "60", "--quiet", "--out", str(out)]) == 0
    regions = pd.read_csv(out / "regions.csv", dtype={"pattern": str}).set_index("pattern")
    for pattern, (share, a11) in PAPER_TABLE3.items():
        assert regions.fraction[pattern] == pytest.approx(share, abs=SHARE_ATOL), pattern
        assert regions.lp_11[pattern] == pytest.approx(a11, rel=LP_RTOL), pattern
    bounds = pd.read_csv(out / "bounds.csv").set_index("quantity").value
    # the MILP over the whole box finds the largest of the regions' maxima: Table 3's largest, a11
    milp = bounds["max abs(f - lin), MILP over the whole box"]
    assert milp == pytest.approx(max(a11 for _, a11 in PAPER_TABLE3.values()), rel=LP_RTOL)
    assert milp == pytest.approx(regions.lp_max_dev_from_linear.max(), rel=1e-6)
    assert bounds["mean abs(f - lin), sampled"] == pytest.approx(2.3210e-4, rel=0.02)  # Section 5.3
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row.status == "ok" and row.n_matrices == 10_000
    text = (out / "summary.md").read_text()
    assert "Beside the paper's figures for its own network" in text and "0.0019683" in text
    assert "fixed weights" in text


def _write(tmp_path, payload, name="w.json"):
    path = tmp_path / name
    path.write_text(json.dumps(payload) if not isinstance(payload, str) else payload)
    return path


def _linear_payload(A0, eps, output="inverse"):
    (W1, b1), (W2, b2) = fixed.linear_layers(A0, eps)
    return {"W1": W1.tolist(), "b1": b1.tolist(), "W2": W2.tolist(), "b2": b2.tolist(), "output": output}


def test_a_weights_file_that_says_inverse_is_read_as_the_inverse(tmp_path):
    data = make_dataset("paper-3x3", n_test=64)
    path = _write(tmp_path, _linear_payload(data.base, data.eps))
    net = SOLVERS.build(f"mlp-2fc[weights={path}]").fit(data)
    np.testing.assert_allclose(_out(net, data), _out(SOLVERS.build("linear-approx").fit(data), data),
                               rtol=0, atol=1e-14)


def test_a_delta_output_is_folded_into_the_inverse(tmp_path):
    data = make_dataset("paper-2x2-1st", n_test=64)
    (W1, b1), (W2, b2) = fixed.linear_layers(data.base, data.eps)
    P = np.linalg.inv(data.base).reshape(-1)
    payload = {
        "W1": W1.tolist(),
        "b1": b1.tolist(),
        "W2": (W2 / data.eps).tolist(),
        "b2": ((b2 - P) / data.eps).tolist(),
    }
    net = SOLVERS.build(f"mlp-2fc[weights={_write(tmp_path, payload)}]").fit(data)  # no "output": delta
    np.testing.assert_allclose(_out(net, data), _out(SOLVERS.build("linear-approx").fit(data), data),
                               rtol=0, atol=1e-14)


@pytest.mark.parametrize("payload, words", [
    ("{not json", "cannot read"),
    ([1, 2], "JSON object"),
    ({"W1": [[1.0] * 4] * 3, "b1": [0.0] * 3}, "has no W2"),
    ({"W1": [[1.0] * 4] * 3, "b1": [0.0] * 2, "W2": [[1.0] * 3] * 4, "b2": [0.0] * 4}, "do not chain"),
    ({"W1": [[1.0] * 3] * 3, "b1": [0.0] * 3, "W2": [[1.0] * 3] * 3, "b2": [0.0] * 3}, "n\\^2 inputs"),
    ({"W1": [[1.0] * 4] * 3, "b1": [0.0] * 3, "W2": [[1.0] * 3] * 4, "b2": [0.0] * 4, "W3": [[1.0]]}, "W3"),
    ({"W1": [["a"] * 4] * 3, "b1": [0.0] * 3, "W2": [[1.0] * 3] * 4, "b2": [0.0] * 4}, "not an array of numbers"),
    ({"W1": [[1.0] * 4] * 3, "b1": [0.0] * 3, "W2": [[1.0] * 3] * 4, "b2": [0.0] * 4, "output": "x"}, "output"),
])
def test_a_bad_weights_file_is_a_one_line_error_naming_it(tmp_path, payload, words):
    path = _write(tmp_path, payload)
    with pytest.raises(UserError, match=words) as info:
        SOLVERS.build(f"mlp-2fc[weights={path}]")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("spec, words", [
    ("mlp-2fc[weights=/no/such/file.json]", "no such file"),
    ("mlp-2fc[weights=W,recipe=quick]", "fixed weights"),
    ("mlp-2fc[weights=W,hidden=16]", "have 6 hidden units"),
    ("mlp-2fc[init=linear,hidden=8]", "leave out hidden"),
    ("mlp-3fc[init=linear]", "use mlp-2fc"),
    ("mlp-2fc[init=zeros]", "init must be one of random, linear"),
])
def test_bad_fixed_network_specs_are_spec_errors(tmp_path, spec, words):
    path = _write(tmp_path, {"W1": [[1.0] * 4] * 6, "b1": [0.0] * 6, "W2": [[1.0] * 6] * 4, "b2": [0.0] * 4})
    with pytest.raises(UserError, match=words):
        SOLVERS.build(spec.replace("weights=W", f"weights={path}"))


def test_fixed_networks_skip_datasets_they_do_not_fit(tmp_path):
    path = _write(tmp_path, {"W1": [[1.0] * 4] * 6, "b1": [0.0] * 6, "W2": [[1.0] * 6] * 4, "b2": [0.0] * 4})
    net = SOLVERS.build(f"mlp-2fc[weights={path}]")
    assert "take 4 inputs" in net.skip(make_dataset("paper-3x3", n_test=4))
    assert "not a box" in net.skip(make_dataset("uniform[n=2]", n_test=4))
    assert "no base matrix" in SOLVERS.build("mlp-2fc[init=linear]").skip(make_dataset("spd[n=4,cond=10]", n_test=4))


# ----------------------------------------------------------------------------------- equation (16)

@pytest.mark.parametrize("dataset", ["paper-2x2-1st", "paper-2x2-2nd", "paper-3x3", "paper-16x16", "spd-box[n=8]"])
def test_equation_16_is_the_linear_approximation(dataset):
    data = make_dataset(dataset, n_test=128)
    net = SOLVERS.build("mlp-2fc[init=linear]").fit(data)
    assert net.model_[0].out_features == 2 * data.n**2 and net.fit_info_["train_steps"] == 0
    lin = _out(SOLVERS.build("linear-approx").fit(data), data)
    np.testing.assert_allclose(_out(net, data), lin, rtol=0, atol=8 * np.finfo(float).eps * np.abs(lin).max())


def test_equation_16_on_a_random_box_of_any_size():
    rng = np.random.default_rng(7)
    A0, eps = rng.standard_normal((8, 8)) + 8 * np.eye(8), 0.03
    T = rng.uniform(-1, 1, (50, 8, 8))
    model = build_mlp(8, 128, 2)
    fixed.copy_into(model, fixed.linear_layers(A0, eps))
    with torch.no_grad():
        Y = model(torch.from_numpy(T.reshape(50, -1))).numpy().reshape(T.shape)
    P = np.linalg.inv(A0)
    np.testing.assert_allclose(Y, P - P @ (eps * T) @ P, rtol=0, atol=1e-14)
    # as printed (output c + h+ + h-) it would compute c + |J T|: not the approximation
    (W1, b1), (W2, b2) = fixed.linear_layers(A0, eps)
    printed = np.abs(T.reshape(50, -1) @ W1[:64].T) + b2
    assert np.abs(printed - Y.reshape(50, -1)).max() > 1e-3


def test_unfolding_then_folding_the_scalings_gives_the_model_back():
    torch.manual_seed(0)
    model = build_mlp(3, 12, 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    scal = [torch.rand(9, generator=g, dtype=torch.float64) + 0.5 for _ in range(4)]
    x = torch.randn(5, 9, dtype=torch.float64)
    with torch.no_grad():
        y = model(x)
        standardization.unfold_standardization(model, *scal)
        x_mean, x_std, y_mean, y_std = scal
        torch.testing.assert_close(model((x - x_mean) / x_std), (y - y_mean) / y_std)
        standardization.fold_standardization(model, *scal)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])


@pytest.mark.parametrize("recipe", ["tiny", "paper"])
def test_a_warm_start_trains_from_the_linear_approximation(monkeypatch, recipe):
    # with a learning rate of zero training changes nothing: the network must come out as the
    # linear approximation, through the recipe's scalings (standardised for tiny, the delta
    # target of the 4-8-4 net for paper) and back
    base = recipes.RECIPES[recipe]
    monkeypatch.setitem(recipes.RECIPES, recipe, lambda n, hidden=None: replace(
        base(n, hidden), lr=0.0, lr_min=0.0, steps=3, train_size=512, weight_decay=0.0))
    data = make_dataset("paper-2x2-1st", n_test=64)
    net = SOLVERS.build(f"mlp-2fc[init=linear,recipe={recipe}]").fit(data)
    assert net.fit_info_["train_steps"] == 3
    lin = _out(SOLVERS.build("linear-approx").fit(data), data)
    np.testing.assert_allclose(_out(net, data), lin, rtol=0, atol=1e-13)


def test_a_warm_start_has_its_own_cache_key():
    data = make_dataset("paper-2x2-1st", n_test=8)
    warm = SOLVERS.build("mlp-2fc[init=linear,recipe=tiny]").trainee(data)
    cold = SOLVERS.build("mlp-2fc[hidden=8,recipe=tiny]").trainee(data)
    assert warm.hidden == cold.hidden == 8
    recipe = recipes.recipe_for("tiny", 2, 8)
    from matinv_bench.solvers.learned import cache

    assert (
        cache.cache_key(warm.architecture(), 0, data, recipe)[0]
        != cache.cache_key(cold.architecture(), 0, data, recipe)[0]
    )
    assert cold.architecture() == {"layers": 2, "hidden": 8, "dtype": "float64"}  # keys of models trained before


def test_a_warm_start_beats_random_init_on_a_small_budget():
    data = make_dataset("paper-2x2-1st", n_test=512)
    maes = {spec: np.abs(_out(SOLVERS.build(spec).fit(data), data) - data.inv_ref).mean()
            for spec in ("mlp-2fc[init=linear,recipe=tiny]", "mlp-2fc[hidden=8,recipe=tiny]", "linear-approx")}
    assert maes["mlp-2fc[init=linear,recipe=tiny]"] < maes["linear-approx"] < maes["mlp-2fc[hidden=8,recipe=tiny]"]
