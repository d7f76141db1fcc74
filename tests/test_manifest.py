"""The manifest of committed result sets: it lists every committed set with a command the CLI
parses (the one recorded in the set's summary), ``reproduce all`` runs those commands as typed,
a dirty work tree may not write into a listed folder, and the report rebuilds from the
committed files alone."""

import shlex
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from matinv_bench import cli, system
from matinv_bench.cli import build_parser, main
from matinv_bench.errors import DirtyTreeError, ManifestError
from matinv_bench.reporting import manifest, report, style
from matinv_bench.reporting.results import read_results

ROOT = Path(__file__).resolve().parents[1]
SETS = manifest.load(ROOT / manifest.MANIFEST)
MADE = [s for s in SETS.sets if s.command is not None]
REPORT_OUTPUT = ("results/REPORT.md", "results/report/", "results/manifest.toml")  # made by `report`, or the list
needs_git = pytest.mark.skipif(shutil.which("git") is None or system.tree_changes(ROOT) is None,
                               reason="needs git and a git checkout")


def tracked(prefix: str = "results") -> list[str]:
    return subprocess.run(["git", "ls-files", prefix], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.split()


def test_every_listed_set_exists_in_the_repository():
    assert len({s.name for s in SETS.sets}) == len(SETS.sets)
    for s in SETS.sets:
        assert (ROOT / s.folder).is_dir(), s.folder
        assert all((ROOT / f).is_file() for f in s.files), s.files
        assert s.command is not None or s.made_by
        assert s.command is None or (s.cost_s or 0) > 0


@needs_git
def test_every_committed_result_file_belongs_to_a_listed_set():
    owned = [p for s in SETS.sets for p in s.paths]
    strays = [f for f in tracked() if not f.startswith(REPORT_OUTPUT)
              and not any(f == p or f.startswith(p.rstrip("/") + "/") for p in owned)]
    assert strays == []


@pytest.mark.parametrize("s", MADE, ids=[s.name for s in MADE])
def test_each_command_parses_writes_its_folder_and_is_the_one_recorded(s):
    args = build_parser().parse_args(shlex.split(s.command)[1:])
    out = Path(args.out)
    assert Path(s.folder) in (out, out / Path(s.folder).name)
    recorded = report.made_by(ROOT / s.folder)[0]
    then = vars(build_parser().parse_args(shlex.split(recorded)[1:]))
    now = vars(args)
    for d in (then, now):  # the recorded command may leave --out to the default of its day
        d.pop("out")
        d.pop("allow_dirty", None)
    assert then == now


@pytest.mark.parametrize("text, message", [
    ("[[set]]\nname = 'x'\n", "needs a name"),
    ("[[set]]\nname = 'x'\nfolder = 'results/x'\n", "either command"),
    ("[[set]]\nname = 'x'\nfolder = 'results/x'\ncommand = 'matinv-bench run'\n", "explicit --out"),
    ("[[set]]\nname = 'x'\nfolder = 'results/x'\nmade_by = 'asv'\ncost = 3\n", "unknown keys cost"),
    ("[[set]]\nname = 'x'\nfolder = 'results/x'\nmade_by = 'asv'\n" * 2, "listed twice: x"),
    ("[[set]]\nname = 'x'\nfolder = 'results/x'\nmade_by = 'asv'\n"
     "[[set]]\nname = 'y'\nfolder = 'results/x'\nmade_by = 'asv'\n", "folders listed twice: results/x"),
    ("[[set]\n", "cannot be read as TOML"),
])
def test_a_malformed_manifest_is_a_one_line_error(tmp_path, text, message):
    (tmp_path / "manifest.toml").write_text(text)
    with pytest.raises(ManifestError, match=message) as err:
        manifest.load(tmp_path / "manifest.toml")
    assert "\n" not in str(err.value)


def test_reproduce_all_lists_names_folders_and_costs(capsys):
    assert main(["reproduce", "all", "--list"]) == 0
    out = capsys.readouterr().out
    for s in SETS.sets:
        assert s.name in out and s.folder in out
    assert "~2 min" in out and "not re-made: made by asv" in out


def test_reproduce_all_only_runs_the_listed_commands_as_typed_from_the_root(monkeypatch, tmp_path):
    calls = []

    def fake_main(argv):
        calls.append((list(argv), Path.cwd()))
        return 0

    real_main = cli.main
    monkeypatch.setattr(cli, "main", fake_main)  # what reproduce all calls back
    monkeypatch.setattr(manifest, "dirty_state", lambda root: None)
    assert real_main(["reproduce", "all", "--only", "regions", "table2-quick", "--paper-data", str(tmp_path)]) == 0
    table2 = SETS.select(["table2-quick"])[0].argv
    assert calls == [([a.replace("../shared/paper-data", str(tmp_path)) for a in table2], ROOT),
                     (SETS.select(["regions"])[0].argv, ROOT)]  # manifest order, from the repository root
    assert str(tmp_path) in calls[0][0]
    calls.clear()
    assert real_main(["reproduce", "all", "--only", "where-can", "--allow-dirty"]) == 0
    assert calls[0][0][-1] == "--allow-dirty"


def test_reproduce_all_stops_at_the_first_failing_command(monkeypatch, tmp_path, capsys):
    real_main = cli.main
    monkeypatch.setattr(cli, "main", lambda argv: 2)
    monkeypatch.setattr(manifest, "dirty_state", lambda root: None)
    assert real_main(["reproduce", "all", "--only", "why-cant", "regions"]) == 2
    assert "--only why-cant regions" in capsys.readouterr().err
    assert real_main(["reproduce", "all", "--only", "asv"]) == 2  # made by asv: nothing to run
    assert real_main(["reproduce", "all", "--only", "table2-quick", "--paper-data", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not made by matinv-bench" in err[0] and "--paper-data" in err[1]


def test_reproduce_all_refuses_networks_trained_by_other_training_code(monkeypatch, tmp_path, capsys):
    from matinv_bench.reporting.results import now
    from matinv_bench.solvers.learned.cache import training_fingerprint

    def fake_main(argv):  # the set's command: rows of networks trained under some fingerprint, now
        out = tmp_path / "results" / "where-can"
        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"solver": ["mlp-2fc[seed=0]", "lu"], "train_fingerprint": [fingerprint, None],
                      "timestamp": [now(), now()]}).to_parquet(out / "results.parquet")
        return 0

    real_main = cli.main
    monkeypatch.setattr(cli, "main", fake_main)
    fingerprint = "0123456789abcdef"
    assert real_main(["reproduce", "all", "--only", "where-can", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "trained by other training code (fingerprint 0123456789abcdef" in err and "--only where-can" in err
    fingerprint = training_fingerprint()
    assert real_main(["reproduce", "all", "--only", "where-can", "--root", str(tmp_path)]) == 0


TINY = """[[set]]
name = "tiny"
folder = "results/tiny"
command = "matinv-bench run --solver lu --dataset 'randsvd[n=2]' --n-matrices 4 --no-timing --quiet --out results/tiny"
cost_s = 1

[[set]]
name = "other"
folder = "results/other"
command = "matinv-bench run --solver lu --dataset 'randsvd[n=3]' --n-matrices 4 --no-timing --quiet --out results/other"
cost_s = 1
"""


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with a tiny manifest, standing in for this package's own."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    repo = tmp_path / "repo"
    (repo / "results").mkdir(parents=True)
    (repo / "results" / "manifest.toml").write_text(TINY)
    (repo / "code.py").write_text("x = 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(git + cmd, cwd=repo, check=True, capture_output=True)
    monkeypatch.setattr(manifest, "repo_root", lambda: repo)
    monkeypatch.chdir(repo)
    return repo


def test_reproduce_all_runs_the_chosen_sets_of_a_tiny_manifest(repo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # commands run from the repository root wherever it is called
    assert main(["reproduce", "all", "--only", "tiny"]) == 0
    rows = read_results(repo / "results" / "tiny")
    assert list(rows.status) == ["ok"] and "allow_dirty" not in rows
    assert not (repo / "results" / "other").exists()
    assert main(["reproduce", "all", "--root", str(tmp_path / "scratch")]) == 0  # a copy, elsewhere
    assert {p.name for p in (tmp_path / "scratch" / "results").iterdir()} == {"tiny", "other"}


def test_a_dirty_tree_may_not_write_into_a_listed_folder(repo, tmp_path, capsys):
    manifest.check_writable("results/tiny")  # clean
    with (repo / "results" / "manifest.toml").open("a") as f:
        f.write("# results/ is output, not code: changing it leaves the tree clean\n")
    manifest.check_writable("results/tiny")
    assert system.tree_changes(repo) == [] and not system.git_sha(repo).endswith("+dirty")
    (repo / "code.py").write_text("x = 2\n")
    assert system.git_sha(repo).endswith("+dirty")
    for listed in ("results/tiny", repo / "results" / "tiny" / "cells", "results/other"):
        with pytest.raises(DirtyTreeError, match="code.py.*--allow-dirty"):
            manifest.check_writable(listed)
    for free in ("results/tiny-20260101-000000", "results", tmp_path / "elsewhere"):
        manifest.check_writable(free)
    manifest.check_writable("results/tiny", allow_dirty=True)
    # every writer passes through the guard: run, the experiments (the engine's run loop), scaling, reproduce all
    run = ["run", "--solver", "lu", "--dataset", "randsvd[n=2]", "--n-matrices", "4", "--no-timing", "--quiet",
           "--out", "results/tiny"]
    assert main(run) == 2
    assert main(["reproduce", "where-can", "--base", "paper-2x2-1st", "--theta", "0.5", "--solver", "lu",
                 "--n-matrices", "4", "--quiet", "--out", "results/tiny"]) == 2
    assert main(["scaling", "--n", "2", "--solver", "lu", "--quiet", "--out", "results/tiny"]) == 2
    assert main(["reproduce", "all"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(e.startswith("matinv-bench: error:") and "--allow-dirty" in e for e in err)
    assert not (repo / "results" / "tiny").exists()
    assert main(run + ["--allow-dirty"]) == 0
    assert read_results(repo / "results" / "tiny").allow_dirty.all()


def test_outside_a_git_checkout_a_listed_folder_is_refused(tmp_path, monkeypatch):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "manifest.toml").write_text(TINY)
    monkeypatch.setattr(manifest, "repo_root", lambda: tmp_path)
    assert system.tree_changes(tmp_path) is None
    with pytest.raises(DirtyTreeError, match="not a git checkout"):
        manifest.check_writable(tmp_path / "results" / "tiny")


@needs_git
def test_report_rebuilds_the_committed_report_from_the_committed_files_alone(tmp_path, monkeypatch):
    for f in tracked():
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, tmp_path / f)
    def no_file(fig, path):  # the figures' pixels are not the point
        style.plt.close(fig)
        return [Path(path), Path(path).with_suffix(".svg")]

    monkeypatch.setattr(style, "save", no_file)
    text = report.build_report(tmp_path / "results", strict=True).read_text()
    committed = (ROOT / "results" / "REPORT.md").read_text()

    def outline(t: str) -> list[str]:
        return [line for line in t.splitlines() if line.startswith(("#", "Made by", "From the timed rows"))]

    assert outline(text) == outline(committed)
