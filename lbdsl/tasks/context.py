"""What every task runner is handed: one :class:`RunContext` instead of ten parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import spec_dir

__all__ = ["RunContext", "spec_dir"]


@dataclass
class RunContext:
    """One ``lbdsl solve`` run: the spec, the backend, the options, where output goes.

    ``networks`` are the spec's networks by name; ``file`` and ``source`` the spec's file name
    and text (for reports and errors); ``xp`` the array namespace of ``backend``; ``overrides``
    the ``--set`` strings; ``console`` / ``errors`` where progress and one-line failures go;
    ``resume`` whether to go on from each task's checkpoint; ``certificates`` the certificates
    computed so far, by ``(network, λ, ρ)``; ``weights`` ``(network) → (λ, ρ)`` the certificate
    weights of a network (its ``check`` task, else its ``invert`` task).
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
    weights: Any = None
    chunks: Any = None
    sweep: Any = None
    shards: Any = None      # a train task's data-parallel pool: shards(K)(trainer) → a pool
    certificates: dict[tuple[str, float, float | None, float], Any] = field(default_factory=dict)

    @property
    def spec_dir(self) -> Path:
        return spec_dir(self.file)

    def certificate(self, network: str, lam: float, rho: float | None,
                    modulus: float = 0.0) -> Any:
        """The certificate of ``network`` at (λ, ρ) with the input regulariser's strong
        convexity ``modulus``, computed once per run."""
        from ..certify.certificate import certify_network

        key = (network, lam, rho, modulus)
        if key not in self.certificates:
            self.certificates[key] = certify_network(self.networks[network], lam, rho, modulus)
        return self.certificates[key]
