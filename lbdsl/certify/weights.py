"""The weights λ and ρ of the compact form that the certificate and the solvers accept."""

__all__ = ["WEIGHT_RANGE"]

#: The range of λ and ρ: beyond it ``1/ρ`` or ``λ·‖K‖²`` leave what float64 resolves against
#: the O(1) terms.
WEIGHT_RANGE = (1e-100, 1e100)
