"""What the pages say about the code, checked against the code: defaults, signatures, options,
messages, costs, and the example package of docs/extending.md. (The commands the pages show are
run by tests/test_docs_commands.py.)"""

from __future__ import annotations


import numpy as np

from matinv_bench import cli
from matinv_bench.reporting import manifest
from matinv_bench.reporting.results import read_results


def test_reproduce_all_root_finds_the_data_beside_the_repository(tmp_path, monkeypatch, capsys):
    """``--root DIR`` runs the commands in DIR; ``../shared/paper-data`` in them still means the data
    beside the repository (not beside DIR), and without it the error names the set and the place."""
    repo = tmp_path / "work" / "repo"
    (repo / "results").mkdir(parents=True)
    (repo / "results" / "manifest.toml").write_text(
        '[[set]]\nname = "data"\nfolder = "results/data"\nneeds = ["paper-data"]\n'
        'command = "matinv-bench run --solver lu --dataset paper-dir:../shared/paper-data/matrix_3_dataset '
        '--n-matrices 4 --no-timing --quiet --out results/data"\n')
    data = tmp_path / "work" / "shared" / "paper-data" / "matrix_3_dataset"
    data.mkdir(parents=True)
    np.save(data / "base_matrix.npy", np.array([[4.0, 1, 0], [1, 3, 1], [0, 1, 2]]))
    monkeypatch.setattr(manifest, "repo_root", lambda: repo)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["reproduce", "all", "--root", str(tmp_path / "scratch")]) == 0
    assert list(read_results(tmp_path / "scratch" / "results" / "data").status) == ["ok"]

    data.parent.rename(tmp_path / "elsewhere")
    capsys.readouterr()
    assert cli.main(["reproduce", "all", "--root", str(tmp_path / "scratch2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"matinv-bench: error: set data needs the authors' data, not found at "
                   f"{tmp_path / 'work' / 'shared' / 'paper-data'} (../shared/paper-data from the repository root "
                   f"{repo}): give --paper-data DIR")
    assert cli.main(["reproduce", "all", "--root", str(tmp_path / "scratch2"), "--paper-data",
                     str(tmp_path / "elsewhere")]) == 0
