"""The IDX format of (Fashion-)MNIST (LeCun et al.): ``train-images-idx3-ubyte[.gz]`` and the
like, read without any package.

    magic: 0x00 0x00 TYPE NDIM, then NDIM big-endian uint32 sizes, then the entries (row-major,
    big-endian), TYPE 0x08 uint8 · 0x09 int8 · 0x0B int16 · 0x0C int32 · 0x0D float32 ·
    0x0E float64.

A gzip file (``1f 8b``) is inflated a piece at a time, never beyond what its IDX header
declares (:func:`lbdsl.bounded.gunzip`), and a header that declares more entries than lbdsl
allocates (:data:`~lbdsl.bounded.MAX_PARAM_BYTES` as float64) is refused before any of them is
read.  Anything that does not follow the format — a wrong magic number, sizes that disagree
with the file's length, a truncated gzip — is one :class:`~lbdsl.errors.DataError` line naming
the file.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from ..bounded import BoundError, check_regular, excess, format_bytes, gunzip
from ..limits import MAX_PARAM_BYTES
from ..errors import DataError

__all__ = ["read_idx", "write_idx", "IDX_TYPES"]

IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
#: The longest IDX header: the magic number and 255 sizes.
_MAX_HEADER = 4 + 4 * 255


def read_idx(path: str | Path) -> np.ndarray:
    """The array in the IDX file at ``path`` (native byte order)."""
    path = Path(path)
    try:
        check_regular(path)
        size = path.stat().st_size
        if size > MAX_PARAM_BYTES:   # as bytes already; as float64 eight times more
            raise BoundError(f"it holds {format_bytes(size)}, more than the limit of "
                             f"{format_bytes(MAX_PARAM_BYTES)}")
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except BoundError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    packed = data[:2] == b"\x1f\x8b"
    head = _inflate(path, data, _MAX_HEADER, prefix=True) if packed else data[:_MAX_HEADER]
    if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] not in IDX_TYPES or head[3] < 1:
        raise DataError(f"{path}: not an IDX file (its first bytes are {head[:4].hex(' ')}; "
                        "IDX starts 00 00 TYPE NDIM)")
    dtype, ndim = IDX_TYPES[head[2]], head[3]
    header = 4 + 4 * ndim
    if len(head) < header:
        raise DataError(f"{path}: truncated IDX header ({len(head)} bytes for {ndim} sizes)")
    shape = tuple(int(d) for d in np.frombuffer(head, ">u4", ndim, 4))
    count = math.prod(shape)
    says = f"the IDX header says {'x'.join(map(str, shape))} entries of {dtype.itemsize} byte(s)"
    too_many = excess(count, dtype)
    if too_many is not None:
        raise DataError(f"{path}: the IDX header declares {too_many}")
    if packed:
        try:
            data = _inflate(path, data, header + count * dtype.itemsize)
        except BoundError:
            raise DataError(f"{path}: {says}, but the gzip data inflate to more than "
                            f"{count * dtype.itemsize:,} bytes of data") from None
    if len(data) != header + count * dtype.itemsize:
        raise DataError(f"{path}: {says}, but the file holds {len(data) - header} bytes of data")
    return np.frombuffer(data, dtype, count, header).reshape(shape).astype(dtype.newbyteorder("="))


def _inflate(path: Path, data: bytes, cap: int, prefix: bool = False) -> bytes:
    """The gzip ``data`` inflated to at most ``cap`` bytes (:func:`~lbdsl.bounded.gunzip`)."""
    try:
        return gunzip(data, str(path), cap, prefix=prefix)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc})") from None


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as IDX (gzipped when ``compress``, default: the name ends ``.gz``)."""
    array = np.asarray(array)
    code = next((c for c, t in IDX_TYPES.items() if t.kind == array.dtype.kind
                 and t.itemsize == array.dtype.itemsize), None)
    if code is None:
        raise ValueError(f"IDX has no type for {array.dtype}")
    body = (bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
            + array.astype(IDX_TYPES[code]).tobytes())
    path = Path(path)
    if compress if compress is not None else path.suffix == ".gz":
        body = gzip.compress(body)
    path.write_bytes(body)
