"""The task kinds: the one list of them.

A task kind is its keyword in the grammar (``grammar/lbn.lark``: the ``task`` rule and a
terminal), how a spec's block reads (a :class:`~.schema.Schema` and a finish function, in its
``read_<kind>.py`` beside its record), its runner (the package ``lbdsl.tasks.<kind>`` with
``run(ctx, task, folder)``, named here by module so that reading a spec does not import the
runtime) and one :class:`TaskKind` line below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...registry import Registry
from ...syntax import tree
from .read_check import CHECK, finish_check
from .read_invert import INVERT, finish_invert
from .read_train import TRAIN, finish_train
from .schema import Context, Read, Schema

__all__ = ["TaskKind", "TASK_KINDS"]


@dataclass(frozen=True)
class TaskKind:
    """A task kind (module docstring): ``writes_folder`` says whether its tasks get an output
    folder (``invert``, ``train``) or only print (``check``)."""

    name: str
    schema: Schema
    finish: Callable[[Read, tree.Task, Context], Any]
    runner: str
    writes_folder: bool = True


TASK_KINDS: Registry[TaskKind] = Registry("task kind", (
    TaskKind("invert", INVERT, finish_invert, "lbdsl.tasks.invert"),
    TaskKind("train", TRAIN, finish_train, "lbdsl.tasks.train"),
    TaskKind("check", CHECK, finish_check, "lbdsl.tasks.check", writes_folder=False),
))
