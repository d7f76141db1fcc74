"""The progress display: the one way every command shows how far it is, whatever it counts
(cells of a grid, networks trained before it, the sets or steps of a plan).

On a terminal it is a rich progress bar with the steps done, the time elapsed and an estimate of
the time left. Without one (CI, a pipe, a log file: ``not console.is_terminal``) a bar would be
drawn once, cut to the console width, at the end; instead each finished step prints one plain
line::

    [3/12] done: lu on paper-3x3 (eta 0:00:41)

The estimate is the mean time per step so far times the steps left. ``say(text)`` prints a line
above the bar (what starts now, and how long it should take).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta


def eta_text(seconds: float) -> str:
    """Seconds as ``H:MM:SS``, as rich's TimeRemainingColumn writes them."""
    return str(timedelta(seconds=max(0, round(seconds))))


class Progress:
    """``with Progress(enabled, total, "cells") as step: ... step("lu on paper-3x3")`` marks one
    more step done, ``step.say("...")`` prints a line; silent when not ``enabled``."""

    def __init__(self, enabled: bool, total: int, what: str = "cells", lines: bool = False):
        """``lines``: plain lines even on a terminal (a plan whose steps draw bars of their own)."""
        self.enabled, self.total, self.what, self.lines = enabled, total, what, lines
        self.bar = None
        self._step: Callable[[str], None] = lambda _desc: None
        self._console = None

    def __call__(self, desc: str) -> None:
        self._step(desc)

    def say(self, text: str) -> None:
        """Print ``text`` on its own line (above the bar on a terminal); nothing when not enabled."""
        if self._console is not None:
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        from rich.console import Console

        console = self._console = Console()
        if self.lines or not console.is_terminal:
            self._step = self._lines(console)
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(TextColumn("{task.description:<60.60}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console,
                            transient=False)
        self.bar.__enter__()
        self.task = self.bar.add_task(self.what, total=self.total)
        self._step = lambda desc: self.bar.update(self.task, advance=1, description=f"done: {desc}")
        return self

    def _lines(self, console) -> Callable[[str], None]:
        start, done = time.monotonic(), 0

        def step(desc: str) -> None:
            nonlocal done
            done += 1
            eta = (time.monotonic() - start) / done * (self.total - done)
            print(f"[{done}/{self.total}] done: {desc} (eta {eta_text(eta)})", file=console.file, flush=True)

        return step

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            if exc[0] is None:
                self.bar.update(self.task, completed=self.total, description="done")
            self.bar.__exit__(*exc)
            self.bar = None
