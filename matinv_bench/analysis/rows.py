"""What a result row measures: its method (the solver spec without seed and device), the group of
its family, and whether it is an untrained network (made for timing; its accuracy is never read)."""

from __future__ import annotations

import pandas as pd

from matinv_bench.specs import SpecError, format_spec, parse_spec

GROUPS = ("classical", "matmul-only", "network")
GROUP_OF = {"direct": "classical", "iterative": "matmul-only", "approximation": "matmul-only", "learned": "network"}


def method_of(spec: str, drop: tuple[str, ...] = ("seed", "device")) -> str:
    """A solver spec without the parameters ``drop`` (its seed and device): the method a row measures."""
    try:
        name, params = parse_spec(str(spec))
    except SpecError:
        return str(spec)
    return format_spec(name, {k: v for k, v in params.items() if k not in drop})


def group_of(family: str) -> str:
    """``classical``, ``matmul-only`` or ``network`` for a solver family (``other`` if unknown)."""
    return GROUP_OF.get(str(family), "other")


def recipe_of(spec: str) -> str | None:
    """The ``recipe`` parameter of a spec, or None."""
    try:
        value = parse_spec(str(spec))[1].get("recipe")
    except SpecError:
        return None
    return None if value is None else str(value)


def untrained(df: pd.DataFrame) -> pd.Series:
    """True for rows of untrained networks: spec with ``recipe=none``, or ``train_recipe`` none."""
    spec = df["solver"].astype(str).map(recipe_of) == "none"
    if "train_recipe" in df:
        spec |= df["train_recipe"].astype(str).str.lower() == "none"
    return spec
