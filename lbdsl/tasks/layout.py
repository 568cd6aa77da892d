"""Where a task's results go: ``DIR/<kind>-<network>[-2, -3, …]/``, inside the output root.

``DIR`` is ``--out`` if given (relative to the working directory), else the task's ``save``
(relative to the spec's folder), else ``./lbdsl-out/<spec file stem>/`` (``demo`` for the
built-in demo).  The *output root* is ``--out`` when given, else the working directory: a spec
— perhaps someone else's — must not write where it likes, so a ``save`` that resolves outside
the root (an absolute path, ``..`` that climbs out, a symlink on the way that leads out) is
refused in one line at the setting, unless the user passes ``--allow-outside``
(``allow_outside=True``).  What lbdsl adds below ``DIR`` is its own: the folder name is
sanitised to ``[A-Za-z0-9_-]`` and must resolve to a direct child of ``DIR`` (a symlink planted
there that leads elsewhere is refused).  A second task of the same kind on the same network —
the same folder in this run — gets ``-2``, then ``-3``; a second run of the same spec reuses the
same folders, replacing lbdsl's own files there.

Two runs at once into the same folder: each task holds an exclusive lock on
``FOLDER/.lbdsl.lock`` while it writes there (``fcntl.flock``, released when the process ends,
however it ends); a task that finds the lock taken fails in one line, naming the folder, and the
run's other tasks go on.  Every file is written atomically, so a reader sees the previous run's
files or the new ones, never a mix within a file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import SolveError, SpecError
from ..paths import spec_dir, tidy

__all__ = ["DEMO_STEM", "base_dir", "sanitise", "Allocator", "check_inside", "locked",
           "LOCK_FILE"]

LOCK_FILE = ".lbdsl.lock"

DEMO_STEM = "demo"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


#: the longest name :func:`sanitise` returns: a folder name of a task (``kind-NAME-2``) stays
#: far inside every file system's limit (255 bytes), whatever the network is called
NAME_LIMIT = 64


def sanitise(name: str) -> str:
    """A folder name made only of letters, digits, ``_`` and ``-`` (never empty, never ``..``),
    at most :data:`NAME_LIMIT` characters: a longer one is cut and ends in 8 hex digits of the
    whole name's SHA-256, so that two long names stay two folders."""
    clean = _UNSAFE.sub("_", name).strip("_") or "task"
    if len(clean) <= NAME_LIMIT:
        return clean
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean[:NAME_LIMIT - 9]}-{digest}"


def base_dir(out: str | Path | None, save: str | None, spec_file: str | None,
             allow_outside: bool = False, save_span: Any = None) -> Path:
    """``DIR`` for one task (see the module docstring); a :class:`SpecError` at ``save_span``
    when ``save`` leaves the output root."""
    if out is not None:
        return tidy(out)
    demo = not spec_file or spec_file.startswith("<")
    if save is not None:
        target = spec_dir(spec_file or "") / save
        root = Path.cwd().resolve()
        resolved = target.resolve()
        if not allow_outside and not resolved.is_relative_to(root):
            raise SpecError.at(save_span, f"`save` resolves to {resolved}, outside the output "
                               f"root {root} (the working directory)",
                               "save under the working directory, choose the folder with --out, "
                               "or pass --allow-outside to let this spec write there")
        return tidy(target)         # printed and reported: not `specs/../lbdsl-out/…`
    stem = DEMO_STEM if demo else Path(spec_file).stem
    target = Path("lbdsl-out") / sanitise(stem)
    # the default folder is inside the root unless a link on its way leads out (a cloned
    # repository can hold `lbdsl-out` as a link): refused as a `save` that leaves it is
    root, resolved = Path.cwd().resolve(), target.resolve()
    if not allow_outside and not resolved.is_relative_to(root):
        raise SpecError.at(None, f"{target} resolves to {resolved}, outside the output root "
                           f"{root} (the working directory): a symbolic link on its way "
                           "leads out", "remove the link, choose the folder with --out, or "
                           "pass --allow-outside to write there")
    return target


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


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock while the block runs (see the module docstring); ``SolveError``
    (one line) when another run holds it."""
    import fcntl
    import os

    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SolveError(f"cannot create {folder}: {exc.strerror or exc}") from None
    check_inside(folder)        # before anything is created in it: it may link elsewhere
    lock = folder / LOCK_FILE
    try:
        # never through a link planted there: O_CREAT would create the file it names,
        # anywhere (O_NOFOLLOW: ELOOP instead)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        if lock.is_symlink():
            raise SolveError(f"refusing to use {lock}: it is a symbolic link (to "
                             f"{os.readlink(lock)}), and lbdsl never follows a link in its "
                             "output folder; remove it") from None
        raise SolveError(f"cannot create {lock}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SolveError(f"another lbdsl run is writing to {folder}; wait for it to end, "
                             "or choose another folder with --out") from None
        yield
    finally:
        if created and [p.name for p in folder.iterdir()] == [LOCK_FILE]:
            (folder / LOCK_FILE).unlink()   # the task wrote nothing: leave no folder behind
            folder.rmdir()
        os.close(fd)   # closing releases the lock
