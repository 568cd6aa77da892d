"""Atomic file output: a result is either complete on disk or absent, never half-written."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SolveError

__all__ = ["write_bytes_atomic", "write_text_atomic", "write_json_atomic", "write_npz_atomic"]


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
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


def _umask() -> int:
    """The process umask (reading it means setting it; restore at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Atomically write UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


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
