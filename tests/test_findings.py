"""The README's findings: computed from result files, naming recipe, dataset and seeds, and saying
"beats" only where the seeds' intervals do not overlap."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from matinv_bench.reporting import findings
from matinv_bench.reporting.findings import Interval, compare

AUTHORS_2X2 = "paper-dir:../shared/paper-data/matrix_2_dataset"


@pytest.mark.parametrize("a, b, verdict", [
    ((1.0, 2.0), (3.0, 4.0), "beats"),
    ((3.0, 4.0), (1.0, 2.0), "loses"),
    ((1.0, 3.0), (2.0, 4.0), "overlaps"),
    ((1.0, 2.0), (2.0, 3.0), "overlaps"),  # touching intervals: no verdict
])
def test_beats_only_where_the_intervals_separate(a, b, verdict):
    assert compare(Interval(sum(a) / 2, *a, 3), Interval(sum(b) / 2, *b, 3)) == verdict


def _table(root: Path, table: str, recipe: str, maes: dict[str, list[float]], dataset: str = AUTHORS_2X2,
           published: dict[str, float] | None = None) -> None:
    folder = root / "paper" / f"{table}-{recipe}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for method, values in maes.items():
        for seed, mae in enumerate(values):
            name, _, params = method.partition("[")
            spec = f"{name}[recipe={recipe},seed={seed}{',' + params[:-1] if params else ''}]" \
                if name.startswith("mlp") else method
            rows.append({"solver": spec, "dataset": dataset, "seed": seed, "mae": mae, "status": "ok"})
    pd.DataFrame(rows).to_parquet(folder / "results.parquet")
    pd.DataFrame([{"method": m, "dataset": dataset, "published_mae": (published or {}).get(m)} for m in maes]) \
        .to_csv(root / "paper" / f"{table}-{recipe}.csv", index=False)


def test_a_box_finding_says_beats_only_where_every_seed_agrees(tmp_path):
    _table(tmp_path, "table2", "paper", {"mlp-2fc": [1e-5, 2e-5, 3e-5], "mlp-3fc": [1e-5, 5e-4, 2e-5],
                                         "linear-approx": [1e-4, 1.1e-4, 0.9e-4]},
           published={"mlp-2fc": 2.05e-5, "linear-approx": 1.97e-4})
    (line,) = findings.headline_markdown(tmp_path).strip().splitlines()
    assert line.startswith("- **With the paper's recipe, on the authors' 2x2 (1st) test set (3 seeds):**")
    assert "the 2-FC beats the linear approximation" in line  # every seed below every seed of the baseline
    assert "the 3-FC and the linear approximation overlap over the seeds (no verdict)" in line
    assert "3-FC beats" not in line and "2.00e-05 [1.00e-05, 3.00e-05] (the paper's 2.05e-05)" in line
    assert "(the paper's Table 2: 1.97e-04)" in line and "results/paper/table2-paper.md" in line


def test_the_sixteen_by_sixteen_result_is_a_headline_and_our_recipes_are_labelled_ours(tmp_path):
    _table(tmp_path, "table1", "quick", {"mlp-2fc": [2e-4, 2.1e-4, 1.9e-4], "mlp-3fc": [7e-4, 8e-4, 7.5e-4],
                                         "linear-approx": [4.5e-5, 4.6e-5, 4.4e-5]},
           dataset="paper-dir:../shared/paper-data/matrix_16")
    (line,) = findings.headline_markdown(tmp_path).strip().splitlines()
    assert line.startswith("- **At 16x16, with our `quick` recipe (not the paper's), on a 16x16 box around the "
                           "authors' base (3 seeds):**")
    assert "the 2-FC does not beat the linear approximation (every seed is worse)" in line


def test_missing_files_leave_their_finding_out(tmp_path):
    assert findings.headline_markdown(tmp_path) == "\n"


def test_the_committed_results_give_a_headline_that_names_recipe_and_seeds():
    root = Path(__file__).resolve().parents[1] / "results"
    lines = findings.headline_markdown(root).strip().splitlines()
    # accuracy over seeds, timings over repetitions: each says over which
    assert lines and all((" seed" in line or " repetitions" in line) and "](results/" in line for line in lines)
    assert any(line.startswith("- **At 16x16") for line in lines)


def _slopes(root: Path, folder: str, rows: dict[str, tuple[float, int, int]]) -> None:
    (root / folder).mkdir(parents=True)
    pd.DataFrame([{"solver_label": label, "dtype": "float64", "device": "cpu", "fit_range": "bound", "slope": slope,
                   "ci_lo": slope - 0.05, "ci_hi": slope + 0.05, "fit_n_lo": lo, "fit_n_hi": hi,
                   "flops_exponent": 4.0 if label.startswith("mlp") else 3.0}
                  for label, (slope, lo, hi) in rows.items()]).to_csv(root / folder / "slopes.csv", index=False)


def test_the_exponents_name_their_sizes_and_take_lu_s_from_the_latency_view_only_when_they_must(tmp_path):
    nets = {"mlp-2fc[hidden=8n^2,recipe=none]": (4.0, 16, 48), "mlp-3fc[hidden=8n^2,recipe=none]": (3.9, 16, 48)}
    _slopes(tmp_path, "scaling", {**nets, "lu": (float("nan"), 0, 0)})
    _slopes(tmp_path, "scaling-latency", {"lu": (2.7, 512, 2048)})
    (line,) = findings._scaling(tmp_path)
    assert line.startswith("- **Where each is compute-bound, a dense network's time grows as n^3.90-n^4.00 (its "
                           "flops: n^4); LU's, at one matrix per call, as n^2.70 (its flops: n^3)**")
    assert "LU, at one matrix per call, n^2.70 [2.65, 2.75] over n = 512-2048" in line
    _slopes(tmp_path / "b", "scaling", {**nets, "lu": (2.9, 256, 1024)})
    _slopes(tmp_path / "b", "scaling-latency", {"lu": (2.7, 512, 2048)})
    (line,) = findings._scaling(tmp_path / "b")
    assert "LU's as n^2.90 (its flops: n^3)" in line and "one matrix per call" not in line
    _slopes(tmp_path / "c", "scaling", nets)
    (line,) = findings._scaling(tmp_path / "c")
    assert "LU" not in line and "the 3-FC n^3.90 [3.85, 3.95] over n = 16-48 (its flops: n^4)" in line


def _where(root: Path, bad: dict[str, list[float]]) -> None:
    """A where-can set: the 2-FC's share of bad matrices per base at theta 0.9, 1.2, 2 (two seeds, equal)."""
    rows = [{"solver": f"mlp-2fc[recipe=quick,seed={seed}]", "family": "learned", "status": "ok", "base": base,
             "theta": theta, "frac_bad": share, "mae": 1e-3, "failure_rate": 0.0, "seed": seed,
             "train_recipe": "quick"}
            for base, shares in bad.items() for theta, share in zip((0.9, 1.2, 2.0), shares) for seed in (0, 1)]
    (root / "where-can").mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(root / "where-can" / "results.parquet")


def test_the_breakdown_finding_says_on_how_many_bases_the_network_breaks_at_once(tmp_path):
    _where(tmp_path, {"a": [0.1, 0.9, 1.0], "b": [0.0, 0.06, 0.8]})
    (line,) = findings._where_can(tmp_path)
    assert line.startswith("- **Where the box reaches singular matrices (θ > 1), the network breaks at the first θ "
                           "past 1 on 1 of 2 bases**")
    assert "a: 10.0 % [10.0, 10.0] at θ = 0.9, 90 % at θ = 1.2, broken from θ = 1.2" in line
    assert "b: 0.0 % [0.0, 0.0] at θ = 0.9, 6 % at θ = 1.2, broken from θ = 2" in line
    _where(tmp_path / "all", {"a": [0.1, 0.9, 1.0], "b": [0.0, 0.1, 0.2]})
    (line,) = findings._where_can(tmp_path / "all")
    assert "on 1 of 2 bases" in line and "b: 0.0 % [0.0, 0.0] at θ = 0.9, 10 % at θ = 1.2, never broken" in line
    _where(tmp_path / "every", {"a": [0.1, 0.9, 1.0], "b": [0.0, 0.6, 0.8]})
    assert "past 1 on every base**" in findings._where_can(tmp_path / "every")[0]
