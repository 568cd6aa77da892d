"""Task semantics: what the ``invert``, ``train`` and ``check`` blocks of a spec mean.

``build_task(task_tree, variables)`` turns one syntax-tree task into a typed, frozen task
(:class:`InvertTask`, :class:`TrainTask`, :class:`CheckTask`) with defaults filled in and the
span of every setting kept; ``build_tasks(module)`` does a whole file;
``apply_overrides(task_tree, ["alpha=0.02"])`` applies ``lbdsl solve --set`` to one task,
``apply_overrides_to_module(module, overrides)`` to every task of a file that has the key.
The keys, values and defaults are documented for users in ``docs/language.md``.
"""

from .build import SCHEMAS, build_task, build_tasks, check_task_networks, task_network_problems
from .read_invert import IMAGES, solver_options
from .records import (
    DEFAULT_MAX_ITER, DEFAULT_RHO, DEFAULT_TOL, SGD, Adam, Alpha, AprioriAlpha, CheckTask,
    DigitsData, DiscrepancyAlpha, FixedAlpha, ForwardData, GaussianNoise, ImageTruth,
    ImplicitSGD, InvertData, InvertTask, LinspaceTruth, LoadData, LoadPairs, LoadTruth,
    Optimizer, PenaltyTerms, PenaltyTerm, RegulariserTerms, RegTerm, Solver, SweepAlpha, Task,
    TrainData, TrainTask, Truth,
)
from .overrides import OVERRIDE_FILE, apply_overrides, apply_overrides_to_module, parse_override
from .schema import ALIASES, canonical_key
from ...training.settings import OPTIMIZERS

__all__ = [
    "build_task", "build_tasks", "check_task_networks", "task_network_problems",
    "apply_overrides", "apply_overrides_to_module", "parse_override", "OVERRIDE_FILE",
    "SCHEMAS", "ALIASES", "canonical_key",
    "IMAGES", "solver_options", "OPTIMIZERS",
    "ImageTruth", "LoadTruth", "LinspaceTruth", "Truth", "GaussianNoise", "ForwardData",
    "LoadData", "InvertData", "RegTerm", "RegulariserTerms", "FixedAlpha", "AprioriAlpha",
    "DiscrepancyAlpha", "SweepAlpha", "Alpha", "Solver", "InvertTask", "DigitsData",
    "LoadPairs", "TrainData",
    "PenaltyTerm", "PenaltyTerms", "ImplicitSGD", "SGD", "Adam", "Optimizer", "TrainTask",
    "CheckTask", "Task", "DEFAULT_RHO", "DEFAULT_MAX_ITER", "DEFAULT_TOL",
]
