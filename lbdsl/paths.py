"""Where a spec's relative paths start.

A ``load("x.npy")`` in a spec is relative to the spec file's folder; in a spec given as text
(``<string>``, the built-in ``<demo>``) to the working directory.  A spec file named by a
relative path is itself relative to the working directory — of the process that read it.

A Dask worker runs tasks of a spec that another process read, from another working
directory, in a process it shares with other runs: :func:`working_directory` makes the caller's
directory the one relative names start from, in the worker's thread (a context variable, not
``chdir``), so the worker resolves every name as the caller did and the names themselves —
in reports and messages — stay as the user wrote them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

__all__ = ["cwd", "working_directory", "spec_file", "spec_dir", "tidy"]

_CWD: ContextVar[Path | None] = ContextVar("lbdsl_working_directory", default=None)


def cwd() -> Path:
    """The directory relative names start from: the one :func:`working_directory` set in this
    context, else the process's."""
    return _CWD.get() or Path.cwd()


@contextmanager
def working_directory(path: str | Path) -> Iterator[None]:
    """Within the block (this thread, this context), relative names start from ``path``."""
    token = _CWD.set(Path(path))
    try:
        yield
    finally:
        _CWD.reset(token)


def spec_file(file: str) -> Path | None:
    """The spec's file as a path from :func:`cwd` (None: a spec given as text)."""
    if not file or file.startswith("<"):
        return None
    return cwd() / file


def spec_dir(file: str) -> Path:
    """The folder every path in the spec ``file`` is relative to: its file's (symbolic links
    resolved), or :func:`cwd` for a spec given as text."""
    path = spec_file(file)
    return cwd() if path is None else path.resolve().parent


def tidy(path: str | Path) -> Path:
    """``path`` without ``..`` (``specs/../lbdsl-out/x`` → ``lbdsl-out/x``), for the folders
    lbdsl writes and prints: a path with ``..`` becomes the place it leads to (symbolic links
    resolved, as the system would follow them — never ``a/link/../b`` → ``a/b`` by text
    alone), relative to :func:`cwd` when it lies inside it, else absolute.  A path without
    ``..`` is returned as it is (``Path`` already drops ``.`` and repeated slashes)."""
    path = Path(path)
    if ".." not in path.parts:
        return path
    here = cwd().resolve()
    target = (cwd() / path).resolve()
    return target.relative_to(here) if target.is_relative_to(here) else target
