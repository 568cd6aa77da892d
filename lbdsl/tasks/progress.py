"""What a user sees while a solver runs, and how Ctrl-C stops it cleanly.

:class:`Progress` is a solver :data:`~lbdsl.solvers.base.Monitor`: a rich progress bar
(iteration, objective, residual, PSNR when the truth is known) on a terminal, and about ten
plain lines per solve when stdout is not a terminal (a log file, a pipe, CI).

:class:`InterruptGuard` turns the first stop signal during a solve — Ctrl-C (SIGINT), and
SIGTERM and SIGHUP, which schedulers, ``timeout``, container stops and a closed terminal send —
into a request that the monitor honours at the solver's next check by raising
``KeyboardInterrupt`` there; the solver then stops with ``stop_reason = "interrupted"`` and
returns its last good iterate, which is written like any result.  A second one interrupts at
once.  :func:`install_stop_handlers` (the CLI, at start) makes SIGTERM and SIGHUP act like Ctrl-C
outside a solve too, and installs Ctrl-C's handler even where the process inherited it ignored;
:func:`stop_status` is the exit status (``128 + signal``).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from rich.console import Console

__all__ = ["Progress", "InterruptGuard", "remote_stop", "REMOTE_POLL_S", "format_metrics", "install_stop_handlers", "restore_handlers", "Stopped",
           "STOP_SIGNALS", "last_signal", "stop_status"]

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


#: The signals that stop a run cleanly, as Ctrl-C does: the terminal's, a scheduler's or
#: ``timeout``'s and a closed terminal's.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """A stop signal other than SIGINT, raised where Ctrl-C would raise ``KeyboardInterrupt``
    (so every clean-stop path handles both); ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: The signal that last stopped a run (SIGINT when it was a Ctrl-C), for the exit status.
last_signal: list[int] = []


def _raise(signum: int, frame: FrameType | None) -> None:
    last_signal[:] = [signum]
    raise KeyboardInterrupt if signum == signal.SIGINT else Stopped(signum)


def install_stop_handlers() -> dict[int, Any]:
    """Make SIGTERM and SIGHUP stop a run like Ctrl-C, and restore Ctrl-C where the process
    inherited it ignored (a background job of a non-interactive shell); main thread only.
    Returns the handlers it replaced (for :func:`restore_handlers`)."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in STOP_SIGNALS:
        try:
            previous[signum] = signal.signal(signum, _raise)
        except (ValueError, OSError):  # pragma: no cover - an embedded interpreter
            pass
    return previous


def restore_handlers(previous: dict[int, Any]) -> None:
    """Put back the handlers :func:`install_stop_handlers` replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)


#: How often (seconds) a guard asks the stop sources of :func:`remote_stop` (each ask may be a
#: round trip to a scheduler).
REMOTE_POLL_S = 0.5

_sources = threading.local()   # per thread: a Dask worker runs each task in a thread of its own


@contextlib.contextmanager
def remote_stop(source: Callable[[], bool]) -> Iterator[None]:
    """While active, every :class:`InterruptGuard` of this thread also stops when ``source()``
    says so — how a Ctrl-C on the machine that submitted a Dask run reaches the solvers running
    on the workers (a signal cannot: they run in worker threads)."""
    stack = getattr(_sources, "stack", None)
    if stack is None:
        stack = _sources.stack = []
    stack.append(source)
    try:
        yield
    finally:
        stack.remove(source)


class InterruptGuard:
    """While active (main thread only), the first stop signal (SIGINT, SIGTERM, SIGHUP) sets
    :attr:`requested` instead of raising; :meth:`check` raises ``KeyboardInterrupt`` where it
    is safe (inside the monitor).  A second one raises at once.  :meth:`check` also asks the
    thread's :func:`remote_stop` sources, at most every :data:`REMOTE_POLL_S` seconds."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}
        self._asked = -math.inf

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        last_signal[:] = [signum]
        if self.requested:  # a second signal: the user means it
            raise KeyboardInterrupt if signum == signal.SIGINT else Stopped(signum)
        self.requested = True

    def __enter__(self) -> "InterruptGuard":
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                try:
                    self._previous[signum] = signal.signal(signum, self._handler)
                except (ValueError, OSError):  # pragma: no cover - an embedded interpreter
                    pass
        return self

    def check(self) -> None:
        if not self.requested:
            self._ask_remote()
        if self.requested:
            raise KeyboardInterrupt

    def _ask_remote(self) -> None:
        sources = getattr(_sources, "stack", None)
        now = time.monotonic()
        if sources and now - self._asked >= REMOTE_POLL_S:
            self._asked = now
            try:
                self.requested = any(source() for source in sources)
            except Exception:  # noqa: BLE001 - a lost scheduler must not end the solve
                pass

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}


def stop_status() -> int:
    """The exit status of a run a signal stopped: ``128 + signal`` (130 for Ctrl-C, 143 for
    SIGTERM, 129 for SIGHUP)."""
    return 128 + (last_signal[0] if last_signal else int(signal.SIGINT))
