"""Every shell command the documentation shows is run here, or listed as not run with its reason.

The commands are those of README.md and docs/*.md (every line of a fenced ``bash`` block, and
every inline code span that starts with ``matinv-bench ``) and of the CLI's ``--help`` epilog.
``docs/commands.toml`` says, for each one, exactly as the page writes it, what happens to it:

- ``[[run]]``: the command runs here, in this process (``matinv_bench.cli.main``), in a fresh
  temporary folder laid out like a checkout (``docs/examples`` and ``../shared/paper-data`` are
  there), made small by the ``[shrink]`` options it accepts and by its entry's own ``replace`` and
  ``add``; then its exit status, the files and the columns the page names are checked, and that
  the checkout is left as it was;
- ``[[build]]``: a command for a CUDA GPU: it is parsed by the CLI's parser and its cells are
  built with CUDA reported available (every spec must build; numpy solvers keep the CPU), and
  nothing runs;
- ``[[not_run]]``: not run, with the reason.

A command on a page that no entry lists fails :func:`test_every_documented_command_is_listed`,
naming its page and line; so does an entry whose command no page shows any more. docs/testing.md
("Documented commands") describes the mechanism.
"""

from __future__ import annotations

import glob
import re
import shlex
import shutil
import subprocess
import tomllib
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matinv_bench import cli
from matinv_bench.engine import options
from matinv_bench.experiments import EXPERIMENTS
from matinv_bench.solvers import SOLVERS

from tests.test_plugins import fresh  # noqa: F401  (a fixture: the registries as in a new process)

ROOT = Path(__file__).resolve().parents[1]
PAPER_DATA = ROOT.parent / "shared" / "paper-data"
LISTING = ROOT / "docs" / "commands.toml"
SPEC = tomllib.loads(LISTING.read_text())
SHELLS = ("bash", "sh", "shell", "console")
RUN_KEYS = {"command", "commands", "replace", "add", "shrink", "setup", "made", "env", "needs", "exit", "files",
            "columns", "stdout", "then"}
WARNING_FLOOD = 10  # more warnings than this from one documented command is a flood on the user's terminal


@dataclass(frozen=True)
class Shown:
    """A command as a page shows it: ``where`` is ``page:line``."""

    page: str
    line: int
    text: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _strip_comment(line: str) -> str:
    """The line up to a shell comment (a ``#`` after white space, outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def page_commands(page: str, text: str) -> list[Shown]:
    """The commands of one Markdown page: each line of a fenced shell block (a trailing ``\\``
    joins the next line; comment lines are skipped), and each inline ``matinv-bench ...`` span
    (which may run over a line break)."""
    found, fence, start, pending, prose = [], None, 0, "", []
    for number, line in enumerate([*text.splitlines(), "```"], 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            if fence is None:  # the prose before this fence: its inline commands
                joined = "\n".join(t for _, t in prose)
                found += [Shown(page, prose[0][0] + joined.count("\n", 0, m.start()), " ".join(m.group(1).split()))
                          for m in re.finditer(r"`(matinv-bench\s[^`]+)`", joined)]
                prose = []
            fence = stripped[3:].strip() if fence is None else None
            continue
        if fence is None:
            prose.append((number, line))
            continue
        if fence not in SHELLS or (not pending and (not stripped or stripped.startswith("#"))):
            continue
        start = start if pending else number
        code = _strip_comment(stripped)
        if code.endswith("\\"):
            pending += code[:-1].strip() + " "
            continue
        found.append(Shown(page, start, pending + code))
        pending = ""
    return found


def epilog_commands() -> list[Shown]:
    """The examples of ``matinv-bench --help`` (``cli.EPILOG``), with their lines in cli.py."""
    source = (ROOT / "matinv_bench" / "cli.py").read_text().splitlines()
    first = next(i for i, line in enumerate(source) if line.startswith("EPILOG = "))
    lines = range(first + 1, first + cli.EPILOG.count("\n"))  # the lines after `EPILOG = """examples:`
    assert "".join(source[i] + "\n" for i in lines) == cli.EPILOG.split("\n", 1)[1]
    return [Shown("matinv_bench/cli.py", i + 1, _strip_comment(source[i].strip()))
            for i in lines if source[i].strip().startswith("matinv-bench")]


def documented() -> list[Shown]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = [c for p in pages for c in page_commands(str(p.relative_to(ROOT)), p.read_text())]
    return found + epilog_commands()


def _texts(entry: dict) -> list[str]:
    """The page commands an entry stands for (with the ones its ``then`` runs)."""
    texts = [entry["command"]] if "command" in entry else list(entry["commands"])
    return texts + [t for t in entry.get("then", []) if t.startswith("matinv-bench")]


DOCUMENTED = documented()
ENTRIES = [(kind, e) for kind in ("run", "build", "not_run") for e in SPEC.get(kind, [])]


def shown_at(text: str) -> str:
    return ", ".join(c.where for c in DOCUMENTED if c.text == text) or "no page"


def test_every_documented_command_is_listed():
    """A command on a page must be run, built or listed as not run; an entry must name a command
    some page still shows."""
    listed = Counter(t for _, e in ENTRIES for t in _texts(e))
    problems = [f"{c.where}: `{c.text}` is neither run nor listed as not run in docs/commands.toml"
                for c in DOCUMENTED if c.text not in listed]
    problems += [f"docs/commands.toml lists `{t}` {k} times" for t, k in listed.items() if k > 1]
    shown = {c.text for c in DOCUMENTED}
    problems += [f"docs/commands.toml lists `{t}`, which no page shows (any more)" for t in listed if t not in shown]
    assert not problems, "\n".join(problems)


def test_the_listing_is_well_formed():
    assert set(SPEC) <= {"shrink", "run", "build", "not_run"}, sorted(SPEC)
    for kind, entry in ENTRIES:
        assert ("command" in entry) != ("commands" in entry), entry
        keys = RUN_KEYS if kind == "run" else {"command", "commands", "reason"}
        assert set(entry) <= keys, f"{_texts(entry)[0]}: unknown keys {sorted(set(entry) - keys)}"
        if kind != "run":
            assert entry.get("reason"), f"{_texts(entry)[0]}: a [[{kind}]] entry needs its reason"


def test_reasons_name_tests_that_exist():
    """A reason that says another test runs the command names a test function that exists."""
    for _, entry in ENTRIES:
        for path, name in re.findall(r"(tests/[\w/]+\.py)::(\w+)", entry.get("reason", "")):
            assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M), f"{path}::{name} does not exist"


# -- running a documented command -----------------------------------------------------------------

def _subparser(argv: list[str]):
    """The argparse parser of the (sub)command ``argv`` calls, and ``argv``'s words after it."""
    parser, words = cli.build_parser(), list(argv)
    while words and words[0].startswith("-"):  # options of matinv-bench itself (--plugin FILE)
        words = words[2:]
    while words:
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs or words[0] not in subs[0].choices:
            break
        parser = subs[0].choices[words.pop(0)]
    return parser


def shrunk(entry: dict, text: str, cwd: Path, own: bool = False) -> tuple[dict[str, str], list[str]]:
    """The environment and the arguments after ``matinv-bench`` that a [[run]] entry runs: the page's
    command with its ``replace``, ``add`` and the ``[shrink]`` options it accepts (those ``add``
    sets are left to ``add``; with ``own``, a command of the listing rather than a page's, those
    the command itself sets too)."""
    for old, new in entry.get("replace", {}).items():
        assert old in text, f"replace: {old!r} is not in `{text}`"
        text = text.replace(old, new)
    words = [w.replace("$PWD", str(cwd)) for w in shlex.split(text)]
    env = {}
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    env.update({k: v.replace("$PWD", str(cwd)) for k, v in entry.get("env", {}).items()})
    assert words[:1] == ["matinv-bench"], f"`{text}` is not a matinv-bench command"
    add = shlex.split(entry.get("add", ""))
    argv = words[1:] + add
    if entry.get("shrink", True):
        accepted = set(_subparser(argv)._option_string_actions)
        given = argv if own else add
        for flag, value in SPEC["shrink"].items():
            if flag in accepted and flag not in given:
                argv += [flag] + ([str(value)] if value != "" else [])
    return env, argv


def _git_state() -> tuple[str, list[str]]:
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return status, sorted(p.name for p in (ROOT / "results").iterdir())


def _call(argv: list[str], where: str) -> tuple[int, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rc = cli.main(argv)
        except SystemExit as exc:  # argparse: --help (0), or a bad option (2), as the shell would see it
            rc = exc.code
        except Exception as exc:  # a traceback is a bug: say which page shows the command
            raise AssertionError(f"{where}: `matinv-bench {shlex.join(argv)}` raised {exc!r}") from exc
    return rc, caught


def _setup(step: str, cwd: Path, entry: dict) -> Callable[[], bool] | None:
    """One ``setup`` step of a [[run]] entry: a matinv-bench command (shrunk like the entry's own),
    ``copy PATH`` (a file of the repository into the folder) or ``npy NAME`` (a stack of 16
    well-conditioned 5 x 5 matrices)."""
    verb, _, arg = step.partition(" ")
    if verb == "matinv-bench":
        env, argv = shrunk({"shrink": entry.get("shrink", True)}, step, cwd, own=True)
        assert _call(argv, f"setup of {entry}")[0] == 0, f"setup `{step}` failed"
    elif verb == "copy":
        shutil.copy(ROOT / arg, cwd / Path(arg).name)
    elif verb == "npy":
        rng = np.random.default_rng(0)
        np.save(cwd / arg, np.eye(5) * 4 + rng.uniform(-1, 1, (16, 5, 5)))
    elif verb == "forget":  # a run stopped before K of its cells; afterwards they are all there again
        folder, k = arg.split()
        cells = sorted((cwd / folder / "cells").glob("*.json"))
        for cell in cells[:int(k)]:
            cell.unlink()
        kept = {c: c.stat().st_mtime_ns for c in cells[int(k):]}
        return lambda: (sorted((cwd / folder / "cells").glob("*.json")) == cells
                        and all(c.stat().st_mtime_ns == t for c, t in kept.items()))
    else:
        raise AssertionError(f"unknown setup step {step!r}")
    return None


def _made(command: str, target: str, cwd: Path, entry: dict) -> None:
    """Run ``command`` (no --out: it makes a fresh dated folder under results/) and move that folder
    to ``target``, the path the page names: the two must have the same form."""
    before = set((cwd / "results").glob("*")) if (cwd / "results").is_dir() else set()
    _setup(command, cwd, entry)
    new = sorted(set((cwd / "results").glob("*")) - before)
    assert len(new) == 1, f"`{command}` made {len(new)} folders under results/, not one"
    stem = re.sub(r"-\d{8}-\d{6}$", "", Path(target).name)
    assert re.fullmatch(rf"{re.escape(stem)}-\d{{8}}-\d{{6}}", new[0].name), (
        f"the page names {target}, but `{command}` makes results/{new[0].name}")
    new[0].rename(cwd / target)


def _workdir(tmp_path: Path) -> Path:
    """A folder laid out like the repository root: docs/examples, and ../shared/paper-data beside it."""
    cwd = tmp_path / "repo"
    (cwd / "docs").mkdir(parents=True)
    (cwd / "docs" / "examples").symlink_to(ROOT / "docs" / "examples")
    if PAPER_DATA.is_dir():
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "paper-data").symlink_to(PAPER_DATA)
    return cwd


def _read(path: str) -> pd.DataFrame:
    return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path, nrows=5)


RUNS = [e for kind, e in ENTRIES if kind == "run"]


@pytest.mark.parametrize("entry", RUNS, ids=[shown_at(_texts(e)[0]).split(",")[0] for e in RUNS])
def test_documented_command(entry, tmp_path, monkeypatch, fresh, capsys, small_probe):  # noqa: F811
    text = _texts(entry)[0]
    where = shown_at(text)
    if entry.get("needs") == "paper-data" and not PAPER_DATA.is_dir():
        pytest.skip(f"needs the authors' data at {PAPER_DATA}")
    cwd = _workdir(tmp_path)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(options, "RESULTS", Path("results"))  # the real default: results/<name>-<date>-<time>
    before = _git_state()
    afterwards = [check for step in entry.get("setup", []) if (check := _setup(step, cwd, entry))]
    if "made" in entry:
        target = re.search(r"results/[\w.-]+-\d{8}-\d{6}", text)
        assert target, f"{where}: `made` needs a results/<name>-<date>-<time> path in `{text}`"
        _made(entry["made"], target.group(0), cwd, entry)
    env, argv = shrunk(entry, text, cwd)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    rc, caught = _call(argv, where)
    out, err = capsys.readouterr()
    ran = f"{where}: `{text}` ran as `matinv-bench {shlex.join(argv)}`"
    assert rc == entry.get("exit", 0), f"{ran} and exited with status {rc}, not {entry.get('exit', 0)}\n{err[-2000:]}"
    for step in entry.get("then", []):
        if step.startswith("matinv-bench"):
            then = shrunk({"shrink": False}, step, cwd)[1]
            assert _call(then, shown_at(step))[0] == 0, f"{shown_at(step)}: `{step}` failed after `{text}`"
        elif check := _setup(step, cwd, entry):
            afterwards.append(check)
    for pattern in entry.get("files", []):
        assert glob.glob(pattern), f"{ran}: no {pattern} (the page says it writes it); made: {_listing(cwd)}"
    for pattern, columns in entry.get("columns", {}).items():
        table = _read(sorted(glob.glob(pattern))[0])
        missing = [c for c in columns if c not in table.columns]
        assert not missing, f"{ran}: {pattern} lacks the columns {missing}"
    assert all(check() for check in afterwards), f"{ran}: it did not run exactly the missing cells again"
    for words in entry.get("stdout", []):
        assert words in out, f"{ran}: its output does not say {words!r}\n{out[-2000:]}"
    messages = Counter(f"{w.category.__name__}: {str(w.message)[:80]}" for w in caught)
    count = sum(messages.values())
    assert count <= WARNING_FLOOD, f"{ran}: {count} warnings, a flood on the terminal: {messages.most_common(3)}"
    assert _git_state() == before, f"{ran}: it changed the checkout (git status, results/)"


def _listing(cwd: Path) -> list[str]:
    return sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*") if "cells" not in p.parts)[:40]


# -- commands for a GPU: their cells build, nothing runs -------------------------------------------

BUILDS = [e for kind, e in ENTRIES if kind == "build"]


@pytest.mark.parametrize("entry", BUILDS, ids=[shown_at(_texts(e)[0]).split(",")[0] for e in BUILDS])
def test_gpu_command_builds_its_cells(entry, monkeypatch):
    """With CUDA reported available, the command parses and every cell's solver builds: torch
    solvers on the GPU, numpy ones (LAPACK, Gauss-Jordan's numpy backend) on the CPU."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for text in _texts(entry):
        args = cli.build_parser().parse_args(shlex.split(text)[1:])
        cells = EXPERIMENTS[args.words[-1]].cells(args)
        assert cells, f"{shown_at(text)}: `{text}` has no cells"
        for spec in sorted({c.solver for c in cells}):
            solver = SOLVERS.build(spec)
            device = str(getattr(solver, "device", "cpu"))
            expected = "cpu" if solver.library == "numpy" else "cuda"
            assert device.startswith(expected), f"{shown_at(text)}: {spec} would run on {device}, not {expected}"
