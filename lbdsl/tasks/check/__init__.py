"""The ``check`` task kind: the convexity certificate at the task's (λ, ρ), printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import RunContext
from ..result import TaskResult

__all__ = ["run", "certificate_weights", "CERTIFICATE_PRIORITY"]

#: A network's certificate takes its weights from its ``check`` task first.
CERTIFICATE_PRIORITY = 0


def certificate_weights(task: Any, net: Any) -> tuple[float, float | None, float]:
    """``(λ, ρ, μ)`` of the certificate: the task's own (no regulariser: μ = 0)."""
    return float(task.lam), task.rho, 0.0


def run(ctx: RunContext, task: Any, folder: Path | None) -> TaskResult:
    """Print the certificate; the result's report holds it (``check`` writes no folder)."""
    cert = ctx.certificate(task.network, task.lam, task.rho)
    ctx.console.print(cert.render())
    line = task.span.line if task.span is not None else None
    return TaskResult("check", task.network, line, "ok", report={"certificate": cert.to_json()})
