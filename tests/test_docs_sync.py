"""Generated documentation is in sync with its sources: the registries and the committed results.

A failure here means a solver, a dataset or a committed result changed without
`matinv-bench report --docs` being run; run it and commit what it rewrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from matinv_bench.errors import DataFileError
from matinv_bench.reporting import docs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted(docs.generated_files(ROOT)), ids=lambda p: str(p.relative_to(ROOT)))
def test_generated_files_are_in_sync(path):
    expected = docs.generated_files(ROOT)[path]
    assert path.is_file(), f"{path} is missing: run `matinv-bench report --docs`"
    assert path.read_text() == expected, f"{path.relative_to(ROOT)} is out of date: run `matinv-bench report --docs`"


def test_the_readme_has_a_headline_block():
    assert ROOT / "README.md" in docs.generated_files(ROOT)


def test_the_reference_lists_every_built_in_solver_and_dataset():
    text = docs.reference_markdown()
    for name in docs._built_in(docs.SOLVERS) + docs._built_in(docs.DATASETS):
        assert f"`{name}" in text


def test_a_block_is_replaced_and_a_missing_block_is_an_error():
    text = "intro\n<!-- BEGIN x -->\nold\n<!-- END x -->\nrest\n"
    assert docs.replace_block(text, "x", "new\n") == "intro\n<!-- BEGIN x -->\nnew\n<!-- END x -->\nrest\n"
    with pytest.raises(DataFileError, match="no block"):
        docs.replace_block(text, "y", "new\n")


def test_the_headline_follows_the_numbers(tmp_path):
    """Plant other numbers in a copy of the committed Table 2 rows: the verdict turns with them."""
    import shutil

    import pandas as pd

    from matinv_bench.reporting import findings

    paper = tmp_path / "results" / "paper"
    shutil.copytree(ROOT / "results" / "paper" / "table2-fast", paper / "table2-fast",
                    ignore=shutil.ignore_patterns("cells"))
    shutil.copy(ROOT / "results" / "paper" / "table2-fast.csv", paper / "table2-fast.csv")
    assert "the 2-FC beats the linear approximation" in findings.headline_markdown(tmp_path / "results")
    rows = pd.read_parquet(paper / "table2-fast" / "results.parquet")
    rows.loc[rows["solver"].str.startswith("mlp-2fc[recipe"), "mae"] = 1.0  # far worse than the linear approximation
    rows.to_parquet(paper / "table2-fast" / "results.parquet")
    text = findings.headline_markdown(tmp_path / "results")
    assert "the 2-FC does not beat the linear approximation (every seed is worse)" in text
