"""``matinv-bench reproduce gpu``: everything a GPU is lent for, in one command.

Its steps, in this order (``--only`` picks some), each writing to a folder of the output folder:

1. ``compile``: whether a compiled training step pays, measured before the training it would
   speed up: steps per second of the tables' 16x16 stacks (3 seeds) eager, ``torch.compile``d
   and as CUDA graphs, the compile time, and the weights' difference from eager after the same
   steps (:func:`~matinv_bench.solvers.learned.stacked.step_rates`). Output: ``compile.csv`` and
   ``compile.md``. The tables still train eagerly: the numbers decide whether that should change.
2. ``scaling-float32``, ``scaling-float64``: ``matinv-bench scaling`` on the budget's device
   (classical solvers up to the largest n of the budget, the networks up to the memory wall,
   beyond which their cells are skipped rows with the bytes they need).
3. ``table1``, ``table2``: ``matinv-bench reproduce table1|table2`` with the budget's recipe and
   seeds (trained together), the paper's four boxes, and with ``--paper-data`` the authors'
   test sets and their 16x16 base. Accuracy only (``--no-timing``): the time per matrix is the
   scaling sweep's question, and timing every table cell would cost minutes of the budget.

The scaling sweep comes first: its cost is bounded and each cell is saved as it finishes, while
training is the longest and least predictable part. Table 1 comes before Table 2, so that Table
2's 2-FC and 3-FC on ``paper-2x2-1st`` are the ones Table 1 trained (cache hits).

Budgets (:data:`BUDGETS`): ``gpu`` (CUDA, the paper recipe, 3 seeds, 10,000 test matrices, n up
to 8192) and ``tiny`` (the same steps on the CPU in a minute or two: the tiny recipe, 2 seeds,
100 matrices, n up to 8; CI runs it).

The CUDA smoke tests of the checkout are not a step of the package: ``bench/gpu_run.sh`` runs them
before this command. Every step runs through the CLI's own commands in this process (the function the CLI hands
over as ``args.main``, i.e. ``cli.main`` with an argv list), so that the one engine,
its progress display, ``--resume`` and the model cache apply. A step that fails is recorded and
the next one runs; the command exits non-zero at the end (1; 130 when interrupted, by Ctrl-C or
SIGTERM, e.g. from ``timeout``, after which no further step starts). ``run.md`` in the output
folder, rewritten after every step, holds the wall time of the whole command, the device and
machine, and each step's outcome and command. ``--resume DIR`` continues every step in DIR.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from matinv_bench.engine import options
from matinv_bench.engine.clock import device_description
from matinv_bench.engine.progress import Progress
from matinv_bench.engine.runner import machine
from matinv_bench.errors import DataFileError, OptionError, UserError
from matinv_bench.experiments import register
from matinv_bench.experiments.driver import command_line, dated_folder
from matinv_bench.experiments.skeleton import Command
from matinv_bench.experiments.tables import PAPER_DATASETS
from matinv_bench.reporting import results, summary
from matinv_bench.solvers.learned.stacked import StepOptions, step_rates
from matinv_bench.solvers.learned.training import recipe_for

STEPS = ("compile", "scaling-float32", "scaling-float64", "table1", "table2")
INTERRUPTED = 130


@dataclass(frozen=True)
class Budget:
    """What each step runs with."""

    device: str
    recipe: str  # of the tables' networks
    seeds: int
    n_matrices: int  # test matrices per box and seed (the authors' released sets keep theirs)
    table1: tuple[str, ...]  # Table 1's boxes
    n: tuple[int, ...]  # scaling sizes
    solvers: tuple[str, ...]  # scaling solvers
    warmup_s: float  # scaling clock
    min_time_s: float
    compile_nets: tuple[tuple[int, int, int], ...]  # (n, hidden, layers) of the stacks whose step is measured
    compile_variants: tuple[tuple[str, StepOptions], ...]  # the first is the reference
    compile_steps: int


SCALING_SOLVERS = (
    "lu",  # LAPACK on the host: the baseline of the crossovers
    "torch-inv", "gauss-jordan[backend=torch,block=16]", "neumann[order=3]", "newton-schulz[steps=40,init=scaled]",
    "mlp-2fc[hidden=2n^2,recipe=none]", "mlp-2fc[hidden=8n^2,recipe=none]",
    "mlp-3fc[hidden=2n^2,recipe=none]", "mlp-3fc[hidden=8n^2,recipe=none]",
)
BUDGETS: dict[str, Budget] = {
    "gpu": Budget("cuda", "paper", 3, 10_000, PAPER_DATASETS,
                  (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192), SCALING_SOLVERS, 0.1, 0.3,
                  ((16, 2048, 2), (16, 2048, 3)),
                  (("eager", StepOptions()), ("compiled", StepOptions(compile=True)),
                   ("compiled, CUDA graphs", StepOptions(compile=True, mode="reduce-overhead"))), 300),
    "tiny": Budget("cpu", "tiny", 2, 100, ("paper-2x2-1st", "paper-2x2-2nd"), (2, 4, 8),
                   ("lu", "torch-inv", "neumann[order=3]", "mlp-2fc[hidden=2n^2,recipe=none]"), 0.01, 0.02,
                   ((2, 32, 2),),  # aot_eager: traced as torch.compile does, no code generated (none needed on CPU)
                   (("eager", StepOptions()), ("compiled (aot_eager)", StepOptions(compile=True, backend="aot_eager"))),
                   20),
}


@dataclass(frozen=True)
class Step:
    """One step: ``argv`` of a ``matinv-bench`` command (empty for the tests), writing to ``output``
    (a folder; the tests' output file)."""

    name: str
    argv: tuple[str, ...] = ()
    output: Path | None = None


def slug(text: str) -> str:
    """``NVIDIA H200`` -> ``nvidia-h200``: a name for a folder."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


def gpu_folder() -> Path:
    """The gpu budget's default output folder: ``results/cuda-<the GPU's name>``."""
    return options.RESULTS / f"cuda-{slug(torch.cuda.get_device_name())}"


def plan(budget: Budget, out: Path, *, paper_data: Path | None = None, only: tuple[str, ...] = STEPS,
         resume: bool = False, retrain: bool = False, quiet: bool = False, engine: tuple[str, ...] = ()) -> list[Step]:
    """The steps of a run into ``out``, in :data:`STEPS` order. With ``resume``, a step whose
    folder holds a started run continues it (``--resume``; a scaling run takes its grid from
    there). ``engine``: engine options for every command (``--cell-timeout S``, ...)."""
    quiet_ = ("--quiet",) if quiet else ()
    steps = []
    for name in (s for s in STEPS if s in only):
        folder = out / name
        if name == "compile":
            steps.append(Step(name, (), out / "compile.md"))
        elif name.startswith("scaling"):
            if resume and (folder / "run.json").is_file():
                argv = ("scaling", "--resume", str(folder))
            else:
                argv = ("scaling", "--device", budget.device, "--dtype", name.split("-")[1],
                        "--n", *map(str, budget.n), "--solver", *budget.solvers,
                        "--warmup", str(budget.warmup_s), "--min-time", str(budget.min_time_s), "--out", str(folder))
            steps.append(Step(name, (*argv, *quiet_, *engine), folder))
        else:
            where = ("--resume", str(folder)) if resume and folder.is_dir() else ("--out", str(folder))
            argv = ("reproduce", name, "--recipe", budget.recipe, "--seeds", str(budget.seeds),
                    "--n-matrices", str(budget.n_matrices), "--device", budget.device, "--no-timing",
                    *(("--dataset", *budget.table1) if name == "table1" else ()),
                    *(("--paper-data", str(paper_data)) if paper_data is not None else ()),
                    *(("--retrain",) if retrain else ()))
            steps.append(Step(name, (*argv, *where, *quiet_, *engine), folder))
    return steps


# ----------------------------------------------------------------------------- running the steps

@dataclass
class Outcome:
    step: Step
    status: str = "not run"  # ok, failed, interrupted, skipped, not run
    exit: int | None = None
    seconds: float | None = None
    note: str = ""


@dataclass
class Record:
    """What ``run.md`` says: the command, where it ran, and every step's outcome."""

    command: str
    budget: str
    out: Path
    device: dict
    started: str = field(default_factory=results.now)
    t0: float = field(default_factory=time.perf_counter)
    outcomes: list[Outcome] = field(default_factory=list)
    finished: bool = False

    def markdown(self) -> str:
        wall = time.perf_counter() - self.t0
        state = "finished" if self.finished else "still running, or stopped before its end"
        lines = [*summary.header(pd.DataFrame(), f"matinv-bench reproduce gpu, budget `{self.budget}`", self.command),
                 f"- started {self.started}; wall time of the whole command: {wall:.1f} s ({state})",
                 f"- output folder: `{self.out}`", "", "## Device and machine", "",
                 "| | |", "| --- | --- |", *(f"| {k} | {_cell(v)} |" for k, v in self.device.items()), "",
                 "## Steps", "", "| step | status | exit | seconds | output | note |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for o in self.outcomes:
            where = o.step.output.relative_to(self.out) if o.step.output is not None else ""
            secs = "" if o.seconds is None else f"{o.seconds:.1f}"
            lines.append(f"| {o.step.name} | {o.status} | {'' if o.exit is None else o.exit} | {secs} | "
                         f"`{where}` | {_cell(o.note)} |")
        lines += ["", "## Commands", ""]
        for o in self.outcomes:
            cmd = (["matinv-bench", "reproduce", "gpu", "--budget", self.budget, "--only", "compile"]
                   if o.step.name == "compile" else ["matinv-bench", *o.step.argv])
            lines.append(f"- {o.step.name}: `{' '.join(shlex.quote(str(a)) for a in cmd)}`")
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        results.write_text(self.out / "run.md", self.markdown())


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _guarded(fn: Callable[[Step, Budget], Outcome], step: Step, budget: Budget) -> Outcome:
    """``fn(step, budget)``, with a crash recorded as the step's failure (the next step still runs)."""
    try:
        return fn(step, budget)
    except Exception as exc:  # e.g. a compiler that fails on this machine: that is the step's finding
        traceback.print_exc()
        return Outcome(step, "failed", 1, note=f"crashed: {type(exc).__name__}: {exc}")


def run_compile(step: Step, budget: Budget) -> Outcome:
    """The ``compile`` step: :func:`~matinv_bench.solvers.learned.stacked.step_rates` for each of the
    budget's stacks, written to compile.csv and compile.md beside ``step.output``."""
    rows = []
    for n, hidden, layers in budget.compile_nets:
        rows += step_rates(n, hidden, layers, budget.seeds, recipe_for("paper", n).batch,
                           budget.compile_steps, budget.device, torch.float64, dict(budget.compile_variants))
    table = pd.DataFrame(rows)
    results.atomic_write(step.output.with_suffix(".csv"), lambda tmp: table.to_csv(tmp, index=False))
    cols = ["n", "hidden", "layers", "stacked", "batch", "dtype", "variant", "first_step_s", "steps_per_s", "speedup",
            "max_rel_diff"]
    name = next(k for k, v in BUDGETS.items() if v == budget)
    about = (f"{budget.compile_steps} steps of Adam on one fixed batch per stack, after 5 warm-up steps, on "
             f"{budget.device}; first_step_s is the first call (a compiled step's compile time); max_rel_diff is the "
             "largest relative difference of the weights from eager's after the same steps.")
    table = pd.DataFrame(rows)[cols].to_markdown(index=False, floatfmt=".3g")
    summary.write(step.output.parent, pd.DataFrame(), "A compiled training step against eager",
                  f"matinv-bench reproduce gpu --budget {name} --only compile", ["", about, "", table],
                  name=step.output.name)
    best = max(rows[1:] or rows, key=lambda r: r["speedup"])
    return Outcome(step, "ok", 0, note=f"best: {best['variant']} at {best['speedup']:.2f}x eager "
                                       f"({best['layers']} layers, width {best['hidden']})")


class _ErrorLines:
    """A write-through stderr that keeps the last ``matinv-bench: error:`` line written to it."""

    def __init__(self, stream):
        self.stream, self.last = stream, ""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith("matinv-bench: error:"):
                self.last = line.removeprefix("matinv-bench: error:").strip()
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def run_command(step: Step, run: Callable[[list[str]], int]) -> Outcome:
    """One ``matinv-bench`` command in this process; a crash is recorded, not raised."""
    errors = _ErrorLines(sys.stderr)
    try:
        with redirect_stderr(errors):
            code = run(list(step.argv))
    except Exception as exc:  # a bug in a step: keep its traceback on stderr, record it, go on
        traceback.print_exc()
        return Outcome(step, "failed", 1, note=f"crashed: {type(exc).__name__}: {exc}")
    if code == INTERRUPTED:
        return Outcome(step, "interrupted", code, note="interrupted; finished cells are kept (--resume)")
    note = errors.last or ("exit status 1: no cell succeeded, or a regression" if code else "")
    return Outcome(step, "ok" if code == 0 else "failed", code, note=note)


def _describe(budget: Budget) -> dict:
    where = {"budget device": budget.device}
    if budget.device == "cuda":
        where.update(device_description("cuda"))
    return {**where, **machine()}


class Gpu(Command):
    name = "gpu"
    order = 91
    help = ("the scaling sweep in float32 and float64, and Tables 1 and 2 (paper recipe, seeds trained "
            "together): one command for a GPU")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--budget", default="gpu", choices=sorted(BUDGETS),
                       help="gpu: CUDA, the paper recipe, 3 seeds, 10,000 test matrices, scaling up to n = 8192 "
                            "(default); tiny: the same steps on the CPU in a minute or two (tiny recipe, 2 seeds, "
                            "n <= 8)")
        p.add_argument("--only", nargs="+", choices=STEPS, default=list(STEPS), metavar="STEP",
                       help=f"run only these steps ({', '.join(STEPS)}; default: all, in that order)")
        options.add(p, "paper_data", "retrain", *options.ENGINE,
                    helps={"paper_data": "the authors' released data (e.g. ../shared/paper-data): the tables also "
                                         "score on their test sets and on the box around their 16x16 base",
                           "out": "output folder (default: results/cuda-<the GPU's name> for the gpu budget, a "
                                  "fresh results/cpu-tiny-<date>-<time> for tiny)",
                           "resume": "continue the run whose output folder was DIR: every step continues its own "
                                     "run there (finished cells are kept, trained models come from the cache)"})

    def run(self, args: argparse.Namespace) -> int:
        return run(args)


register(Gpu())


def _engine_options(args: argparse.Namespace) -> tuple[str, ...]:
    opts = []
    for flag, value in (("--cell-timeout", args.cell_timeout), ("--workers", args.workers),
                        ("--scheduler", args.scheduler)):
        if value is not None:
            opts += [flag, str(value)]
    return tuple(opts)


def run(args: argparse.Namespace) -> int:
    budget = BUDGETS[args.budget]
    cli = getattr(args, "main", None)
    if cli is None:
        raise UserError("reproduce gpu runs its steps through the command line: run `matinv-bench reproduce gpu`")
    options.check(args)
    if budget.device == "cuda" and not torch.cuda.is_available():
        raise OptionError("--budget gpu runs on a CUDA GPU, but torch.cuda.is_available() is False here; "
                        "--budget tiny runs the same steps on the CPU")
    if args.paper_data is not None and not args.paper_data.is_dir():
        raise DataFileError(f"--paper-data: no such folder {str(args.paper_data)!r}")
    if args.resume is not None:
        out = args.resume
    elif args.out is not None:
        out = args.out
    else:
        out = gpu_folder() if budget.device == "cuda" else dated_folder("cpu-tiny")
    out = results.prepare_out_dir(out)
    steps = plan(budget, out, paper_data=args.paper_data, only=tuple(args.only), resume=args.resume is not None,
                 retrain=args.retrain, quiet=args.quiet, engine=_engine_options(args))
    record = Record(command_line(args), args.budget, out, _describe(budget), outcomes=[Outcome(s) for s in steps])
    record.write()
    interrupted = False
    # SIGTERM arrives as KeyboardInterrupt here: the command line wraps every command (system.sigterm_interrupts)
    with Progress(True, len(steps), "steps", lines=True) as done:
        for i, step in enumerate(steps):
            done.say(f"reproduce gpu: step {i + 1} of {len(steps)}: {step.name}")
            t0 = time.perf_counter()
            try:
                outcome = _guarded(run_compile, step, budget) if step.name == "compile" else run_command(step, cli)
            except KeyboardInterrupt:
                outcome = Outcome(step, "interrupted", INTERRUPTED, note="interrupted")
            outcome.seconds = time.perf_counter() - t0
            record.outcomes[i] = outcome
            record.write()
            done(f"{step.name}: {outcome.status}{f' ({outcome.note})' if outcome.note else ''}")
            if outcome.status == "interrupted":
                interrupted = True
                break
    record.finished = not interrupted
    record.write()
    failed = [o.step.name for o in record.outcomes if o.status == "failed"]
    print(f"\nwrote {out}/run.md; steps: " + ", ".join(f"{o.step.name} {o.status}" for o in record.outcomes))
    if interrupted:
        return INTERRUPTED
    if failed:
        print(f"matinv-bench: error: {len(failed)} step(s) failed: {', '.join(failed)} (see {out}/run.md)",
              file=sys.stderr)
        return 1
    return 0
