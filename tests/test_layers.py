"""The package's layers and acyclicity, as import-linter checks them (contracts in pyproject.toml).

The same check runs in CI as ``lint-imports``; here it also has to catch a planted violation, so
that a contract that can no longer fail would be noticed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("importlinter", reason="import-linter is not installed (pip install -e '.[test]')")


def _lint(where: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(where), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()", "--config", str(where / "pyproject.toml"), "--no-cache"],
                          cwd=where, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "matinv_bench", where / "matinv_bench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
    return where


def test_the_contracts_hold_on_this_tree(copy):
    res = _lint(copy)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 kept, 0 broken" in res.stdout


@pytest.mark.parametrize(
    "module, planted, contract",
    [
        # an upward import hidden inside a function: the scoring layer reaching for the CLI
        (
            "scoring/metrics.py",
            "def _planted():\n    from matinv_bench import cli  # noqa\n",
            "higher layers import lower",
        ),
        # a cycle between two engine modules (the runner already imports the checkpoints)
        (
            "engine/checkpoint.py",
            "def _planted():\n    from matinv_bench.engine import runner  # noqa\n",
            "no import cycles",
        ),
    ],
)
def test_a_planted_violation_breaks_a_contract(copy, tmp_path, module, planted, contract):
    where = tmp_path / "tree"
    shutil.copytree(copy, where)
    path = where / "matinv_bench" / module
    path.write_text(path.read_text() + "\n\n" + planted)
    res = _lint(where)
    assert res.returncode != 0
    broken = [line for line in res.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), res.stdout
