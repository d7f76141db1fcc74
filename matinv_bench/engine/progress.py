"""The progress display of a run: one per run, whatever command runs the cells.

On a terminal it is a rich progress bar with the cells done, the time elapsed and an estimate of
the time left. Without one (CI, a pipe, a log file: ``not console.is_terminal``) a bar would be
drawn once, cut to the console width, at the end; instead each finished cell prints one plain
line::

    [3/12] done: lu on paper-3x3 (eta 0:00:41)

The estimate is the mean time per cell so far times the cells left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta


def eta_text(seconds: float) -> str:
    """Seconds as ``H:MM:SS``, as rich's TimeRemainingColumn writes them."""
    return str(timedelta(seconds=max(0, round(seconds))))


class Progress:
    """``with Progress(enabled, total) as step: ... step("lu on paper-3x3")`` marks one more cell
    done; silent when not ``enabled``."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total
        self.bar = None

    def __enter__(self) -> Callable[[str], None]:
        if not self.enabled:
            return lambda _desc: None
        from rich.console import Console

        console = Console()
        if not console.is_terminal:
            return self._lines(console)
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
        self.task = self.bar.add_task("cells", total=self.total)
        return lambda desc: self.bar.update(self.task, advance=1, description=f"done: {desc}")

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
