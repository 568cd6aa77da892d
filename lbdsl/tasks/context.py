"""What every task runner is handed: one :class:`RunContext` instead of ten parameters."""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import cwd, spec_dir
from .executor import Serial, SpecRef

__all__ = ["RunContext", "certificate_weights", "spec_dir"]


@dataclass
class RunContext:
    """One ``lbdsl solve`` run: the spec, the backend, the options, where output goes.

    ``networks`` and ``tasks`` are the spec's; ``file`` and ``source`` the spec's file name and
    text (for reports and errors); ``xp`` the array namespace of ``backend``; ``overrides``
    the ``--set`` strings; ``console`` / ``errors`` where progress and one-line failures go;
    ``resume`` whether to go on from each task's checkpoint; ``executor`` where the tasks and
    their parts run (:mod:`.executor`); ``run`` names the run; ``certificates`` the
    certificates computed so far, by ``(network, λ, ρ, μ)``; ``given`` the arrays passed in
    Python (``spec.solve(data = f, truth = u)``) for the tasks' ``data = given`` /
    ``truth = given``.
    """

    networks: dict[str, Any]
    file: str
    source: str
    xp: Any
    backend: str
    overrides: tuple[str, ...]
    console: Any
    errors: Any
    resume: bool = False
    tasks: tuple[Any, ...] = ()
    executor: Any = field(default_factory=Serial)
    run: str = field(default_factory=lambda: uuid.uuid4().hex)
    certificates: dict[tuple[str, float, float | None, float], Any] = field(default_factory=dict)
    given: dict[str, Any] = field(default_factory=dict)   # arrays passed in Python: `given`
    threads: int | None = None     # BLAS threads of every task (:mod:`lbdsl.threads`)

    @property
    def spec_dir(self) -> Path:
        return spec_dir(self.file)

    def spec_ref(self, task: Any = None) -> SpecRef:
        """This run's spec as a worker rebuilds it, for ``task`` (its index in the spec)."""
        index = next((i for i, t in enumerate(self.tasks) if t is task), -1)
        return SpecRef(self.file, self.source, str(cwd().absolute()), tuple(self.overrides),
                       self.backend, self.run, index, self.threads)

    def certificate(self, network: str, lam: float, rho: float | None,
                    modulus: float = 0.0) -> Any:
        """The certificate of ``network`` at (λ, ρ) with the input regulariser's strong
        convexity ``modulus``, computed once per run."""
        from ..certify.certificate import certify_network

        key = (network, lam, rho, modulus)
        if key not in self.certificates:
            start = time.perf_counter()
            cert = certify_network(self.networks[network], lam, rho, modulus)
            self.certificates[key] = dataclasses.replace(
                cert, time_s=time.perf_counter() - start)   # the summary counts it once
        return self.certificates[key]

    def certificate_weights(self, network: str) -> tuple[float, float | None, float]:
        """``(λ, ρ, μ)`` for ``network``'s certificate (:func:`certificate_weights`)."""
        return certificate_weights(self.tasks, network, self.networks[network])


def certificate_weights(tasks: tuple[Any, ...], network: str,
                        net: Any) -> tuple[float, float | None, float]:
    """``(λ, ρ, μ)`` for the certificate of ``network`` (its IR ``net``): from its first task
    of the kind that declares the most urgent ``CERTIFICATE_PRIORITY`` (its ``check`` task,
    else its ``invert`` task), else ``(1, None, 0)``."""
    from . import runner

    best: tuple[int, tuple[float, float | None, float]] | None = None
    for task in tasks:
        kind = runner(task.kind)
        rank = getattr(kind, "CERTIFICATE_PRIORITY", None)
        if task.network != network or rank is None or (best is not None and best[0] <= rank):
            continue
        best = (rank, kind.certificate_weights(task, net))
    return best[1] if best is not None else (1.0, None, 0.0)
