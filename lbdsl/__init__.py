"""lbdsl — a declarative compiler for lifted Bregman networks.

A network whose activations are proximal maps, ``x_l = prox_{Ψ_l}(W_l x_{l-1} + b_l)``, is
written in a ``.lbn`` spec, lifted into the compact form ``K u``, ``M u = V prox_Ψ(W u + b)``,
certified (``Q ⪰ 0``) and lowered to array solvers for inversion and training.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
