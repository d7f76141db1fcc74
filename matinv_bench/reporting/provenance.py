"""Where the committed numbers come from: for each set a manifest lists, the commit its rows name
(``git_sha``), whether the tree was clean, and the commit at which its networks were trained
(``train_commit``) and how many came from the model cache. The report shows this table after its
headline, and a test holds the committed sets to one clean commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from matinv_bench.reporting import results
from matinv_bench.reporting.manifest import Manifest, ResultSet
from matinv_bench.system import DIRTY


@dataclass(frozen=True)
class Origin:
    """One listed set's provenance; ``rows == 0`` for a set without a results table (made by
    another tool, or not made yet)."""

    name: str
    rows: int = 0
    commits: tuple[str, ...] = ()  # distinct git_sha values of its rows
    allow_dirty: bool = False  # some row was written with --allow-dirty
    trained_at: tuple[str, ...] = ()  # distinct train_commit values of its learned rows
    nets: int = 0  # rows of learned solvers (with a train_commit)
    from_cache: int = 0  # of those, networks loaded from the model cache
    first: str = ""  # the earliest and latest row timestamps (dates)
    last: str = ""

    @property
    def clean(self) -> bool:
        return not self.allow_dirty and not any(DIRTY in c for c in self.commits)

    @property
    def one_commit(self) -> bool:
        """Clean, and its rows and networks name one and the same commit."""
        return self.clean and bool(self.commits) and len({*self.commits, *self.trained_at}) == 1


def _distinct(df: pd.DataFrame, column: str) -> tuple[str, ...]:
    return tuple(sorted(map(str, df[column].dropna().unique()))) if column in df else ()


def origin(s: ResultSet, root: Path) -> Origin:
    """The provenance of one listed set, read from its results table (``root``: the repository root)."""
    folder = root / s.folder
    if not results.has_results(folder):
        return Origin(s.name)
    df = results.read_results(folder)
    learned = df[df["train_commit"].notna()] if "train_commit" in df else df.iloc[:0]
    stamps = pd.to_datetime(df["timestamp"], utc=True) if "timestamp" in df else pd.Series(dtype="datetime64[ns, UTC]")
    hits = learned["train_cache_hit"].astype(str).str.lower().eq("true").sum() if "train_cache_hit" in learned else 0
    return Origin(s.name, len(df), _distinct(df, "git_sha"),
                  bool(df["allow_dirty"].fillna(False).astype(bool).any()) if "allow_dirty" in df else False,
                  _distinct(learned, "train_commit"), len(learned), int(hits),
                  f"{stamps.min():%Y-%m-%d}" if len(stamps) else "", f"{stamps.max():%Y-%m-%d}" if len(stamps) else "")


def origins(sets: Manifest) -> list[Origin]:
    """Every listed set's provenance, in manifest order."""
    return [origin(s, sets.root) for s in sets.sets]


def common_commit(found: list[Origin]) -> str | None:
    """The one commit that every set with rows names, its networks trained there and its tree
    clean; None where any set differs, names no commit, or no set has rows."""
    made = [o for o in found if o.rows]
    commits = {c for o in made for c in (*o.commits, *o.trained_at)}
    if not made or len(commits) != 1 or not all(o.one_commit for o in made):
        return None
    return commits.pop()


def section(sets: Manifest) -> list[str]:
    """The report's provenance section: a sentence on the commit and one row per listed set."""
    found = origins(sets)
    common = common_commit(found)
    others = [s.name for s, o in zip(sets.sets, found, strict=True) if not o.rows]
    if common is not None:
        lead = (f"Every set with a results table was made at commit `{common}` from a clean tree, and every "
                "network in it was trained at that commit (in the same re-make: `matinv-bench reproduce all`).")
    else:
        odd = [o.name for o in found if o.rows and not o.one_commit]
        lead = ("The sets were not all made at one clean commit"
                + (f"; mixed, dirty or unknown within a set: {', '.join(odd)}" if odd else "") + ".")
    if others:
        lead += f" Without a results table (made by another tool, see its section): {', '.join(others)}."
    lines = ["## Where the numbers come from", "", lead, "",
             "| set | rows | made at | clean | networks (rows) | trained at | from the model cache | dates |",
             "|---|---:|---|---|---:|---|---:|---|"]
    for o in found:
        if not o.rows:
            lines.append(f"| {o.name} | - | - | - | - | - | - | - |")
            continue
        dates = o.first if o.first == o.last else f"{o.first} to {o.last}"
        lines.append(f"| {o.name} | {o.rows} | {', '.join(o.commits) or 'unknown'} | {'yes' if o.clean else 'no'} | "
                     f"{o.nets} | {', '.join(o.trained_at) or '-'} | {o.from_cache if o.nets else '-'} | {dates} |")
    return [*lines, ""]
