"""What a user sees while a solver runs, and how Ctrl-C stops it cleanly.

:class:`Progress` is a solver :data:`~lbdsl.solvers.base.Monitor`: a rich progress bar
(iteration, objective, residual, PSNR when the truth is known) on a terminal, and about ten
plain lines per solve when stdout is not a terminal (a log file, a pipe, CI).

:class:`InterruptGuard` turns the first Ctrl-C during a solve into a request that the monitor
honours at the solver's next check by raising ``KeyboardInterrupt`` there; the solver then stops
with ``stop_reason = "interrupted"`` and returns its last good iterate, which is written like any
result.  A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import math
import signal
import threading
from types import FrameType
from typing import Any

from rich.console import Console

__all__ = ["Progress", "InterruptGuard", "format_metrics"]

_SHOWN = (("objective", "objective", "{:.6g}"), ("residual", "residual", "{:.3g}"),
          ("psnr", "PSNR", "{:.2f} dB"))


def format_metrics(metrics: dict[str, float],
                   shown: tuple[tuple[str, str, str], ...] = _SHOWN) -> str:
    """``objective 1.23  residual 4.5e-05  PSNR 21.30 dB`` from whichever of ``shown``'s
    ``(key, label, format)`` metrics are there."""
    parts = []
    for key, label, fmt in shown:
        value = metrics.get(key)
        if value is not None and math.isfinite(float(value)):
            parts.append(f"{label} {fmt.format(float(value))}")
    return "  ".join(parts)


class Progress:
    """A monitor that displays a solve's progress; use as a context manager."""

    #: what one step is called, and which metrics a line shows
    unit = "iteration"
    shown = _SHOWN

    def __init__(self, console: Console, label: str, total: int, *, lines: int = 10):
        self.console = console
        self.label = label
        self.total = max(int(total), 1)
        self.step = max(self.total // max(lines, 1), 1)
        self.next_line = 0
        self.last: tuple[int, dict[str, float]] | None = None
        self._bar: Any = None
        self._task: Any = None

    @property
    def interactive(self) -> bool:
        return bool(self.console.is_terminal)

    def __enter__(self) -> "Progress":
        if self.interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn

            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[metrics]}"), console=self.console,
                            transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, metrics="")
        return self

    def __call__(self, iteration: int, metrics: dict[str, float]) -> None:
        self.last = (int(iteration), dict(metrics))
        text = format_metrics(metrics, self.shown)
        if self._bar is not None:
            self._bar.update(self._task, completed=min(int(iteration), self.total),
                             metrics=text)
        elif iteration >= self.next_line:
            self.console.print(f"  {self.label}: {self.unit} "
                               f"{int(iteration):>{len(str(self.total))}}/{self.total}  {text}",
                               highlight=False, soft_wrap=True)
            self.next_line = (int(iteration) // self.step + 1) * self.step

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


class InterruptGuard:
    """While active (main thread only), the first SIGINT sets :attr:`requested` instead of
    raising; :meth:`check` raises ``KeyboardInterrupt`` where it is safe (inside the monitor)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # a second Ctrl-C: the user means it
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "InterruptGuard":
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
                self._installed = True
            except ValueError:  # pragma: no cover - e.g. an embedded interpreter
                self._installed = False
        return self

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
