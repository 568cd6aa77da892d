"""Live progress from inside a Dask worker's solve: the lines a solve prints on a worker reach
the caller's stdout as they are printed, each prefixed with its task, and before that task's
``[k/n] ...: done`` line."""

from __future__ import annotations

import pytest

from lbdsl.cli import main
from lbdsl.distributed import _Forward, _Lines, _worker_console
from spec_helpers import TINY_NET

distributed = pytest.importorskip("dask.distributed")

SPEC = TINY_NET + """invert tiny {
    truth = image("shepp_logan", size = 8x8)
    data = forward(truth) + gaussian(sigma = 0.05, seed = 3)
    regulariser = 0.01 * tv
    solver = pdhg(max_iter = 300)
    figures = false
}
invert tiny {
    truth = image("camera", size = 8x8)
    data = forward(truth) + gaussian(sigma = 0.05, seed = 4)
    regulariser = 0.02 * tv + nonneg
    solver = pdhg(max_iter = 300)
    figures = false
}
"""
LABELS = ("invert tiny (line 9)", "invert tiny (line 16)")


def test_the_writer_sends_one_line_per_complete_line():
    sent: list[str] = []
    out = _Forward(sent.append)
    out.write("  pdhg: iteration  10")
    out.flush()
    assert sent == []                                   # a partial line waits for the rest
    out.write("/300  objective 1.5\n  pdhg: iteration  20/300\n\n  wrote o/inv")
    assert sent == ["  pdhg: iteration  10/300  objective 1.5", "  pdhg: iteration  20/300"]
    out.write("ert-tiny\n")
    assert sent[2:] == ["  wrote o/invert-tiny"]        # blank lines are not sent


def test_a_failing_send_does_not_end_the_solve():
    def lost(line: str) -> None:
        raise OSError("the scheduler is gone")

    assert _Forward(lost).write("a line\nand another\n") == len("a line\nand another\n")


def test_the_caller_prints_its_own_runs_lines_only_while_the_run_lasts():
    import io

    from rich.console import Console

    out = io.StringIO()
    lines = _Lines(None, "run-a", Console(file=out, markup=False, highlight=False))
    lines.active = True                           # as __enter__ leaves it (no client here)
    lines((0.0, ["run-a", "group 1 of 2", "pdhg: iteration 10/40  [x]"]))
    lines((0.0, ["run-b", "group 1 of 2", "another run's line"]))
    lines.active = False                          # as __exit__ leaves it
    lines((0.0, ["run-a", "group 2 of 2", "one in flight as the run ended"]))
    assert out.getvalue() == "  [group 1 of 2] pdhg: iteration 10/40  [x]\n"


def test_outside_a_worker_the_console_discards_its_lines():
    console = _worker_console("some-run", "invert tiny (line 9)")
    assert not console.is_terminal               # plain lines: a bar cannot be forwarded
    assert not isinstance(console.file, _Forward)
    console.print("  pdhg: iteration 10/300")


def test_the_lines_of_each_workers_solve_reach_the_caller_before_its_done(tmp_path, capsys):
    spec = tmp_path / "two.lbn"
    spec.write_text(SPEC)
    capsys.readouterr()
    assert main(["solve", str(spec), "--out", str(tmp_path / "out"), "--workers", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for label in LABELS:
        done = next(k for k, line in enumerate(lines)
                    if line.startswith("  [") and line.endswith(f"] {label}: done"))
        mine = [k for k, line in enumerate(lines) if line.startswith(f"  [{label}] ")]
        iterations = [k for k in mine if "pdhg: iteration" in lines[k]]
        assert len(iterations) >= 5, lines                 # about ten per solve, from the worker
        assert any(" wrote " in lines[k] for k in mine), lines      # up to the task's end
        assert max(mine) < done, lines                     # all of them before its done line
    forwarded = [line for line in lines if line.startswith(("  [invert", "  [group"))]
    assert not any("───" in line for line in forwarded)   # no task heading, one prefix each
    assert (tmp_path / "out" / "invert-tiny" / "result.npz").is_file()
