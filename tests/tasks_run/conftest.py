"""Fixtures for the task runner: stand-in solvers (so these tests do not depend on the real
solvers' speed or progress) and tiny specs written into a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from run_standin import StandIn

from lbdsl.solvers.registry import SOLVERS


@pytest.fixture
def standins(monkeypatch: pytest.MonkeyPatch) -> dict[str, StandIn]:
    """Every solver replaced by a recording stand-in."""
    fakes = {name: StandIn(name) for name in ("pdhg", "lifted", "coordinate", "gradient", "lbfgs")}
    for name, fake in fakes.items():
        monkeypatch.setitem(SOLVERS, name, fake.info(SOLVERS[name]))
    return fakes


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """``write_spec(text, name="spec.lbn", folder="specs")`` → the path of a new spec file."""
    def write(text: str, name: str = "spec.lbn", folder: str = "specs") -> Path:
        path = tmp_path / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path
    return write
