"""Reading files without trusting the sizes they declare.

A ``.npy`` header, an ``.npz`` member, an IDX header, a gzip stream and a JSON document all say
how much they hold before they hold it; NumPy, ``gzip`` and ``json`` believe them and allocate
(or recurse) first.  Every reader of lbdsl checks what a file declares here, before anything
of that size is made, against

* the bytes the file actually holds (its size, or an ``.npz`` member's stored bytes), and
* one limit, :data:`MAX_PARAM_BYTES`: no array a file or a spec declares may need more than
  that many bytes as ``float64`` (what lbdsl makes of it), the same limit the network builder
  applies to a network's parameters and variables together.

A refusal is one :class:`BoundError` line saying what was declared and what is present or
allowed, about ``what`` the caller names (`` `bomb.npy` ``, or ``it`` inside the caller's own
``cannot read `bomb.npy`: …``).  ``BoundError`` is a ``ValueError``, so callers that already
turn a damaged file's ``ValueError`` into one line (``--resume``, ``--weights``) need nothing
new.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy_format

from .limits import MAX_JSON_DEPTH, MAX_PARAM_BYTES

__all__ = ["MAX_PARAM_BYTES", "MAX_JSON_DEPTH", "BoundError", "format_bytes", "excess",
           "special_kind", "check_regular",
           "check_declared", "npy_header", "check_npy", "npz_array", "read_npz", "gunzip",
           "json_loads"]

#: The most bytes DEFLATE can make of one compressed byte (RFC 1951: 258 per 2-bit code).
_DEFLATE_RATIO = 1032


class BoundError(ValueError):
    """A file declares more than it holds or than lbdsl allocates (one line, naming it)."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


def special_kind(mode: int) -> str | None:
    """What a file of ``mode`` (``st_mode``) is, in words, unless it is a regular file."""
    return next((kind for test, kind in _KINDS if test(mode)), None)


def check_regular(path: str | Path, *, follow: bool = True) -> None:
    """:class:`BoundError` unless ``path`` is a regular file (``follow=False``: and not a link):
    reading a FIFO waits for a writer that may never come, a device may never end, and a link
    in lbdsl's own output folder may lead anywhere."""
    mode = (os.stat if follow else os.lstat)(path).st_mode
    kind = special_kind(mode)
    if kind is not None:
        raise BoundError(f"it is {kind}, not a regular file")


def format_bytes(n: int) -> str:
    """``n`` bytes in words: ``64 bytes``, ``1.5 KiB``, … ``8.0 TiB``."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return "1 byte" if n == 1 else f"{n:,} bytes"


def excess(count: int, dtype: Any = np.float64, limit: int = MAX_PARAM_BYTES) -> str | None:
    """Why ``count`` entries of ``dtype`` are too many — ``"N float64 entries (8.0 TiB), more
    than the limit of 2.0 GiB"`` — or None when they fit.  Narrower types count as ``float64``
    (every reader converts to it)."""
    dtype = np.dtype(dtype)
    need = count * max(8, dtype.itemsize)
    if need <= limit:
        return None
    size = format_bytes(need) + ("" if dtype.itemsize >= 8 else " as float64")
    return f"{count:,} {dtype.name} entries ({size}), more than the limit of " \
           f"{format_bytes(limit)}"


def check_declared(what: str, shape: Iterable[int], dtype: Any, present: int,
                   limit: int = MAX_PARAM_BYTES) -> None:
    """:class:`BoundError` unless an array of ``shape`` and ``dtype`` fits in the ``present``
    bytes of data and in ``limit``; ``what`` is the message's subject.  Object arrays are
    left to NumPy, which refuses them (``allow_pickle=False``) with its own message."""
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        return
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise BoundError(f"{what} declares a negative size {shape}")
    count = math.prod(shape)   # Python ints: no int64 overflow
    need = count * dtype.itemsize
    if need > present:
        raise BoundError(f"{what} declares {count:,} {dtype.name} entries "
                         f"({format_bytes(need)}) but holds {format_bytes(max(present, 0))} "
                         "of data")
    too_many = excess(count, dtype, limit)
    if too_many is not None:
        raise BoundError(f"{what} declares {too_many}")


def npy_header(fh: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an ``.npy`` stream declares; ``fh`` is left after the header.
    ``ValueError`` for anything that is not an ``.npy`` header NumPy would read."""
    version = npy_format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):   # 3.0 differs only in the header's text encoding
        shape, _, dtype = npy_format.read_array_header_2_0(fh)
    else:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not one NumPy "
                         "writes")
    return tuple(shape), dtype


def check_npy(path: str | Path, what: str, limit: int = MAX_PARAM_BYTES) -> None:
    """Check the ``.npy`` file at ``path`` (:func:`check_declared`) before NumPy reads it."""
    with open(path, "rb") as fh:
        shape, dtype = npy_header(fh)
        present = os.fstat(fh.fileno()).st_size - fh.tell()
    check_declared(what, shape, dtype, present, limit)


def _member(npz: Any, key: str) -> str:
    """The zip member NumPy reads for ``key`` (``key.npy``, or ``key`` itself)."""
    names = npz.zip.namelist()
    return key if key in names or f"{key}.npy" not in names else f"{key}.npy"


def _archive_size(npz: Any) -> int | None:
    try:
        return os.fstat(npz.zip.fp.fileno()).st_size
    except (AttributeError, OSError, ValueError):  # an in-memory archive, or a closed one
        return None


def npz_array(npz: Any, key: str, what: str, limit: int = MAX_PARAM_BYTES) -> np.ndarray:
    """``npz[key]`` of an open ``numpy.lib.npyio.NpzFile``, once its header is checked against
    the member's data: the stored bytes of a stored member (within the archive), at most
    1032 × the compressed bytes of a deflated one (DEFLATE's ceiling), and the declared
    uncompressed size of any."""
    _npz_declared(npz, key, what, limit)
    return npz[key]


def _npz_declared(npz: Any, key: str, what: str, limit: int) -> int:
    """The bytes ``npz[key]`` needs as float64, once :func:`npz_array`'s checks pass."""
    info = npz.zip.getinfo(_member(npz, key))
    with npz.zip.open(info) as fh:
        shape, dtype = npy_header(fh)
        header = fh.tell()
    present = info.file_size
    packed = min(info.compress_size, _archive_size(npz) or info.compress_size)
    if info.compress_type == zipfile.ZIP_STORED:
        present = min(present, packed)
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        present = min(present, _DEFLATE_RATIO * packed)
    check_declared(what, shape, dtype, present - header, limit)
    return 8 * math.prod(int(d) for d in shape)


def read_npz(path: str | Path, limit: int = MAX_PARAM_BYTES) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive at ``path`` (never a pickle), each checked with
    :func:`npz_array` (a message names the member, `` `W` ``; the caller names the file).
    :class:`BoundError` for a file that is no zip archive, ``OSError`` / ``ValueError`` /
    ``zipfile.BadZipFile`` / … for a damaged one.  The arrays *together* stay within
    ``limit``: each is checked against what the ones before it left (many arrays each under
    the limit are still one bomb)."""
    check_regular(path)
    with open(path, "rb") as fh:
        if fh.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise BoundError("it is not an .npz archive (it does not start with the zip "
                             "signature)")
    arrays: dict[str, np.ndarray] = {}
    left = limit
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            need = _npz_declared(npz, key, f"`{key}`", limit)
            if need > left:
                raise BoundError(f"its arrays together declare more than the limit of "
                                 f"{format_bytes(limit)} as float64 (at `{key}`)")
            arrays[key] = np.array(npz[key])
            left -= need
    return arrays


def gunzip(data: bytes, what: str, cap: int, *, prefix: bool = False) -> bytes:
    """The gzip stream ``data`` inflated a piece at a time (every member, as
    ``gzip.decompress``), never to more than ``cap`` bytes: :class:`BoundError` once it would
    inflate further — or, with ``prefix``, its first ``cap`` bytes.  ``zlib.error`` /
    ``EOFError`` for a damaged or truncated stream."""
    out = bytearray()
    rest = data
    while rest:
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = rest
        while not inflate.eof:
            piece = inflate.decompress(chunk, cap + 1 - len(out))
            out += piece
            if len(out) > cap:
                if prefix:
                    return bytes(out[:cap])
                raise BoundError(f"{what} inflates to more than {format_bytes(cap)}")
            chunk = inflate.unconsumed_tail
            if not chunk and not piece and not inflate.eof:   # no input left, nothing came
                raise EOFError("Compressed file ended before the end-of-stream marker was "
                               "reached")
        rest = inflate.unused_data.lstrip(b"\x00")   # gzip allows zero padding after a member
    return bytes(out)


_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_loads(text: str, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(text)`` once its nesting is known to be at most ``max_depth`` (the parser
    recurses once per level): :class:`BoundError` for a deeper document."""
    depth = 0
    for token in _JSON_TOKENS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                raise BoundError(f"{what} is nested more than {max_depth} levels deep")
        elif bracket in "]}":
            depth -= 1
    return json.loads(text)
