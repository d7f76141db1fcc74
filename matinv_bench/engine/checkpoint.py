"""A run folder that survives being killed: every finished cell is its own small file.

Layout of a run folder::

    run.json             the grid (cells, in order) and the settings: what ``--resume`` re-reads
    cells/<key>.json     one finished cell's row, written atomically the moment it is done
    results.parquet/csv  every finished row in grid order, rebuilt atomically from cells/
    summary.md

``<key>`` is a stable hash of the cell and of the settings that change its rows, so a resumed run
finds exactly the cells it already has, and a cell is never stored twice. A run killed with
SIGKILL loses at most the cells in flight; a temporary file it left behind is removed on resume.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from matinv_bench.errors import DataFileError
from matinv_bench.reporting import results

MANIFEST = "run.json"
CELLS = "cells"
FORMAT = 1


def cell_key(cell: dict[str, Any], n_test: int | None) -> str:
    """A stable 16-hex-digit id of a cell (its fields and the test-set size)."""
    fields = [cell["solver"], cell["dataset"], int(cell["seed"]), cell["dtype"], n_test]
    if cell.get("tags"):  # only cells with tags hash them, so older cell ids stay valid
        fields.append(cell["tags"])
    text = json.dumps(fields)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """A JSON-representable copy of a row value (numpy scalars to Python; NaN and inf kept)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def plain_row(row: dict) -> dict:
    """The row exactly as it will read back from its cell file (so fresh and resumed runs agree)."""
    return json.loads(dumps({k: _plain(v) for k, v in row.items()}))


def dumps(obj: Any) -> str:
    return json.dumps(obj, allow_nan=True, sort_keys=False)


class RunFolder:
    """Reads and writes one run folder (see the module docstring)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.cells_dir = self.path / CELLS

    # -- the manifest -------------------------------------------------------------------------
    def write_manifest(self, cells: Iterable[dict], settings: dict, title: str, command: str,
                       meta: dict | None = None) -> None:
        """``run.json``: the grid, its settings, and ``meta`` (what the command that runs it needs to
        resume it: the experiment's name and arguments)."""
        manifest = {"format": FORMAT, "title": title, "command": command, "settings": settings,
                    "meta": dict(meta or {}), "cells": list(cells)}
        results.write_text(self.path / MANIFEST, json.dumps(manifest, indent=1))

    def read_manifest(self) -> dict:
        """The saved grid and settings; DataFileError with a one-line reason if there is none."""
        path = self.path / MANIFEST
        if not path.is_file():
            raise DataFileError(f"cannot resume {str(self.path)!r}: no {MANIFEST} there "
                             "(not a matinv-bench run folder, or one made before --resume existed)")
        try:
            manifest = json.loads(path.read_text())
            if manifest.get("format") != FORMAT or not isinstance(manifest.get("cells"), list):
                raise ValueError(f"unknown format {manifest.get('format')!r}")
        except (ValueError, AttributeError) as exc:
            raise DataFileError(f"cannot resume {str(self.path)!r}: {MANIFEST} is malformed ({exc})") from None
        return manifest

    # -- cells --------------------------------------------------------------------------------
    def save_cell(self, key: str, row: dict) -> None:
        results.write_text(self.cells_dir / f"{key}.json", dumps({"key": key, "row": row}))

    def finished(self, keys: Iterable[str]) -> dict[str, dict]:
        """Rows of the cells among ``keys`` that have a readable cell file."""
        done = {}
        for key in keys:
            path = self.cells_dir / f"{key}.json"
            try:
                stored = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # missing, or unreadable: the cell runs again
            if stored.get("key") == key and isinstance(stored.get("row"), dict):
                done[key] = stored["row"]
        return done

    def remove_stale_temporaries(self) -> None:
        """Temporary files left by a writer that was killed before its ``os.replace``."""
        for folder in (self.path, self.cells_dir):
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)

    # -- the combined tables ------------------------------------------------------------------
    def write_tables(self, rows: list[dict]) -> None:
        """``results.parquet`` and ``results.csv`` from the finished rows."""
        results.write_tables(results.to_frame(rows), self.path)

