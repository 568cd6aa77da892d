"""Array solvers for inversion, written once against the array API.

Every solver is a settings dataclass, an :class:`~.driver.Iteration` (its step) and
``solve(problem, settings, *, x0, monitor, resume) -> SolveResult``; :mod:`.driver` is the one
loop they (and training's epochs) run in — stopping, divergence guard, monitor, Ctrl-C, resume —
:mod:`.base` holds the stopping rule and the result, :mod:`.problems` the lowered problem they
accept; each solver declares what it accepts (:mod:`.info`) and :mod:`.registry` lists them.
"""
