"""The only module that knows the order of the stages:

    parse → IR graph → lift → certify → (lower → solve)

Each stage is a function from one data structure to the next; the CLI and the Python API call
these and nothing deeper.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .certify.certificate import Certificate, certify
from .errors import SolveError, SpecError
from .ir.build import build_module
from .ir.nodes import ModuleIR, NetworkIR
from .ir.show import summary
from .ir.tasks import OVERRIDE_FILE, apply_overrides_to_module
from .ir.tasks.show import describe_task
from .lift.compact import LiftedProblem, lift
from .lift.show import block_tables
from .syntax import tree
from .syntax.parser import parse, parse_file

__all__ = ["Program", "load", "lifted", "check", "show", "solve", "DEMO"]

#: Name shown for the built-in demo spec.
DEMO = "<demo>"


@dataclass(frozen=True, eq=False)
class Program:
    """A loaded spec: its syntax tree and its IR (networks and typed tasks)."""

    module: tree.Module
    ir: ModuleIR

    @property
    def networks(self) -> dict[str, NetworkIR]:
        return self.ir.networks

    @property
    def tasks(self) -> tuple[Any, ...]:
        return self.ir.tasks

    def lift(self, network: str) -> LiftedProblem:
        """The compact form of one network (NumPy, float64)."""
        return lift(self.networks[network])

    def check(self, lam: float | None = None, rho: float | None = None) -> dict[str, Certificate]:
        """The certificate of every network (see :func:`check`)."""
        return check(self, lam, rho)


def demo_source() -> str:
    """The text of the built-in demo spec (shipped inside the package)."""
    return (resources.files("lbdsl") / "demo.lbn").read_text(encoding="utf-8")


def load(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Program:
    """Parse and build a spec file (``None``: the built-in demo), applying ``--set`` overrides."""
    module = parse(demo_source(), DEMO) if path is None else parse_file(path)
    if not overrides:
        return Program(module, build_module(module))
    try:
        module = apply_overrides_to_module(module, list(overrides))
        return Program(module, build_module(module))
    except SpecError as err:  # let diagnostics in `--set:N` quote the override they point at
        raise err.with_sources({OVERRIDE_FILE: "\n".join(overrides)}) from None


def lifted(program: Program) -> dict[str, LiftedProblem]:
    """Every network of ``program`` in compact form."""
    return {name: lift(net) for name, net in program.networks.items()}


def _task_weights(program: Program, network: str) -> tuple[float, float | None]:
    """λ and ρ for a network's certificate: its ``check`` task, else its ``invert`` task."""
    for kind in ("check", "invert"):
        for task in program.tasks:
            if getattr(task, "kind", None) == kind and task.network == network:
                given = getattr(task, "given", frozenset())
                rho = task.rho if (kind == "check" or "rho" in given) else None
                return float(task.lam), rho
    return 1.0, None


def check(program: Program, lam: float | None = None,
          rho: float | None = None) -> dict[str, Certificate]:
    """The certificate of each network at λ and ρ (arguments override the spec's tasks)."""
    out: dict[str, Certificate] = {}
    for name, net in program.networks.items():
        spec_lam, spec_rho = _task_weights(program, name)
        out[name] = certify(lift(net), spec_lam if lam is None else lam,
                            spec_rho if rho is None else rho)
    return out


def show(program: Program, lifted: bool = False) -> str:
    """The readable summary of every network (and its lifted blocks) and every task."""
    parts = [summary(net) for net in program.networks.values()]
    if lifted:
        parts.extend(block_tables(lift(net)) for net in program.networks.values())
    parts.extend(describe_task(task, program.module.source) for task in program.tasks)
    return "\n\n".join(parts)


def solve(program: Program, backend: str = "numpy", out: str | None = None) -> None:
    """Run every task. Solvers land with the inversion and training issues."""
    from .backend import namespace

    namespace(backend)  # fail early and clearly on an unusable backend
    for name, cert in check(program).items():
        print(cert.render())
    raise SolveError("`solve` is not implemented yet: the inversion and training solvers are "
                     "the next milestones; `lbdsl check` and `lbdsl show` work today")
