"""Shared fixtures: the paper's released data (optional) and small matrix stacks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# CI replays the same examples every run (a red CI must be reproducible); locally they vary.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
PAPER_DATA = ROOT.parent / "shared" / "paper-data"


@pytest.fixture
def paper_data() -> Path:
    """``../shared/paper-data`` next to the project; the test is skipped when it is absent."""
    if not (PAPER_DATA / "README.md").is_file():
        pytest.skip(f"paper data not found at {PAPER_DATA} (the authors' released sets live outside the repo)")
    return PAPER_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
