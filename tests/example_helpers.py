"""The scripts of examples/ loaded as modules, for their tests (they are not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str, register: bool = False) -> ModuleType:
    """``examples/NAME.py`` as a module (``register``: also as ``sys.modules[NAME]``, for a
    script whose objects must pickle)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module
