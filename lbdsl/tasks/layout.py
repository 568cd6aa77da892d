"""Where a task's results go: ``DIR/<kind>-<network>[-2, -3, …]/``.

``DIR`` is ``--out`` if given (relative to the working directory), else the task's ``save``
(relative to the spec's folder), else ``./lbdsl-out/<spec file stem>/`` (``demo`` for the
built-in demo).  Both ``--out`` and ``save`` may point anywhere: the user wrote them.  What
lbdsl adds below ``DIR`` is its own: the folder name is sanitised to ``[A-Za-z0-9_-]`` and must
resolve to a direct child of ``DIR`` (a symlink planted there that leads elsewhere is refused),
so nothing is ever written outside ``DIR``.  A second task of the same kind on the same network
— the same folder in this run — gets ``-2``, then ``-3``; a second run of the same spec reuses
the same folders, replacing lbdsl's own files there.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import SolveError

__all__ = ["DEMO_STEM", "base_dir", "sanitise", "Allocator"]

DEMO_STEM = "demo"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def sanitise(name: str) -> str:
    """A folder name made only of letters, digits, ``_`` and ``-`` (never empty, never ``..``)."""
    clean = _UNSAFE.sub("_", name).strip("_") or "task"
    return clean


def base_dir(out: str | Path | None, save: str | None, spec_file: str | None) -> Path:
    """``DIR`` for one task (see the module docstring)."""
    if out is not None:
        return Path(out)
    demo = not spec_file or spec_file.startswith("<")
    if save is not None:
        root = Path.cwd() if demo else Path(spec_file).resolve().parent
        return root / save
    stem = DEMO_STEM if demo else Path(spec_file).stem
    return Path("lbdsl-out") / sanitise(stem)


class Allocator:
    """Hands out one folder per task, numbering repeats within a run."""

    def __init__(self) -> None:
        self._taken: set[Path] = set()

    def folder(self, base: Path, kind: str, network: str) -> Path:
        stem = f"{sanitise(kind)}-{sanitise(network)}"
        n = 1
        while True:
            name = stem if n == 1 else f"{stem}-{n}"
            path = base / name
            key = path.resolve() if path.exists() or path.is_symlink() else \
                base.resolve() / name
            if key not in self._taken:
                break
            n += 1
        self._taken.add(key)
        return path


def check_inside(folder: Path) -> None:
    """Refuse a task folder that does not resolve to a direct child of its ``DIR``."""
    parent = folder.parent.resolve()
    target = folder.resolve()
    if target.parent != parent:
        raise SolveError(f"refusing to write to {folder}: it resolves to {target}, outside "
                         f"{parent}")
