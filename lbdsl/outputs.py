"""Atomic file output: a result is either complete on disk or absent, never half-written."""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .bounded import special_kind
from .errors import SolveError

__all__ = ["write_bytes_atomic", "write_text_atomic", "write_json_atomic", "write_npz_atomic"]


def write_bytes_atomic(path: Path, data: bytes, *, streams: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``.

    The rename replaces ``path`` itself: a symbolic link there is replaced, never followed.  A
    ``path`` that is something other than a regular file or a link (a directory, a FIFO, a
    device, a socket) is refused in one line — except, with ``streams=True`` (a file the user
    named on the command line, such as ``show --dot``), a FIFO or a character device such as
    ``/dev/stdout``, links followed: it is written straight through, since a stream can be
    nothing but written to.
    """
    path = Path(path)
    try:
        if streams and _is_stream(path):
            with open(path, "wb") as handle:   # exists: nothing is created
                handle.write(data)
            return
        _check_replaceable(path)
    except BrokenPipeError:     # a stream's reader left: the caller's exit status says so
        raise
    except ValueError as exc:   # a NUL byte in the name
        raise SolveError(f"cannot write {path!r}: {exc}") from None
    except OSError as exc:
        raise SolveError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SolveError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        # mkstemp creates 0600; give the file the permissions any new file would get
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SolveError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _is_stream(path: Path) -> bool:
    """``path`` (links followed) is an existing FIFO or character device."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _check_replaceable(path: Path) -> None:
    """Refuse (``SolveError``) to rename a file over anything but a regular file or a link."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    kind = None if stat.S_ISLNK(mode) else special_kind(mode)
    if kind is not None:
        raise SolveError(f"cannot write {path}: it is {kind}, not a regular file; "
                         "lbdsl replaces only files")


def _umask() -> int:
    """The process umask (reading it means setting it; restore at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str, *, streams: bool = False) -> None:
    """Atomically write UTF-8 text (``streams``: see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"), streams=streams)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (NaN and ±inf are refused, not written)."""
    write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def write_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write a compressed ``.npz`` (plain numeric arrays only; no pickles)."""
    plain = {k: np.asarray(v) for k, v in arrays.items()}
    objects = [k for k, v in plain.items() if v.dtype.hasobject]
    if objects:  # numpy would pickle them, and lbdsl never reads pickles back
        raise SolveError(f"refusing to write object arrays to {path}: {', '.join(objects)}")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **plain)
    write_bytes_atomic(path, buffer.getvalue())
