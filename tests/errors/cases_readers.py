"""Catalogue rows for issue #27 (third round): hostile files that declare more than they hold
or than lbdsl allocates, each put through the real command line.

Every row that would allocate a declared size if a reader believed it runs in a fresh process
under :data:`cases.SUBPROCESS_MEMORY` (``subprocess=True``), so that a regression is a
``MemoryError`` traceback (the row fails), never the test machine's memory.  The files are
built as an attacker would build them: a ``.npy`` header written by NumPy's own
``write_array_header_1_0`` in front of 64 bytes, a zip member of such a file, a gzip stream of
repeated DEFLATE blocks (3 MB inflating to 3 GB: its trailer is never reached), a sparse file,
a checkpoint with one such member or a ``meta`` nested 100,000 levels deep, ONNX tensors whose
``dims`` disagree with their data.  ``READER_CASES`` is appended to ``cases.CASES``.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from cases import (DATA, LONG, NET, RESUME, SIZE, TRAIN_SPEC, Case, interrupted_invert, invert,
                   pairs, resume_setup, solve)

__all__ = ["READER_CASES"]

#: what the bombs declare: 2**40 float64 entries, 8 TiB
TB_ENTRIES = 2 ** 40
TB_MESSAGE = "declares 1,099,511,627,776 float64 entries (8.0 TiB) but holds 64 bytes of data"
NPY_BOMB = f"cannot read `bomb.npy`: it {TB_MESSAGE}"


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """An ``.npy`` header (format 1.0) declaring ``shape`` of ``descr``, written by NumPy."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def bomb_npy_bytes(shape: tuple[int, ...] = (TB_ENTRIES,)) -> bytes:
    """A ~200-byte ``.npy`` whose header declares ``shape`` (8 TiB) over 64 bytes of data."""
    return npy_header(shape) + bytes(64)


def bomb_npy(path: Path) -> None:
    path.write_bytes(bomb_npy_bytes())


def bomb_npz(*keys: str) -> Callable[[Path], None]:
    """An ``.npz`` (stored members, as ``numpy.savez``) whose members ``keys`` are bombs."""
    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as z:
            for key in keys:
                z.writestr(f"{key}.npy", bomb_npy_bytes())
    return write


def deflate_bomb_npz(key: str, entries: int = 3 * 10 ** 8) -> Callable[[Path], None]:
    """An ``.npz`` of ~300 KB whose deflated member ``key`` really inflates to ``entries``
    uint8 (300 MB, 2.2 GiB as float64, over the limit); CRC and sizes are right."""
    def write(path: Path) -> None:
        zeros = bytes(1 << 20)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, \
                z.open(f"{key}.npy", "w", force_zip64=True) as member:
            member.write(npy_header((entries,), "|u1"))
            for start in range(0, entries, len(zeros)):
                member.write(zeros[:min(len(zeros), entries - start)])
    return write


def sparse_npy(entries: int = 3 * 10 ** 8) -> Callable[[Path], None]:
    """A sparse ``.npy`` that truly holds ``entries`` float64 (2.2 GiB, no disk used): right
    about its size, over the limit."""
    def write(path: Path) -> None:
        header = npy_header((entries,))
        with open(path, "wb") as fh:
            fh.write(header)
            fh.truncate(len(header) + 8 * entries)
    return write


def idx_gz_bomb(declared: int, gigabytes: int = 3) -> Callable[[Path], None]:
    """A 3 MB gzip of an IDX file of uint8 (``declared`` entries in its header) that inflates
    to ``gigabytes`` GB: one DEFLATE block of 1 MiB zeros repeated (full flushes make every
    block the same bytes); the gzip trailer is a placeholder a bounded reader never reaches."""
    def write(path: Path) -> None:
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = bytes(1 << 20)
        first = packer.compress(b"\x00\x00\x08\x01" + struct.pack(">I", declared) + zeros)
        first += packer.flush(zlib.Z_FULL_FLUSH)
        block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
        with open(path, "wb") as fh:
            fh.write(first)
            for _ in range(gigabytes * 1000):
                fh.write(block)
            fh.write(packer.flush())
    return write


def nested_meta(depth: int = 100_000) -> bytes:
    """A checkpoint whose ``meta`` JSON is ``depth`` lists deep."""
    buf = io.BytesIO()
    doc = ("[" * depth + "]" * depth).encode()
    np.savez(buf, order=np.arange(8), meta=np.frombuffer(doc, dtype=np.uint8))
    return buf.getvalue()


def checkpoint_bomb(key: str = "param/W") -> bytes:
    """A checkpoint whose array ``key`` declares 8 TiB over 64 bytes (``meta`` is sound)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("order.npy", _npy(np.arange(8)))
        z.writestr(f"{key}.npy", bomb_npy_bytes())
        z.writestr("meta.npy", _npy(np.frombuffer(b'{"format": 3}', dtype=np.uint8)))
    return buf.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


# -- ONNX -------------------------------------------------------------------------------------

def onnx_model(initializer: Callable[[], object] | None, width: int = 4,
               op: str = "MatMul") -> Callable[[Path], None]:
    """A model ``y = relu(x @ W)`` (or ``y = relu(x)`` without an initializer) on ``width``
    inputs; ``initializer`` makes the TensorProto ``W``."""
    def write(path: Path) -> None:
        from onnx import TensorProto, helper

        inits, nodes = [], []
        if initializer is not None:
            inits.append(initializer())
            nodes.append(helper.make_node(op, ["x", "W"], ["t"], name="mm"))
        nodes.append(helper.make_node("Relu", ["t" if inits else "x"], ["y"], name="act"))
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", width])],
            [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)], initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 10
        path.write_bytes(model.SerializeToString())
    return write


def tera_initializer() -> object:
    """``W`` declaring 10**6 x 10**6 doubles (10**12 entries) over 16 bytes of raw data."""
    from onnx import TensorProto

    t = TensorProto()
    t.name, t.data_type = "W", TensorProto.DOUBLE
    t.dims.extend([10 ** 6, 10 ** 6])
    t.raw_data = bytes(16)
    return t


def complex_initializer(dtype: type) -> Callable[[], object]:
    def make() -> object:
        from onnx import numpy_helper

        return numpy_helper.from_array((np.ones((4, 4)) * (1 + 1j)).astype(dtype), "W")
    return make


def check(cls: str, name: str, text: str, status: int, message: str, input_: str,
          files: dict[str, Callable[[Path], None]] | None = None, command: str = "check",
          ) -> Case:
    """``lbdsl COMMAND spec.lbn`` on ``text`` and ``files``, in a fresh, bounded process."""
    return Case(cls, name, (command, "spec.lbn"), status, message, input_,
                files={"spec.lbn": text, **(files or {})}, subprocess=True)


def _param_spec(init: str) -> str:
    return NET.replace("normal(std = 1, seed = 0)", init)


_DATA = invert('data = load("f.npy")', truth=False)
_IDX = NET + """train p {
    data = idx("bomb-idx1-ubyte.gz", n = 10)
    optimizer = implicit_sgd(epochs = 2, batch = 4, inner = 2)
    figures = false
}
"""
_LINSPACE = NET.replace("4x4", "1").replace("8x16", "8x1") + """invert p {
    truth = linspace(0, 1, n = 1000000000000)
    data = forward(truth)
    figures = false
}
"""
_LIMIT = "more than the limit of 2.0 GiB"

READER_CASES: list[Case] = [
    # -- .npy / .npz whose header declares 8 TiB over 64 bytes ------------------------------------
    check(SIZE, "npy-bomb-param", _param_spec('load("bomb.npy")'), 2, NPY_BOMB,
          "`param W = load(\"bomb.npy\")`, a 200-byte .npy whose header declares 2**40 float64",
          files={"bomb.npy": bomb_npy}),
    check(SIZE, "npz-bomb-param", _param_spec('load("bomb.npz", "W")'), 2,
          f"cannot read `bomb.npz[W]`: it {TB_MESSAGE}",
          "the same bomb as the member `W` of an .npz", files={"bomb.npz": bomb_npz("W")}),
    solve(SIZE, "npy-bomb-truth", invert('truth = load("bomb.npy")'), 1,
          NPY_BOMB, "`truth = load(\"bomb.npy\")`, the same bomb",
          files={"bomb.npy": bomb_npy}, subprocess=True),
    solve(SIZE, "npy-bomb-data", _DATA.replace("f.npy", "bomb.npy"), 1,
          NPY_BOMB, "`data = load(\"bomb.npy\")`, the same bomb",
          files={"bomb.npy": bomb_npy}, subprocess=True),
    solve(SIZE, "npz-bomb-train", TRAIN_SPEC.replace("pairs.npz", "bomb.npz"), 1,
          f"cannot read `bomb.npz[X]`: it {TB_MESSAGE}",
          "training pairs `load(\"bomb.npz\", \"X\", \"Y\")` whose `X` is the bomb",
          files={"bomb.npz": bomb_npz("X", "Y")}, subprocess=True),
    Case(SIZE, "npz-bomb-weights", ("export", "spec.lbn", "--weights", "bomb.npz", "--out",
                                    "p.onnx"), 1,
         f"cannot read the weights bomb.npz: `W` {TB_MESSAGE}",
         "`lbdsl export --weights bomb.npz` with the bomb as the member `W`",
         files={"spec.lbn": NET, "bomb.npz": bomb_npz("W")}, subprocess=True),
    solve(SIZE, "npz-deflate-bomb", _DATA.replace('load("f.npy")', 'load("z.npz", "f")'), 1,
          "cannot read `z.npz[f]`: it declares 300,000,000 uint8 entries (2.2 GiB as "
          f"float64), {_LIMIT}",
          "a 300 KB .npz whose deflated member really inflates to 300 MB of uint8 "
          "(2.2 GiB as float64)", files={"z.npz": deflate_bomb_npz("f")}, subprocess=True),
    solve(SIZE, "npy-sparse-over-limit", _DATA.replace("f.npy", "big.npy"), 1,
          f"cannot read `big.npy`: it declares 300,000,000 float64 entries (2.2 GiB), {_LIMIT}",
          "a sparse .npy that truly holds 300,000,000 float64 (2.2 GiB)",
          files={"big.npy": sparse_npy()}, subprocess=True),
    # -- IDX: a 3 MB gzip that inflates to 3 GB -------------------------------------------------
    solve(SIZE, "idx-gz-bomb", _IDX, 1,
          "the IDX header declares 3,000,000,000 uint8 entries (22.4 GiB as float64), " + _LIMIT,
          "`idx(\"bomb-idx1-ubyte.gz\")`: 3 MB of gzip inflating to 3 GB, as its header says",
          files={"bomb-idx1-ubyte.gz": idx_gz_bomb(3 * 10 ** 9)}, subprocess=True),
    solve(SIZE, "idx-gz-bomb-small-header", _IDX, 1,
          "the IDX header says 10 entries of 1 byte(s), but the gzip data inflate to more "
          "than 10 bytes of data",
          "the same 3 GB of gzip behind a header that declares 10 entries",
          files={"bomb-idx1-ubyte.gz": idx_gz_bomb(10)}, subprocess=True),
    # -- a batch truth of 10**12 values ----------------------------------------------------------
    check(SIZE, "linspace-batch-huge", _LINSPACE, 2,
          "makes 1,000,000,000,000 float64 entries (7.3 TiB), " + _LIMIT,
          "`truth = linspace(0, 1, n = 1000000000000)` on a one-entry input (a batch)",
          command="solve"),
    # -- checkpoints -----------------------------------------------------------------------------
    solve(RESUME, "resume-checkpoint-bomb", TRAIN_SPEC, 1, "checkpoint.npz: `param/W` "
          f"{TB_MESSAGE}", "`--resume` with a checkpoint whose `param/W` declares 8 TiB",
          "--resume", files={"pairs.npz": pairs()}, setup=resume_setup(checkpoint_bomb()),
          subprocess=True),
    solve(RESUME, "resume-invert-checkpoint-bomb", LONG, 1, "checkpoint.npz: `a0` "
          f"{TB_MESSAGE}", "`--resume` of an interrupted invert task whose checkpoint's first "
          "array declares 8 TiB", "--resume",
          setup=interrupted_invert(lambda p: p.write_bytes(checkpoint_bomb("a0"))),
          subprocess=True),
    solve(RESUME, "resume-checkpoint-nested-meta", TRAIN_SPEC, 1,
          "checkpoint.npz: `meta` is nested more than 64 levels deep",
          "`--resume` with a checkpoint whose `meta` JSON is nested 100,000 levels deep",
          "--resume", files={"pairs.npz": pairs()}, setup=resume_setup(nested_meta()),
          subprocess=True),
    # -- ONNX -----------------------------------------------------------------------------------
    Case(SIZE, "onnx-tera-initializer", ("import", "m.onnx", "--out", "out"), 2,
         "initializer 'W' declares 1,000,000,000,000 entries (1000000, 1000000), more than "
         "lbdsl allocates (268,435,456)",
         "`lbdsl import` of a model whose initializer declares 10**12 doubles over 16 bytes",
         files={"m.onnx": onnx_model(tera_initializer, width=10 ** 6)}, subprocess=True),
    Case(SIZE, "onnx-relu-wide-input", ("import", "m.onnx", "--out", "out"), 0,
         "wrote out/m.lbn",
         "`Relu` straight on a 10**6-wide input (allowed: nothing 10**6 x 10**6 is made)",
         files={"m.onnx": onnx_model(None, width=10 ** 6)}, subprocess=True),
    Case(DATA, "onnx-complex64-initializer", ("import", "m.onnx", "--out", "out"), 2,
         "initializer 'W' holds complex64 data, not real numbers",
         "`lbdsl import` of a model with a COMPLEX64 initializer",
         files={"m.onnx": onnx_model(complex_initializer(np.complex64))}),
    Case(DATA, "onnx-complex128-initializer", ("import", "m.onnx", "--out", "out"), 2,
         "initializer 'W' holds complex128 data, not real numbers",
         "`lbdsl import` of a model with a COMPLEX128 initializer",
         files={"m.onnx": onnx_model(complex_initializer(np.complex128))}),
]
