"""Provenance of the committed numbers: every set the manifest lists was made at one clean commit,
with its networks trained at that commit, and the report says so (or names the sets that differ)."""

from pathlib import Path

import pandas as pd
import pytest

from matinv_bench.reporting import manifest, provenance
from matinv_bench.reporting.results import COLUMNS, write_tables

ROOT = Path(__file__).resolve().parents[1]


def test_every_committed_set_comes_from_one_clean_commit_with_its_networks_trained_there():
    sets = manifest.load(ROOT / manifest.MANIFEST)
    found = provenance.origins(sets)
    made = {o.name: o for o in found if o.rows}
    assert made, "no listed set has a results table"
    # only a set another tool makes (asv) may lack a results table
    assert {s.name for s in sets.sets if s.name not in made} == {s.name for s in sets.sets if s.command is None}
    commit = provenance.common_commit(found)
    assert commit is not None, {o.name: (o.commits, o.trained_at, o.clean) for o in made.values()}
    assert all(o.nets > 0 for n, o in made.items() if n.startswith(("table", "where-can", "seeds", "why-cant")))
    section = "\n".join(provenance.section(sets))
    assert f"made at commit `{commit}` from a clean tree" in section


def _set(root: Path, name: str, rows: list[dict]) -> manifest.ResultSet:
    folder = root / "results" / name
    folder.mkdir(parents=True)
    df = pd.DataFrame(rows)
    write_tables(df.reindex(columns=[*COLUMNS, *(c for c in df if c not in COLUMNS)]), folder)  # the full schema
    return manifest.ResultSet(name, f"results/{name}", command=f"matinv-bench run --out results/{name}")


ROW = {"solver": "lu", "status": "ok", "git_sha": "abc123", "timestamp": "2026-12-01T10:00:00+00:00"}
NET = {**ROW, "solver": "mlp-2fc", "train_commit": "abc123", "train_cache_hit": True}


@pytest.mark.parametrize(("change", "odd"), [
    ({}, None),
    ({"git_sha": "abc123+dirty"}, "b"),
    ({"git_sha": "def456", "train_commit": "def456"}, None),  # each set clean, but two commits
    ({"train_commit": "def456"}, "b"),  # a network trained at another commit than its rows
    ({"allow_dirty": True}, "b"),
    ({"git_sha": None}, "b"),  # rows that name no commit
])
def test_the_section_names_the_one_commit_or_the_sets_that_differ(tmp_path, change, odd):
    plain = {k: v for k, v in change.items() if not k.startswith("train_")}  # what the classical row shares
    listed = (_set(tmp_path, "a", [ROW, NET]), _set(tmp_path, "b", [{**ROW, **plain}, {**NET, **change}]),
              manifest.ResultSet("asv", "results/asv", made_by="asv run"))
    sets = manifest.Manifest(tmp_path / "results" / "manifest.toml", listed)
    found = provenance.origins(sets)
    assert [o.rows for o in found] == [2, 2, 0] and found[0].nets == 1 and found[0].from_cache == 1
    text = "\n".join(provenance.section(sets))
    assert "Without a results table (made by another tool, see its section): asv." in text
    if not change:
        assert provenance.common_commit(found) == "abc123" and "made at commit `abc123` from a clean tree" in text
        assert "| a | 2 | abc123 | yes | 1 | abc123 | 1 | 2026-12-01 |" in text
        return
    assert provenance.common_commit(found) is None and "were not all made at one clean commit" in text
    assert (f"mixed, dirty or unknown within a set: {odd}." in text) if odd else "within a set" not in text
