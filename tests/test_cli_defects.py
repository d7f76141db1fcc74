"""What a new user meets on the command line: repeated list flags, output folders that cannot be
written, grids too large to hold, sizes that cannot fit, clock and thread options out of range,
summaries that tell their rows apart, and errors that are one line only when they are the user's."""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch

from matinv_bench import cli, system
from matinv_bench.cli import build_parser, main
from matinv_bench.datasets import make_dataset
from matinv_bench.engine import runner
from matinv_bench.engine.checkpoint import RunFolder
from matinv_bench.errors import DataFileError, SpecError, TooLargeError, UserError
from matinv_bench.reporting import results, summary
from matinv_bench.reporting.results import read_results
from matinv_bench.reporting.summary import header as summary_header

FAST = ["--warmup", "0.01", "--min-time", "0.02", "--n-matrices", "4", "--quiet"]
ROOT_SKIP = pytest.mark.skipif(os.geteuid() == 0, reason="root passes every permission check, so chmod cannot "
                                                          "make a folder unwritable (the monkeypatched case covers it)")


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("matinv-bench: error:") and "Traceback" not in err, err
    return err


# -- repeated list flags -------------------------------------------------------------------------

def _list_options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _list_options(sub, (*path, name))
        elif action.nargs in ("+", "*") and action.option_strings:
            yield path, action


def _two_values(action: argparse.Action) -> list[str]:
    pool = list(action.choices) if action.choices else [str(v) for v in action.default or ["a", "b"]]
    return [str(pool[0]), str(pool[-1])]


LIST_OPTIONS = list(_list_options(build_parser()))


def _command(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[str]:
    """``path`` followed by a placeholder for each positional argument its command requires."""
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    positionals = [a for a in parser._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]
    return [*path, *(f"X{i}" for i, a in enumerate(positionals) if a.nargs is None)]


def test_the_parser_has_list_options_everywhere():  # the test below must not pass vacuously
    commands = {path for path, _ in LIST_OPTIONS}
    assert {("run",), ("scaling",), ("reproduce", "table1"), ("reproduce", "scaling")} <= commands


@pytest.mark.parametrize("path, action", LIST_OPTIONS,
                         ids=[" ".join(p) + " " + a.option_strings[0] for p, a in LIST_OPTIONS])
def test_every_list_option_accumulates_when_repeated(path, action):
    parser = build_parser()
    flag, (a, b) = action.option_strings[0], _two_values(action)
    default = list(action.default) if isinstance(action.default, list) else action.default
    path = tuple(_command(parser, path))
    repeated = parser.parse_args([*path, flag, a, flag, b])
    once = parser.parse_args([*path, flag, a, b])
    assert getattr(repeated, action.dest) == getattr(once, action.dest) == [action.type(a) if action.type else a,
                                                                           action.type(b) if action.type else b]
    assert getattr(parser.parse_args([*path, flag, a]), action.dest) == getattr(once, action.dest)[:1]
    assert getattr(parser.parse_args(list(path)), action.dest) == default  # the default is replaced, never extended
    assert action.default == default


@pytest.mark.parametrize("argv, dest, expected", [
    (["run", "--solver", "lu", "--solver", "qr", "cholesky"], "solver", ["lu", "qr", "cholesky"]),
    (["run", "--dataset", "paper-3x3", "--dataset", "spd[n=4]"], "dataset", ["paper-3x3", "spd[n=4]"]),
    (["run", "--dtype", "float32", "--dtype", "float64"], "dtype", ["float32", "float64"]),
    (["run", "--dtype", "float32"], "dtype", ["float32"]),
    (["reproduce", "table1", "--dataset", "paper-3x3", "--dataset", "paper-16x16"], "dataset",
     ["paper-3x3", "paper-16x16"]),
    (["reproduce", "where-can", "--theta", "0.1", "--theta", "0.2", "0.3"], "theta", [0.1, 0.2, 0.3]),
    (["scaling", "--n", "4", "--n", "8"], "n", [4, 8]),
    (["scaling", "--solver", "lu", "--solver", "qr"], "solver", ["lu", "qr"]),
    (["reproduce", "scaling", "--dtype", "float32", "--dtype", "float64"], "dtype", ["float32", "float64"]),
])
def test_repeated_flags_on_run_reproduce_and_scaling(argv, dest, expected):
    assert getattr(build_parser().parse_args(argv), dest) == expected


def test_run_with_a_repeated_solver_runs_both(tmp_path):
    assert main(["run", "--solver", "lu", "--solver", "qr", "--dataset", "paper-3x3", "--dataset", "paper-2x2-1st",
                 "--no-timing", "--out", str(tmp_path / "r"), *FAST]) == 0
    df = read_results(tmp_path / "r")
    assert sorted(zip(df.solver, df.dataset)) == sorted((s, d) for s in ("lu", "qr")
                                                        for d in ("paper-3x3", "paper-2x2-1st"))


# -- output folders ------------------------------------------------------------------------------

def test_out_at_a_file_or_under_a_file_is_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    for out in (afile, afile / "sub", afile / "sub" / "deeper"):
        assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--out", str(out), *FAST]) == 2
        err = one_line_error(capsys)
        assert f"{str(afile)!r}" in err and "is a file, not a folder" in err
    assert afile.read_text() == "keep me"


@pytest.mark.parametrize("argv", [
    ["scaling", "--n", "2", "--solver", "lu", "--out", "{file}"],
    ["reproduce", "table2", "--seeds", "1", "--out", "{file}/sub"],
    ["report", "--results", "{tmp}", "--out", "{file}/REPORT.md"],
    ["report", "--results", "{tmp}", "--out", "{tmp}"],
])
def test_every_command_checks_its_out_before_any_work(tmp_path, capsys, argv):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    assert main([a.format(file=afile, tmp=tmp_path) for a in argv]) == 2
    assert "is a f" in one_line_error(capsys)  # "is a file, not a folder" or "is a folder"
    assert afile.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@ROOT_SKIP
def test_out_in_an_unwritable_folder_is_one_line(tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        for out in (parent, parent / "sub"):
            assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--out", str(out), *FAST]) == 2
            assert "Permission denied" in one_line_error(capsys)
    finally:
        parent.chmod(0o755)


def test_unwritable_output_folder_is_a_data_file_error(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "out"))

    monkeypatch.setattr(results.tempfile, "TemporaryFile", refuse)  # what a read-only folder does, even to root
    with pytest.raises(DataFileError, match="cannot write in the output folder .*Permission denied"):
        results.prepare_out_dir(tmp_path / "out")
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--out", str(tmp_path / "out"), *FAST]) == 2
    assert "Permission denied" in one_line_error(capsys)
    monkeypatch.setattr(results.os, "access", lambda path, mode: False)  # checked before anything is created
    with pytest.raises(DataFileError, match=f"permission denied in {str(tmp_path)!r}"):
        results.check_out_dir(tmp_path / "new" / "out")
    assert not (tmp_path / "new").exists()


def test_prepare_out_dir_makes_the_folder_and_its_parents(tmp_path):
    out = results.prepare_out_dir(str(tmp_path / "a" / "b"))
    assert out == tmp_path / "a" / "b" and out.is_dir() and list(out.iterdir()) == []
    assert results.prepare_out_dir(out) == out  # an existing folder is fine


# -- grids too large to hold ---------------------------------------------------------------------

def test_a_billion_seeds_is_refused_before_any_cell_is_made(tmp_path, capsys, monkeypatch):
    def no_cell(*args, **kwargs):
        raise AssertionError("a cell was made before the grid's size was checked")

    monkeypatch.setattr(runner, "Cell", no_cell)
    out = tmp_path / "r"
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--seeds", "1000000000",
                 "--out", str(out), *FAST]) == 2
    err = one_line_error(capsys)
    assert "1,000,000,000 cells" in err and "1,000,000,000 seeds" in err and "GiB" in err
    assert not out.exists()


def test_grid_size_check(monkeypatch):
    monkeypatch.setattr(runner, "available_memory", lambda: 64 * 2**30)  # the cell cap, not this machine's load
    assert runner.check_grid_size({"solver": 3, "dataset": 4, "seed": 10, "dtype": 2}) == 240
    assert runner.check_grid_size({"seed": runner.MAX_CELLS}) == runner.MAX_CELLS
    with pytest.raises(TooLargeError, match=r"1,000,001 cells \(1,000,001 seeds\)"):
        runner.check_grid_size({"seed": runner.MAX_CELLS + 1})
    monkeypatch.setattr(runner, "available_memory", lambda: 2**30)  # 1 GiB: a grid's rows must fit in half
    with pytest.raises(TooLargeError, match="GiB for their rows alone"):
        runner.check_grid_size({"seed": 2**30 // runner.BYTES_PER_CELL})


# -- sizes that cannot fit -----------------------------------------------------------------------

def test_a_dataset_that_cannot_fit_is_a_skipped_row_and_a_run_with_no_success_exits_1(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--solver", "lu", "--dataset", "randsvd[n=100000]", "--out", str(out), *FAST]) == 1
    err = one_line_error(capsys)
    assert "no cell succeeded" in err and "bytes" in err
    row = read_results(out).iloc[0]
    assert row.status == "skipped" and "does not fit in memory" in row.reason and "bytes" in row.reason


def test_a_cell_that_cannot_fit_does_not_fail_the_run(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "randsvd[n=100000]", "--no-timing",
                 "--out", str(out), *FAST]) == 0
    assert capsys.readouterr().err == ""
    df = read_results(out).set_index("dataset")
    assert df.status.to_dict() == {"paper-3x3": "ok", "randsvd[n=100000]": "skipped"}


def test_a_run_where_every_cell_failed_exits_1(tmp_path, capsys):
    zero = tmp_path / "zero.npy"
    import numpy as np

    np.save(zero, np.zeros((2, 3, 3)))
    assert main(["run", "--solver", "lu", "--dataset", f"npy:{zero}", "--out", str(tmp_path / "r"), *FAST]) == 1
    assert "no cell succeeded (0 skipped, 1 failed)" in one_line_error(capsys)


# -- clock and thread options --------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--warmup", "-1"], "--warmup must be 0 or more seconds, got -1"),
    (["--warmup", "nan"], "--warmup must be 0 or more"),
    (["--min-time", "-1"], "--min-time must be more than 0 seconds, got -1"),
    (["--min-time", "0"], "--min-time must be more than 0 seconds, got 0"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--threads", str(system.default_threads() + 1)], f"more than the {system.default_threads()} cores"),
])
def test_clock_and_thread_options_out_of_range(tmp_path, capsys, args, words):
    out = tmp_path / "r"
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--n-matrices", "4", "--quiet",
                 "--out", str(out), *args]) == 2
    assert words in one_line_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["reproduce", "table1", "--recipe", "tiny"],
        ["reproduce", "table2", "--recipe", "tiny"],
        ["reproduce", "seeds", "--recipe", "tiny"],
        ["scaling", "--n", "4"],
    ],
    ids=lambda c: c[1] if c[0] == "reproduce" else c[0],
)
@pytest.mark.parametrize("threads", ["0", "-1", str(system.default_threads() + 1)])
def test_every_command_with_threads_checks_them_before_anything_runs(tmp_path, capsys, command, threads):
    out = tmp_path / "r"
    assert main([*command, "--threads", threads, "--quiet", "--out", str(out)]) == 2
    assert "--threads" in one_line_error(capsys)
    assert not out.exists()


def test_min_time_help_says_small_values_give_few_blocks(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "few blocks" in " ".join(capsys.readouterr().out.split())


def test_boundary_values_are_accepted(tmp_path):
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--warmup", "0", "--min-time", "0.01",
                 "--threads", str(system.default_threads()), "--n-matrices", "4", "--quiet",
                 "--out", str(tmp_path / "r")]) == 0


# -- summaries -----------------------------------------------------------------------------------

def _table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| solver")]


def test_summary_tells_dtypes_apart(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--dtype", "float64", "float32", "--no-timing",
                 "--out", str(out), "--warmup", "0", "--min-time", "0.01", "--n-matrices", "4"]) == 0
    printed = capsys.readouterr().out
    assert next(line for line in printed.splitlines() if line.startswith("solver")).split()[:3] == \
        ["solver", "dataset", "dtype"]
    summary = (out / "summary.md").read_text()
    header = next(line for line in summary.splitlines() if line.startswith("| solver"))
    assert [c.strip() for c in header.strip("|").split("|")][:3] == ["solver", "dataset", "dtype"]
    rows = _table_rows(summary)
    assert len(rows) == 2 and len({r.split("|")[3].strip() for r in rows}) == 2


def test_summary_table_shows_each_varying_grid_column_and_whole_reasons():
    reason = "a long reason | with a pipe, " + "x" * 150
    df = pd.DataFrame({"solver": ["gauss-jordan[backend=torch]"] * 2, "dataset": ["d"] * 2,
                       "dtype": ["float64"] * 2, "device": ["cpu", "cuda"], "seed": [0, 0],
                       "status": ["ok", "failed"], "reason": [None, reason]})
    table = summary.summary_table(df)
    header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
    assert "device" in header and "dtype" not in header and "seed" not in header
    assert reason.replace("|", "\\|") in table  # whole, and the pipe does not end the cell
    assert len(table.splitlines()[2].split(" | ")) == len(header)
    cut = summary.summary_table(df, fmt="simple", reason_width=40)
    assert reason[:39] + "…" in cut and reason not in cut


def test_summary_header_names_the_version_and_why_there_is_no_commit():
    df = results.to_frame([{"solver": "lu", "package_version": "0.1.0", "git_sha": ""}])
    assert ("matinv-bench 0.1.0 (commit unknown: not run from a git checkout of matinv-bench)"
            in "\n".join(summary_header(df, "t", "c")))
    df = results.to_frame([{"solver": "lu", "package_version": "0.1.0", "git_sha": "abc123"}])
    assert "matinv-bench 0.1.0 (commit abc123)" in "\n".join(summary_header(df, "t", "c"))
    df = results.to_frame([{"solver": "lu", "package_version": "0.1.0", "git_sha": "abc123+dirty+installed-differs"}])
    assert ("(commit abc123+dirty+installed-differs: the installed package's sources differ from that checkout's)"
            in "\n".join(summary_header(df, "t", "c")))


def _git(where: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=where, check=True,
                   capture_output=True)


def test_git_sha_only_for_the_package_own_source_tree(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    _git(tmp_path, "add", "pkg")
    _git(tmp_path, "commit", "-q", "-m", "x")
    installed = tmp_path / ".venv" / "site-packages" / "pkg"  # an install inside some other checkout
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    assert len(system.git_sha(tmp_path / "pkg")) == 12
    assert system.git_sha(installed) == ""
    assert system.environment()["package_version"]


@pytest.fixture
def fresh_machine():
    """``runner.machine()`` caches the environment columns per process: read them anew, before and after."""
    runner.machine.cache_clear()
    yield
    runner.machine.cache_clear()


def test_a_non_editable_install_run_from_a_checkout_records_its_commit(tmp_path, monkeypatch, fresh_machine):
    """``pip install . && matinv-bench run`` from a clone: the package lies in site-packages (no git
    there), the run starts in the clone; the row names the clone's commit, and says when the clone is
    dirty or when the installed sources are not the clone's."""
    clone = tmp_path / "clone"
    shutil.copytree(system.PACKAGE, clone / "matinv_bench", ignore=shutil.ignore_patterns("__pycache__"))
    (clone / "pyproject.toml").write_text('[project]\nname = "matinv-bench"\n')
    _git(clone, "init", "-q")
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", "x")
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=clone, capture_output=True, text=True,
                          check=True).stdout.strip()
    installed = tmp_path / "venv" / "site-packages" / "matinv_bench"
    shutil.copytree(clone / "matinv_bench", installed)
    monkeypatch.setattr(system, "PACKAGE", installed)
    monkeypatch.chdir(clone)
    assert system.git_sha(installed) == ""  # the installed copy alone knows no commit
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--no-timing", "--out", "results/r", *FAST]) == 0
    assert set(read_results(clone / "results" / "r").git_sha) == {head}  # results/ does not make the tree dirty
    assert f"(commit {head})" in (clone / "results" / "r" / "summary.md").read_text()

    with (clone / "matinv_bench" / "errors.py").open("a") as f:  # a change in the clone, not installed
        f.write("# changed\n")
    assert system.run_commit() == f"{head}+dirty+installed-differs"
    shutil.copy(clone / "matinv_bench" / "errors.py", installed / "errors.py")  # installed again: the same sources
    assert system.run_commit() == f"{head}+dirty"
    runner.machine.cache_clear()
    assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--no-timing", "--out", "results/r2", *FAST]) == 0
    assert set(read_results(clone / "results" / "r2").git_sha) == {f"{head}+dirty"}

    other = tmp_path / "their-repo"  # a user's own repository is not our commit
    other.mkdir()
    (other / "pyproject.toml").write_text('[project]\nname = "their-project"\n')
    shutil.copytree(installed, other / "matinv_bench")
    _git(other, "init", "-q")
    _git(other, "add", "-A")
    _git(other, "commit", "-q", "-m", "x")
    monkeypatch.chdir(other)
    assert system.run_commit() == ""
    monkeypatch.chdir(tmp_path)  # no checkout at all
    assert system.run_commit() == ""


def test_result_files_get_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["run", "--solver", "lu", "--dataset", "paper-3x3", "--no-timing",
                     "--out", str(tmp_path / "r"), *FAST]) == 0
        os.umask(0o077)
        results.write_text(tmp_path / "private.txt", "x")
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"results.parquet", "results.csv", "summary.md", "run.json"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o644)}
    assert stat.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600  # the umask is respected


def test_npy_at_a_folder_says_it_is_a_folder(tmp_path, capsys):
    (tmp_path / "base_matrix.npy").write_bytes(b"")
    with pytest.raises(SpecError, match="is a folder; expected a .npy file .*paper-dir:"):
        make_dataset(f"npy:{tmp_path}")
    assert main(["run", "--solver", "lu", "--dataset", f"npy:{tmp_path}", "--out", str(tmp_path / "r"), *FAST]) == 2
    err = one_line_error(capsys)
    assert "is a folder" in err and "no such file" not in err


# -- errors: the user's are one line, a bug keeps its traceback ----------------------------------

def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    def bug(args):
        raise ValueError("a bug, not the user's doing")

    monkeypatch.setattr(cli, "_run_experiment", bug)
    with pytest.raises(ValueError, match="a bug"):
        main(["run", "--out", str(tmp_path)])


def test_user_errors_are_user_error_subclasses(tmp_path):
    with pytest.raises(SpecError, match="dtype must be one of"):
        runner.make_grid(["lu"], ["paper-3x3"], dtypes=["float16"])
    with pytest.raises(DataFileError, match="no run.json there"):
        RunFolder(tmp_path).read_manifest()
    with pytest.raises(SpecError, match="n_test must be at least 1"):
        make_dataset("paper-3x3", n_test=0)
    from matinv_bench.solvers._torch import resolve_device

    with pytest.raises(SpecError, match="device must be one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(SpecError, match="torch.cuda.is_available"):
            resolve_device("cuda")
    from matinv_bench.errors import ReportError

    assert issubclass(ReportError, UserError)


@pytest.mark.parametrize("args, words", [
    (["reproduce", "table1", "--seeds", "0"], "--seeds must be at least 1"),
    (["reproduce", "table2", "--paper-data", "/does/not/exist"], "no matrix_2_dataset/test_set.npy"),
    (["run", "--dtype", "float64", "--resume", "/does/not/exist"], "is not a folder"),
    (["report", "--results", "/does/not/exist"], "no such results folder"),
])
def test_errors_raised_for_user_input_stay_one_line(tmp_path, capsys, args, words):
    if args[0] == "reproduce":
        args = [*args, "--out", str(tmp_path)]
    assert main(args) == 2
    assert words in one_line_error(capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_a_gpu_is_one_line(tmp_path, capsys):
    assert main(["run", "--solver", "torch-inv", "--dataset", "paper-3x3", "--device", "cuda",
                 "--out", str(tmp_path), *FAST]) == 2
    assert "torch.cuda.is_available() is False" in one_line_error(capsys)


# -- every command that builds a grid refuses one too large to hold ------------------------------

@pytest.mark.parametrize("argv", [
    ["reproduce", "where-can", "--seeds", "1000000000", "--solver", "lu"],
    ["reproduce", "table2", "--seeds", "1000000000", "--recipe", "tiny"],
])
def test_experiments_refuse_a_huge_grid_at_once(argv, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = one_line_error(capsys)
    assert "cells" in err and "1,000,000,000" in err


# --- a command in which no cell succeeds: one line, exit status 1, whatever the command ---------

@pytest.mark.parametrize("argv", [
    ["reproduce", "where-can", "--solver", "cholesky", "--n-matrices", "8"],  # the paper's boxes are not symmetric
    ["reproduce", "out-of-box", "--solver", "cholesky", "--n-matrices", "8"],
    ["reproduce", "why-cant", "--solver", "cholesky", "--n-matrices", "8"],  # its regions are not symmetric
    # every cell too large (in this process: the skips need no fresh one)
    ["scaling", "--solver", "lu", "--n", "8", "--repeats", "1", "--max-memory", "1e-9", "--in-process"],
], ids=lambda argv: argv[1] if argv[0] == "reproduce" else argv[0])
def test_a_command_in_which_no_cell_succeeds_says_so_in_one_line_and_exits_1(argv, tmp_path, capsys):
    assert main([*argv, "--quiet", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and err[0].startswith("matinv-bench: error: no cell succeeded (") and "first reason: " in err[0]
    )
    assert (tmp_path / "run" / "results.parquet").is_file()  # the rows that say why are kept


def test_where_can_n_without_a_trained_network_writes_its_summary(tmp_path):
    # cholesky runs on the SPD boxes, but no network and no linear approximation: no edge to state
    out = tmp_path / "run"
    assert main(["reproduce", "where-can-n", "--solver", "cholesky", "--n", "2", "3", "--theta", "0.3",
                 "--n-matrices", "8", "--no-timing", "--quiet", "--out", str(out)]) == 0
    assert "No θ and n with both a trained network and the linear approximation" in (out / "summary.md").read_text()
