"""The loop keeps the best iterate where the objective rose again (#28): a run of an
iteration that declares ``keeps_best`` and ends without converging returns the iterate of its
lowest checked objective, says so, and keeps the last state for a longer run."""

from __future__ import annotations

import pytest

from lbdsl.solvers.base import Stopping
from lbdsl.solvers.driver import run


class Path:
    """x_k walks along given objective values; ``keeps_best`` as a solver declares it."""

    optimality = "gradient"

    def __init__(self, values: list[float], keeps_best: bool = True) -> None:
        self.values, self.k, self.keeps_best = values, 0, keeps_best

    def step(self) -> None:
        self.k += 1

    def finite(self) -> bool:
        return True

    def check(self, k: int) -> dict[str, float]:
        return {"objective": self.values[self.k], "change": 1.0, "gradient": 1.0}

    def state(self) -> int:
        return self.k

    def restore(self, state: int) -> None:
        self.k = state


def test_a_rising_objective_brings_back_the_best_iterate():
    it = Path([9.0, 5.0, 3.0, 2.0, 2.5, 4.0, 6.0])
    out = run(it, Stopping(max_iter=6, tol=1e-9, check_every=1))
    assert out.reason == "max_iter" and out.iterations == 6
    assert it.k == 3 and out.kept == 3 and out.metrics["objective"] == 2.0
    assert "the objective rose after iteration 3 (2 → 6)" in out.message
    assert out.state is not None and out.state["iteration"] == 6   # a longer run goes on


@pytest.mark.parametrize("values, keeps", [
    ([9.0, 5.0, 3.0, 2.0, 1.0, 0.5, 0.4], True),           # falling: the last is the best
    ([9.0, 5.0, 3.0, 2.0, 2.0 + 1e-9, 2.0, 2.0 + 1e-9], True),  # a rise within rounding
    ([9.0, 5.0, 3.0, 2.0, 2.5, 4.0, 6.0], False),          # a primal-dual method: not asked
])
def test_otherwise_the_last_iterate_stays(values, keeps):
    it = Path(values, keeps)
    out = run(it, Stopping(max_iter=6, tol=1e-9, check_every=1))
    assert it.k == 6 and out.kept is None and "rose" not in out.message


def test_a_resumed_run_keeps_what_one_run_would_have():
    values = [9.0, 5.0, 3.0, 2.0, 2.5, 4.0, 6.0, 7.0]
    whole = Path(values)
    one = run(whole, Stopping(max_iter=7, tol=1e-9, check_every=1))
    first = Path(values)
    part = run(first, Stopping(max_iter=5, tol=1e-9, check_every=1))
    second = Path(values)
    rest = run(second, Stopping(max_iter=7, tol=1e-9, check_every=1), resume=part.state)
    assert second.k == whole.k == 3 and rest.kept == one.kept == 3
    assert rest.message == one.message
