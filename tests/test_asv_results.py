"""asv's result files read back (reporting/asv_results.py), on a small results folder written here
in asv's format: two commits, a few benchmarks, Gauss-Jordan 1.4x faster at the newer one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matinv_bench.errors import ReportError
from matinv_bench.reporting import asv_results

COLUMNS = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a", "stats_ci_99_b", "stats_q_25",
           "stats_q_75", "stats_number", "stats_repeat", "samples", "profile"]
ENV = "virtualenv-py3.11"
OLD, NEW = "a" * 40, "b" * 40
TIME = "bench_time.TimeInvert.time_invert"
MAE = "bench_accuracy.TrainedAccuracy.track_mae"


def write_result(folder: Path, commit: str, date: int, results: dict) -> None:
    """One asv result file (format version 2), its entries cut after ``params`` as asv may write them."""
    entries = {name: [values, params, "v1"] for name, (values, params) in results.items()}
    d = {"commit_hash": commit, "env_name": ENV, "date": date, "params": {"machine": "box"}, "python": "3.11",
         "requirements": {}, "env_vars": {}, "result_columns": COLUMNS, "results": entries, "durations": {},
         "version": 2}
    (folder / f"{commit[:8]}-{ENV}.json").write_text(json.dumps(d))


@pytest.fixture
def asv_folder(tmp_path):
    root = tmp_path / "asv"
    machine = root / "box"
    machine.mkdir(parents=True)
    (machine / "machine.json").write_text(json.dumps({"machine": "box", "version": 1}))
    (root / "benchmarks.json").write_text(json.dumps({MAE: {"param_names": ["solver", "dataset"]}, "version": 2}))
    params = [["'lu'", "'gauss-jordan'"], ["32", "128"]]
    # values in itertools.product order: (lu, 32), (lu, 128), (gauss-jordan, 32), (gauss-jordan, 128)
    write_result(machine, NEW, 2_000_000, {
        TIME: ([1.0e-3, 2.0e-2, 3.0e-3, 5.0e-2], params),
        "bench_memory.MLPMemory.peakmem_forward": ([9e8], []),
        MAE: ([1.5e-5, None], [["'mlp-2fc[recipe=quick]'"], ["'paper-2x2-1st'", "'paper-3x3'"]]),
    })
    write_result(machine, OLD, 1_000_000, {
        TIME: ([1.0e-3, 2.1e-2, 3.0e-3, 7.0e-2], params),
        "bench_memory.MLPMemory.peakmem_forward": ([3e8], []),
    })
    return root


def test_every_value_is_read_with_its_parameters(asv_folder):
    values = asv_results.load(asv_folder)
    assert list(values.drop_duplicates("commit").commit) == [OLD, NEW]  # oldest first, by date, not by file name
    time = values[(values.benchmark == TIME) & (values.commit == NEW)].set_index("params")["value"]
    assert time.to_dict() == {"lu, 32": 1.0e-3, "lu, 128": 2.0e-2, "gauss-jordan, 32": 3.0e-3,
                              "gauss-jordan, 128": 5.0e-2}
    mae = values[values.benchmark == MAE].set_index("params")["value"]
    assert mae["mlp-2fc[recipe=quick], paper-2x2-1st"] == 1.5e-5 and mae.isna().sum() == 1  # None: no value


def test_ratios_say_which_benchmark_got_faster(asv_folder):
    r = asv_results.ratios(asv_results.load(asv_folder), "time_").set_index("params")
    assert r.loc["gauss-jordan, 128", "ratio"] == pytest.approx(1.4)  # 70 ms -> 50 ms
    assert r.loc["lu, 32", "ratio"] == pytest.approx(1.0)
    assert list(r.index)[0] == "gauss-jordan, 128"  # the largest change first
    assert set(r["oldest"]) == {OLD} and set(r["newest"]) == {NEW} and set(r["step_commit"]) == {NEW}
    gj = r[r.index.str.startswith("gauss-jordan")]
    assert (gj["ratio"] >= 1).all()  # "Gauss-Jordan got faster", read from the JSON
    assert asv_results.ratios(asv_results.load(asv_folder), "peakmem_")["ratio"].tolist() == pytest.approx([1 / 3])


def test_the_step_commit_is_where_the_value_changed_most(asv_folder):
    machine = asv_folder / "box"
    middle = "c" * 40
    write_result(machine, middle, 1_500_000, {TIME: ([1.0e-3, 2.0e-2, 3.0e-3, 5.2e-2],
                                                     [["'lu'", "'gauss-jordan'"], ["32", "128"]])})
    r = asv_results.ratios(asv_results.load(asv_folder), "time_").set_index("params")
    assert r.loc["gauss-jordan, 128", "step_commit"] == middle
    assert r.loc["gauss-jordan, 128", "ratio"] == pytest.approx(1.4)


def test_the_section_shows_the_tracked_accuracy_and_the_largest_change(asv_folder):
    text = "\n".join(asv_results.section(asv_folder))
    assert "commits aaaaaaaa (1970-01-01), bbbbbbbb (1970-01-01)" in text
    assert f"`{asv_results.TRAINED}*` at commit bbbbbbbb" in text
    assert "| solver, dataset" in text and "1.5e-05" in text
    rows = [line for line in text.splitlines() if line.startswith("| TimeInvert")]
    assert rows[0].split("|")[2].strip() == "gauss-jordan, 128"
    assert "70 ms (aaaaaaaa)" in rows[0] and "50 ms (bbbbbbbb)" in rows[0] and "1.40 (faster)" in rows[0]
    assert "peakmem" not in text  # time benchmarks only


def test_without_result_files_the_section_names_the_command(tmp_path):
    folder = tmp_path / "asv"
    (folder / "box").mkdir(parents=True)
    (folder / "box" / "machine.json").write_text("{}")
    (folder / "benchmarks.json").write_text("{}")
    (line, _) = asv_results.section(folder)
    assert line.startswith("*No asv result files yet") and "asv run" in line and "docs/benchmarks.md" in line


def test_a_file_that_is_not_asv_json_is_a_one_line_error(asv_folder):
    (asv_folder / "box" / "cccccccc-env.json").write_text('{"results": {}}')
    with pytest.raises(ReportError, match="not an asv result file"):
        asv_results.load(asv_folder)


def test_the_committed_asv_folder_reads():
    folder = Path(__file__).resolve().parents[1] / "results" / "asv"
    lines = asv_results.section(folder)
    assert lines and all(isinstance(line, str) for line in lines)
