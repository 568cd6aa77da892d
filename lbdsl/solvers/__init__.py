"""Array solvers for inversion (and, later, training), written once against the array API.

Every solver is a settings dataclass, a small state, and ``solve(problem, settings, *, x0,
monitor) -> SolveResult``; :mod:`.base` holds what they share (stopping rules, the divergence
guard, the monitor hook) and :mod:`.problems` the lowered problems they accept.
"""
