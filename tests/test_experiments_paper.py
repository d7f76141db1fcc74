"""The where-can, why-can't and regions experiments end to end on tiny settings, and the report
built from their files (including its one-line failures on missing or malformed files)."""

import shutil

import numpy as np
import pandas as pd
import pytest

from matinv_bench.cli import main
from matinv_bench.datasets import make_dataset
from matinv_bench.datasets.base import box_theta
from matinv_bench.datasets.boxes import BASES
from matinv_bench.errors import ReportError
from matinv_bench.experiments.where_can import box_spec
from matinv_bench.reporting.report import build_report
from matinv_bench.reporting.results import read_results


@pytest.mark.parametrize("base", ["paper-2x2-1st", "paper-3x3"])
@pytest.mark.parametrize("theta", [0.01, 0.5, 2.0])
def test_box_spec_hits_the_requested_theta(base, theta):
    data = make_dataset(box_spec(base, theta), n_test=4)
    assert data.theta == pytest.approx(theta, rel=1e-5)
    A0 = BASES[base]
    assert box_theta(A0, data.eps) == pytest.approx(A0.shape[0] * data.eps / np.linalg.svd(A0)[1][-1])


def test_theta_below_one_keeps_every_sampled_matrix_nonsingular_with_the_weyl_margin():
    # theta < 1: sigma_min(A) >= sigma_min(A0) - n eps = sigma_min(A0) (1 - theta) > 0
    data = make_dataset(box_spec("paper-2x2-2nd", 0.9), n_test=5000)
    s0 = np.linalg.svd(BASES["paper-2x2-2nd"])[1][-1]
    assert data.sigma_min.min() >= s0 * (1 - 0.9) * (1 - 1e-12)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny run of each experiment into a results root (untrained nets: the plumbing, not the science)."""
    root = tmp_path_factory.mktemp("results")
    assert main(["reproduce", "where-can", "--base", "paper-2x2-1st", "--seeds", "1", "--theta", "0.01", "0.1", "2",
                 "--solver", "lu", "mlp-2fc[recipe=none,hidden=8]", "neumann[order=2]", "--n-matrices", "64",
                 "--out", str(root / "where-can"), "--quiet"]) == 0
    assert main(["reproduce", "why-cant", "--recipe", "none", "--dataset", "uniform[n=2]", "--n-matrices", "200",
                 "--radius", "0.1", "--K", "0.5", "2", "--size", "50", "--replicates", "2", "--t-min", "1e-4",
                 "--out", str(root / "why-cant"), "--quiet"]) == 0
    assert main(["reproduce", "regions", "--recipe", "none", "--samples", "20000", "--max-regions", "4",
                 "--out", str(root / "regions")]) == 0
    return root


def test_where_can_rows(runs):
    df = read_results(runs / "where-can")
    ok = df[df.status == "ok"]
    assert set(ok.solver) >= {"lu", "mlp-2fc[hidden=8,recipe=none,seed=0]"}  # a network names its seed
    np.testing.assert_allclose(sorted(ok.theta.unique()), [0.01, 0.1, 2.0], rtol=1e-9)
    lu = ok[ok.solver == "lu"]
    assert (lu.mae < 1e-12).all() and (lu.frac_bad == 0).all()
    assert (ok[ok.solver.str.startswith("mlp")].frac_bad == 1).all()  # an untrained net is not an inverse
    neumann = df[df.solver == "neumann[order=2]"].sort_values("theta")
    # error grows like theta^3 inside the box and explodes beyond theta = 1
    assert (neumann.status == "ok").all() and neumann.mae.is_monotonic_increasing
    assert neumann.mae.iloc[0] < 1e-6 and neumann.frac_bad.iloc[-1] > 0
    assert "Made by: `matinv-bench reproduce where-can" in (runs / "where-can" / "summary.md").read_text()


def test_why_cant_files(runs):
    per = pd.read_parquet(runs / "why-cant" / "per_matrix.parquet")
    assert set(per.solver) >= {"lu", "mlp-2fc[recipe=none]"} and len(per[per.solver == "lu"]) == 200
    lu = per[per.solver == "lu"]
    assert lu.rel_fro_err.max() < 1e-10
    m = pd.read_parquet(runs / "why-cant" / "moments.parquet")
    assert set(m.F) == {"zero", "mlp-2fc[recipe=none]", "lu-float64", "lu-float32"} and set(m.K) == {0.5, 2.0}
    s = pd.read_csv(runs / "why-cant" / "moments_summary.csv")
    # K = 2 > 1 diverges: the innermost stratum [0, t_min] dominates the estimate, for every F
    share = s.set_index(["F", "K"]).innermost_share
    assert (share.xs(2.0, level="K") > 0.5).all()
    # K = 1/2 converges for F = 0 and the network (error ~ ||inv(A)|| ~ 1/sigma_min), not for LU: its
    # error ~ u kappa ||inv(A)|| ~ u / sigma_min^2 is one power more singular (until it saturates)
    half = share.xs(0.5, level="K")
    assert half["zero"] < 0.05 and half["mlp-2fc[recipe=none]"] < 0.05
    assert half["lu-float64"] > 10 * half["zero"] and half["lu-float32"] > 10 * half["zero"]


def test_regions_files(runs):
    census = pd.read_csv(runs / "regions" / "census.csv")
    assert census["count"].sum() == 20000 and census.fraction.is_monotonic_decreasing
    regions = pd.read_csv(runs / "regions" / "regions.csv")
    assert len(regions) == min(4, len(census))
    bounds = pd.read_csv(runs / "regions" / "bounds.csv").set_index("quantity").value
    assert bounds["max abs(f - lin), MILP over the whole box"] >= bounds["max abs(f - lin), sampled"] - 1e-12
    assert bounds["Taylor remainder bound max abs(inv - lin)"] >= bounds["max abs(inv - lin), sampled"]
    assert bounds["bound on max abs(f - inv) (MILP + Taylor)"] >= bounds["max abs(f - inv), sampled"]


def list_sets(root, *folders, files=None):
    """Write a manifest.toml into the results folder ``root`` that lists ``folders`` (relative to it)."""
    files = files or {}
    blocks = []
    for f in folders:
        owned = ", ".join(f'"results/{x}"' for x in files.get(f, []))
        blocks.append(f'[[set]]\nname = "{f.replace("/", "-")}"\nfolder = "results/{f}"\nfiles = [{owned}]\n'
                      f'command = "matinv-bench reproduce {f} --out results/{f}"\n')
    (root / "manifest.toml").write_text("\n".join(blocks))


def test_report_builds_from_files_and_notes_missing_sections(runs, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(runs, root)
    list_sets(root, "where-can", "why-cant", "regions")
    out = build_report(root)
    text = out.read_text()
    for title in ("Where can", "Why can't", "What the network learned"):
        assert f"## {title}" in text
    assert "Made by: `matinv-bench reproduce where-can" in text and "(where-can/where_can.png)" in text
    assert (
        "Missing sections (no folder yet): paper, regions-paper-net, regions-fast, scaling, scaling-latency, "
        "scaling-float32, "
        "gauss-jordan-blocks, asv, where-can-n, "
        "out-of-box, seeds."
        in text
    )
    with pytest.raises(
        ReportError,
        match="missing result folders: paper, regions-paper-net, regions-fast, scaling, scaling-latency, "
        "scaling-float32, gauss-jordan-blocks, asv, where-can-n, "
        "out-of-box, seeds",
    ):
        build_report(root, strict=True)
    # the paper's sections first, then one "Beyond the paper" part that holds the open questions
    beyond = text.index("\n## Beyond the paper\n")
    assert text.index("## Where can: the box sweep") < beyond < text.index("\n### Where can, as n grows\n")
    assert text.count("## Beyond the paper") == 1 and "\n## Where can, as n grows" not in text


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda r: (r / "why-cant" / "moments.parquet").unlink(), "moments.parquet: missing"),
        (
            lambda r: (r / "regions" / "census.csv").write_text("pattern,count\n0101,3\n"),
            "census.csv: malformed, missing columns fraction",
        ),
        (lambda r: (r / "where-can" / "results.parquet").write_bytes(b"not parquet"), "cannot be read"),
        (lambda r: (r / "where-can" / "where_can.png").write_bytes(b"GIF89a"), "not a PNG"),
        (lambda r: (r / "regions" / "summary.md").write_text("# no command here\n"), "no 'Made by"),
    ],
)
def test_report_fails_loudly_on_a_missing_or_malformed_file(runs, tmp_path, capsys, damage, message):
    root = tmp_path / "results"
    shutil.copytree(runs, root)
    list_sets(root, "where-can", "why-cant", "regions")
    damage(root)
    with pytest.raises(ReportError, match=message):
        build_report(root)
    assert main(["report", "--results", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("matinv-bench: error:") and message.split(":")[0] in err[0]
    assert not (root / "REPORT.md").exists()


def test_bad_experiment_arguments_are_one_line_errors(capsys):
    assert main(["reproduce", "where-can", "--theta", "-1"]) == 2
    assert main(["reproduce", "regions", "--dataset", "uniform[n=2]", "--recipe", "none", "--samples", "10"]) == 2
    assert main(["report", "--results", "/nonexistent/results"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("matinv-bench: error:") for line in lines)
    assert "not a box" in lines[1]


def test_report_reads_a_folder_of_runs_for_the_paper_tables(runs, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(runs, root)
    shutil.copytree(runs / "where-can", root / "paper" / "table9")
    list_sets(root, "where-can", "why-cant", "regions", "paper/table9", files={"paper/table9": ["paper/table9.md"]})
    (root / "paper" / "table9.md").write_text(
        "# Table 9\n\nMade by: `matinv-bench reproduce table9`\n\n| a |\n|---|\n| 1 |\n"
    )
    text = build_report(root).read_text()
    assert "### paper/table9.md" in text and "Made by: `matinv-bench reproduce table9`" in text
    assert "(paper/table9/where_can.png)" in text
    (root / "paper" / "table9" / "results.csv").write_text("solver,mae\nlu,1e-16\n")
    (root / "paper" / "table9" / "results.parquet").unlink()
    with pytest.raises(ReportError, match="not a matinv-bench results file"):
        build_report(root)


def test_report_draws_work_precision_from_timed_tables_one_level_deep(runs, tmp_path):
    from matinv_bench.reporting import results

    root = tmp_path / "results"
    shutil.copytree(runs, root)
    df = read_results(runs / "where-can")
    df = df[df.status == "ok"].assign(time_per_matrix_s=1e-6)
    results.write_tables(df, root / "paper" / "timed")
    (root / "paper" / "timed" / "summary.md").write_text("# t\n\nMade by: `matinv-bench run`\n")
    list_sets(root, "where-can", "why-cant", "regions", "paper/timed")
    text = build_report(root).read_text()
    assert "![work-precision](report/work_precision.png)" in text and "`paper/timed/`" in text
    assert (root / "report" / "work_precision.png").read_bytes()[:4] == b"\x89PNG"


def test_report_needs_a_manifest_and_reads_only_the_sets_it_lists(runs, tmp_path, capsys):
    from matinv_bench.reporting import results

    root = tmp_path / "results"
    shutil.copytree(runs, root)
    assert main(["report", "--results", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no manifest.toml" in err[0]
    # local runs the manifest does not list: a timed one, and a broken one
    df = read_results(runs / "where-can")
    results.write_tables(df[df.status == "ok"].assign(time_per_matrix_s=1e-6), root / "quick-20260101-000000")
    (root / "quick-20260101-000000" / "summary.md").write_text("# t\n\nMade by: `matinv-bench run`\n")
    (root / "where-can-20260101-000000").mkdir()
    (root / "where-can-20260101-000000" / "results.parquet").write_bytes(b"not parquet")
    list_sets(root, "where-can", "why-cant", "regions", "scaling")
    text = build_report(root).read_text()
    assert "20260101" not in text and "*Missing: no listed set has a timed results table" in text
    assert (
        "Missing sections (no folder yet): paper, regions-paper-net, regions-fast, scaling, scaling-latency, "
        "scaling-float32, "
        "gauss-jordan-blocks, asv, where-can-n, "
        "out-of-box, seeds."
        in text
    )
    assert "Made by `matinv-bench reproduce scaling --out results/scaling`" in text  # listed, not made yet
    list_sets(root, "where-can", "why-cant", "regions", "quick-20260101-000000")
    assert "From the timed rows of `quick-20260101-000000/`" in build_report(root).read_text()
