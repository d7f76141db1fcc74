"""The manifest of committed result sets (``results/manifest.toml``), and the guard on them.

Each ``[[set]]`` of the manifest is one committed result set:

- ``name``: how ``matinv-bench reproduce all --only NAME`` calls it;
- ``folder`` and ``files``: the folder it writes and the extra files it owns beside it, relative to
  the repository root (the folder that holds ``results/``);
- ``command``: the ``matinv-bench ...`` line that makes it, with an explicit ``--out``, run from the
  repository root; or, for a set another tool made, ``made_by`` (how it was made) instead;
- ``cost_s``: about how long the command takes on 2 CPU cores with an empty model cache;
- ``needs``: what it needs besides the package (``paper-data``: the authors' data at
  ``../shared/paper-data``; ``train: ...``: the nets it trains); ``note``: anything else.

``reproduce all`` re-makes the sets in manifest order; ``report`` reads only the sets listed.
:func:`check_writable` is the guard of every writer (the engine's run loop and the scaling study):
writing into a listed folder from a work tree with uncommitted changes outside ``results/`` is
refused unless the run was given ``--allow-dirty``.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

from matinv_bench import system
from matinv_bench.errors import DirtyTreeError, ManifestError

MANIFEST = Path("results") / "manifest.toml"
PAPER_DATA = "../shared/paper-data"  # where commands find the authors' data (``needs = ["paper-data"]``)
_KEYS = {"name", "folder", "files", "command", "made_by", "cost_s", "needs", "note"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class ResultSet:
    """One ``[[set]]`` of the manifest (see the module docstring)."""

    name: str
    folder: str
    files: tuple[str, ...] = ()
    command: str | None = None
    made_by: str | None = None
    cost_s: float | None = None
    needs: tuple[str, ...] = ()
    note: str = ""

    @property
    def argv(self) -> list[str]:
        """The command's arguments after ``matinv-bench`` (empty for a set made by another tool)."""
        return shlex.split(self.command)[1:] if self.command else []

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.folder, *self.files)


@dataclass(frozen=True)
class Manifest:
    """The sets of one manifest file, in order; paths in it are relative to :attr:`root`."""

    path: Path
    sets: tuple[ResultSet, ...]

    @property
    def root(self) -> Path:
        """The repository root: the folder above the one that holds the manifest."""
        return self.path.parent.parent

    def select(self, names: list[str] | None = None) -> list[ResultSet]:
        """The named sets (all without ``names``), in manifest order; ManifestError for a name not listed."""
        if names is None:
            return list(self.sets)
        known = {s.name for s in self.sets}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ManifestError(f"{self.path} lists no set {', '.join(map(repr, unknown))}; "
                                f"it lists: {' '.join(s.name for s in self.sets)}")
        return [s for s in self.sets if s.name in names]

    def owner(self, path: Path | str) -> ResultSet | None:
        """The set whose folder is ``path`` or holds it (``path`` relative to the current folder), if any."""
        path = Path(path).resolve()
        for s in self.sets:
            folder = (self.root / s.folder).resolve()
            if path == folder or folder in path.parents:
                return s
        return None


def load(path: Path | str) -> Manifest:
    """Read and check a manifest; ManifestError (one line, naming the file) if missing or malformed."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest (the list of committed result sets)") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot be read as TOML ({exc})") from None
    if set(data) - {"set"} or not isinstance(data.get("set"), list):
        raise ManifestError(f"{path}: malformed, expected only [[set]] tables")
    sets = [_result_set(path, i, table) for i, table in enumerate(data["set"])]
    for what, values in (("set names", [s.name for s in sets]), ("folders", [s.folder for s in sets])):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ManifestError(f"{path}: {what} listed twice: {', '.join(twice)}")
    return Manifest(path, tuple(sets))


def _result_set(path: Path, i: int, table) -> ResultSet:
    where = f"{path}: set {i + 1}"
    if not isinstance(table, dict):
        raise ManifestError(f"{where}: malformed, not a table")
    where = f"{path}: set {table.get('name', i + 1)!r}"
    extra = sorted(set(table) - _KEYS)
    if extra:
        raise ManifestError(f"{where}: unknown keys {', '.join(extra)} (known: {', '.join(sorted(_KEYS))})")
    for key, kind in (("name", str), ("folder", str), ("command", str), ("made_by", str), ("note", str),
                      ("cost_s", (int, float)), ("files", list), ("needs", list)):
        if key in table and (not isinstance(table[key], kind) or isinstance(table[key], bool)):
            raise ManifestError(f"{where}: {key} has the wrong type ({type(table[key]).__name__})")
    for key in ("files", "needs"):
        if not all(isinstance(v, str) for v in table.get(key, [])):
            raise ManifestError(f"{where}: {key} must be a list of strings")
    if "name" not in table or not _NAME.match(table["name"]) or "folder" not in table:
        raise ManifestError(f"{where}: needs a name (lower case, digits, '-') and a folder")
    if ("command" in table) == ("made_by" in table):
        raise ManifestError(f"{where}: give either command (a matinv-bench line) or made_by (another tool's)")
    command = table.get("command")
    if command is not None:
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise ManifestError(f"{where}: command cannot be split like a shell line ({exc})") from None
        if words[:1] != ["matinv-bench"] or not any(w == "--out" or w.startswith("--out=") for w in words):
            raise ManifestError(f"{where}: command must be a 'matinv-bench ...' line with an explicit --out")
    return ResultSet(table["name"], table["folder"], tuple(table.get("files", ())), command, table.get("made_by"),
                     table.get("cost_s"), tuple(table.get("needs", ())), table.get("note", ""))


def repo_root() -> Path | None:
    """The repository this package runs from, if it holds a manifest (an installed copy holds none)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / MANIFEST).is_file() else None


def repo_manifest() -> Manifest | None:
    """The manifest of the repository this package runs from, or None (see :func:`repo_root`)."""
    root = repo_root()
    return None if root is None else load(root / MANIFEST)


def dirty_state(root: Path) -> str | None:
    """Why the work tree at ``root`` is not clean (changes outside ``results/``), or None if it is."""
    changes = system.tree_changes(root)
    if changes is None:
        return "not a git checkout, so its state is unknown"
    if not changes:
        return None
    return (f"{len(changes)} tracked file{'s' if len(changes) > 1 else ''} changed outside results/, "
            f"e.g. {changes[0][3:]}")


def check_writable(out: Path | str, allow_dirty: bool = False) -> None:
    """DirtyTreeError if ``out`` is (or is inside) a folder of the repository's manifest and the work
    tree is not clean, unless ``allow_dirty``. Folders the manifest does not list are never refused."""
    if allow_dirty:
        return
    manifest = repo_manifest()
    owner = manifest.owner(out) if manifest is not None else None
    if owner is None:
        return
    state = dirty_state(manifest.root)
    if state is not None:
        raise DirtyTreeError(f"{out} belongs to the committed result set {owner.name!r} ({MANIFEST}) and the work "
                             f"tree is dirty ({state}): commit first, or give --allow-dirty (the rows then say "
                             "allow_dirty=True)")
