"""lbdsl.bounded: what a file declares is checked against what it holds and against the one
limit (MAX_PARAM_BYTES as float64) before anything of the declared size is made; gzip is
inflated a piece at a time under a cap; JSON is parsed only when shallow.  Then the readers
that go through it (the parameter Loader, ``--weights``, checkpoints, IDX, linspace truths,
ONNX tensors) on real hostile files, through the Python API.

The bombs declare terabytes: if a check regressed, NumPy would fail to allocate them at once
(a MemoryError, the test fails) rather than take the machine's memory.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import lbdsl
from lbdsl import bounded
from lbdsl.bounded import MAX_PARAM_BYTES, BoundError
from lbdsl.errors import DataError, LbdslError, SpecError

NET = """network p {
    input u : 4x4
    param W : 8x16 = INIT
    param b : 8 = zeros
    h = relu(W @ u + b)
    output h
}
"""


def _header(shape: tuple[int, ...], descr: str = "<f8", version: tuple[int, int] = (1, 0),
            ) -> bytes:
    buf = io.BytesIO()
    d = {"descr": descr, "fortran_order": False, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buf, d)
    else:
        np.lib.format.write_array_header_2_0(buf, d)
    return buf.getvalue()


def _bomb(path: Path, shape: tuple[int, ...] = (2 ** 40,), data: int = 64) -> Path:
    path.write_bytes(_header(shape) + bytes(data))
    return path


def _sparse_npy(path: Path, entries: int, descr: str = "<f8") -> Path:
    """A sparse .npy that truly holds ``entries`` (no disk, no memory used)."""
    header = _header((entries,), descr)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + np.dtype(descr).itemsize * entries)
    return path


# --- the limit and the header check ----------------------------------------------------------

def test_one_limit_shared_with_the_network_builder_and_the_importer():
    from lbdsl.exchange.onnx_import import MAX_ENTRIES
    from lbdsl.ir import params

    assert params.MAX_PARAM_BYTES is MAX_PARAM_BYTES == 2 * 1024 ** 3
    assert MAX_ENTRIES == MAX_PARAM_BYTES // 8


@pytest.mark.parametrize("n, text", [(0, "0 bytes"), (1, "1 byte"), (64, "64 bytes"),
                                     (1536, "1.5 KiB"), (2 * 1024 ** 3, "2.0 GiB"),
                                     (2 ** 43, "8.0 TiB")])
def test_bytes_in_words(n, text):
    assert bounded.format_bytes(n) == text


def test_the_limit_counts_every_entry_as_float64_and_is_inclusive():
    assert bounded.excess(MAX_PARAM_BYTES // 8) is None
    assert bounded.excess(MAX_PARAM_BYTES // 8 + 1) == (
        "268,435,457 float64 entries (2.0 GiB), more than the limit of 2.0 GiB")
    # a byte is converted to float64 by every reader: it counts 8
    assert bounded.excess(128, np.uint8, limit=1024) is None
    assert bounded.excess(129, np.uint8, limit=1024) == (
        "129 uint8 entries (1.0 KiB as float64), more than the limit of 1.0 KiB")
    assert bounded.excess(64, np.complex128, limit=1024) is None       # 16 bytes each
    assert bounded.excess(65, np.complex128, limit=1024) is not None


def test_a_declared_array_must_fit_in_the_bytes_present_exactly():
    bounded.check_declared("`a`", (4, 32), np.float64, present=1024, limit=1024)
    with pytest.raises(BoundError, match=r"^`a` declares 128 float64 entries \(1.0 KiB\) but "
                       r"holds 1,023 bytes of data$"):
        bounded.check_declared("`a`", (4, 32), np.float64, present=1023, limit=1024)
    with pytest.raises(BoundError, match=r"^`a` declares 129 float64 entries \(1.0 KiB\), "
                       "more than the limit of 1.0 KiB$"):
        bounded.check_declared("`a`", (129,), np.float64, present=2048, limit=1024)
    # shapes whose product overflows int64 are counted exactly
    with pytest.raises(BoundError, match="declares 1,329,227,995,784,915,872,903,807,060,280,"
                       "344,576 float64"):
        bounded.check_declared("`a`", (2 ** 60, 2 ** 60), np.float64, present=64)


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_the_header_is_read_as_numpy_writes_it(version, tmp_path):
    path = tmp_path / "a.npy"
    path.write_bytes(_header((3, 5), "<i4", version) + bytes(60))
    with open(path, "rb") as fh:
        assert bounded.npy_header(fh) == ((3, 5), np.dtype("<i4"))
        assert fh.read() == bytes(60)
    bounded.check_npy(path, "`a.npy`")                      # exactly its 60 bytes


def test_a_npy_bomb_is_refused_from_its_header(tmp_path):
    with pytest.raises(BoundError) as info:
        bounded.check_npy(_bomb(tmp_path / "bomb.npy"), "`bomb.npy`")
    assert str(info.value) == ("`bomb.npy` declares 1,099,511,627,776 float64 entries "
                               "(8.0 TiB) but holds 64 bytes of data")


def test_the_limit_on_a_real_file_is_exact(tmp_path):
    """Sparse files that truly hold 2 GiB and 2 GiB + 8 bytes of float64."""
    n = MAX_PARAM_BYTES // 8
    bounded.check_npy(_sparse_npy(tmp_path / "at.npy", n), "`at.npy`")
    with pytest.raises(BoundError, match=r"268,435,457 float64 entries \(2.0 GiB\), more than "
                       "the limit of 2.0 GiB"):
        bounded.check_npy(_sparse_npy(tmp_path / "over.npy", n + 1), "`over.npy`")


def test_object_arrays_are_left_to_numpys_own_refusal():
    bounded.check_declared("`a`", (10 ** 15,), np.dtype(object), present=0)


# --- .npz members ----------------------------------------------------------------------------

def test_npz_members_stored_and_deflated_read_back(tmp_path):
    a, b = np.arange(12.0).reshape(3, 4), np.arange(5, dtype=np.int16)
    for save, name in ((np.savez, "s.npz"), (np.savez_compressed, "c.npz")):
        save(tmp_path / name, a=a, b=b)
        got = bounded.read_npz(tmp_path / name)
        assert set(got) == {"a", "b"}
        np.testing.assert_array_equal(got["a"], a)
        np.testing.assert_array_equal(got["b"], b)


def test_a_stored_member_is_bounded_by_its_stored_bytes(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.npy", _header((2,)) + bytes(16))
        z.writestr("W.npy", _header((2 ** 40,)) + bytes(64))
    with np.load(path) as npz:
        np.testing.assert_array_equal(bounded.npz_array(npz, "ok", "`ok`"), [0.0, 0.0])
        with pytest.raises(BoundError, match=r"^`bomb.npz\[W\]` declares 1,099,511,627,776 "
                           r"float64 entries \(8.0 TiB\) but holds 64 bytes of data$"):
            bounded.npz_array(npz, "W", "`bomb.npz[W]`")


def _patch_sizes(data: bytes, size: int) -> bytes:
    """The zip ``data`` with its one member's uncompressed size rewritten (local header and
    central directory): what a forger would do."""
    out = bytearray(data)
    local = out.index(b"PK\x03\x04")
    out[local + 22:local + 26] = struct.pack("<I", size)
    central = out.index(b"PK\x01\x02")
    out[central + 24:central + 28] = struct.pack("<I", size)
    return bytes(out)


def test_a_deflated_member_cannot_declare_more_than_deflate_can_make(tmp_path):
    """DEFLATE makes at most 1032 bytes of one: a member of ~100 compressed bytes that
    declares 400 MB (its zip sizes forged to agree) holds at most ~100 KB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("W.npy", _header((5 * 10 ** 7,)) + bytes(64))
    path = tmp_path / "forged.npz"
    path.write_bytes(_patch_sizes(buf.getvalue(), 4 * 10 ** 8 + 128))
    with np.load(path) as npz:
        assert npz.zip.getinfo("W.npy").file_size == 4 * 10 ** 8 + 128
        with pytest.raises(BoundError, match=r"declares 50,000,000 float64 entries \(381.5 MiB\)"
                           r" but holds [0-9.]+ KiB of data"):
            bounded.npz_array(npz, "W", "`forged.npz[W]`")


def test_a_real_deflate_bomb_is_refused_by_the_limit(tmp_path):
    """~60 KB that inflate to 60 MB of uint8 (480 MB as float64), under a 100 MB limit."""
    path = tmp_path / "z.npz"
    zeros = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("f.npy", "w") as m:
        m.write(_header((60 << 20,), "|u1"))
        for _ in range(60):
            m.write(zeros)
    assert path.stat().st_size < 200_000
    with np.load(path) as npz, pytest.raises(BoundError, match=r"62,914,560 uint8 entries "
                                             r"\(480.0 MiB as float64\), more than the limit "
                                             r"of 100.0 MiB"):
        bounded.npz_array(npz, "f", "`z.npz[f]`", limit=100 << 20)


def test_read_npz_refuses_what_is_no_zip(tmp_path):
    with pytest.raises(BoundError, match=r"^it is not an .npz archive"):
        bounded.read_npz(_bomb(tmp_path / "bomb.npy"))
    np.savez(tmp_path / "empty.npz")
    assert bounded.read_npz(tmp_path / "empty.npz") == {}


# --- gzip ------------------------------------------------------------------------------------

def test_gunzip_reads_what_gzip_reads_every_member_and_padding():
    data = gzip.compress(b"abc" * 1000) + gzip.compress(b"xyz") + b"\x00" * 8
    assert bounded.gunzip(data, "f", cap=3003) == b"abc" * 1000 + b"xyz"
    assert bounded.gunzip(data, "f", cap=4, prefix=True) == b"abca"


def test_gunzip_stops_at_its_cap_exactly():
    data = gzip.compress(bytes(1000))
    assert len(bounded.gunzip(data, "f", cap=1000)) == 1000
    with pytest.raises(BoundError, match="^f inflates to more than 999 bytes$"):
        bounded.gunzip(data, "f", cap=999)


def test_gunzip_never_holds_more_than_its_cap_of_a_bomb():
    """1 MB of DEFLATE blocks that would inflate to 1 GB: refused after 10 MB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    bomb = first + block * 1000 + packer.flush()
    assert len(bomb) < 1_200_000
    with pytest.raises(BoundError, match="inflates to more than 10.0 MiB"):
        bounded.gunzip(bomb, "bomb.gz", cap=10 << 20)


def test_gunzip_says_when_a_stream_is_truncated_or_corrupt():
    data = gzip.compress(b"hello world" * 100)
    with pytest.raises(EOFError):
        bounded.gunzip(data[:-12], "f", cap=10_000)
    with pytest.raises(zlib.error):                      # compression method 7, not 8
        bounded.gunzip(data[:2] + b"\x07" + data[3:], "f", cap=10_000)
    with pytest.raises(zlib.error):                      # a damaged trailer (CRC)
        bounded.gunzip(data[:-8] + bytes(8), "f", cap=10_000)


# --- JSON ------------------------------------------------------------------------------------

def test_json_up_to_the_depth_bound_and_not_one_level_more():
    deep = "[" * bounded.MAX_JSON_DEPTH + "]" * bounded.MAX_JSON_DEPTH
    assert bounded.json_loads(deep, "`m`") == json.loads(deep)
    with pytest.raises(BoundError, match="^`m` is nested more than 64 levels deep$"):
        bounded.json_loads("[" + deep + "]", "`m`")
    with pytest.raises(BoundError):                    # what json itself would recurse on
        bounded.json_loads('{"a": ' * 100_000 + "1" + "}" * 100_000, "`m`")


def test_brackets_inside_json_strings_are_not_nesting():
    doc = json.dumps({"a": "[" * 500 + '\\"{' * 200, "b": [["x]"]]})
    assert bounded.json_loads(doc, "`m`") == json.loads(doc)


# --- the readers, through the API ------------------------------------------------------------

def test_a_param_bomb_is_a_spec_error(tmp_path):
    _bomb(tmp_path / "bomb.npy")
    (tmp_path / "spec.lbn").write_text(NET.replace("INIT", 'load("bomb.npy")'))
    with pytest.raises(SpecError, match=r"cannot read `bomb.npy`: it declares "
                       r"1,099,511,627,776 float64 entries \(8.0 TiB\) but holds 64 bytes"):
        lbdsl.load(tmp_path / "spec.lbn")


def test_valid_param_files_still_load(tmp_path):
    w = np.arange(128.0).reshape(8, 16)
    np.save(tmp_path / "w.npy", w)
    np.savez_compressed(tmp_path / "w.npz", W=w)
    for init in ('load("w.npy")', 'load("w.npz", "W")'):
        (tmp_path / "spec.lbn").write_text(NET.replace("INIT", init))
        np.testing.assert_array_equal(lbdsl.load(tmp_path / "spec.lbn").network().params["W"]
                                      .value, w)


def test_weights_bomb_through_export_onnx(tmp_path):
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as z:
        z.writestr("W.npy", _header((2 ** 40,)) + bytes(64))
    spec = lbdsl.loads(NET.replace("INIT", "normal(seed = 0)"))
    with pytest.raises(LbdslError, match=r"cannot read the weights .*bomb.npz: `W` declares "
                       r"1,099,511,627,776 float64 entries"):
        spec.export_onnx(tmp_path / "p.onnx", weights=tmp_path / "bomb.npz")


def test_a_checkpoint_member_bomb_and_a_deep_meta(tmp_path):
    from lbdsl.tasks.checkpoint import load_npz, save_npz

    good = tmp_path / "good.npz"
    save_npz(good, {"x": np.ones(3)}, {"format": 3, "deep": [[[[1]]]]})
    arrays, meta = load_npz(good, 3)
    assert meta["deep"] == [[[[1]]]] and np.array_equal(arrays["x"], np.ones(3))
    bomb = tmp_path / "checkpoint.npz"
    with zipfile.ZipFile(bomb, "w") as z:
        z.writestr("x.npy", _header((2 ** 40,)) + bytes(64))
    with pytest.raises(BoundError, match=r"^`x` declares 1,099,511,627,776 float64"):
        load_npz(bomb, 3)
    np.savez(bomb, meta=np.frombuffer(b"[" * 100_000 + b"]" * 100_000, dtype=np.uint8))
    with pytest.raises(BoundError, match=r"^`meta` is nested more than 64 levels deep$"):
        load_npz(bomb, 3)


def _idx_gz(declared: int, body: bytes) -> bytes:
    return gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", declared) + body)


def test_an_idx_gz_inflates_no_further_than_its_header_declares(tmp_path):
    from lbdsl.tasks.idx import read_idx

    path = tmp_path / "a-idx1-ubyte.gz"
    path.write_bytes(_idx_gz(10, bytes(range(10))))
    np.testing.assert_array_equal(read_idx(path), np.arange(10, dtype=np.uint8))
    path.write_bytes(_idx_gz(10, bytes(11)))
    with pytest.raises(DataError, match="the IDX header says 10 entries of 1 byte.s., but the "
                       "gzip data inflate to more than 10 bytes of data"):
        read_idx(path)
    path.write_bytes(_idx_gz(10, bytes(9)))
    with pytest.raises(DataError, match="but the file holds 9 bytes of data"):
        read_idx(path)
    path.write_bytes(_idx_gz(3 * 10 ** 9, bytes(100)))
    with pytest.raises(DataError, match=r"the IDX header declares 3,000,000,000 uint8 entries "
                       r"\(22.4 GiB as float64\), more than the limit of 2.0 GiB"):
        read_idx(path)


def test_a_batch_linspace_truth_beyond_the_limit_is_refused_before_it_is_made(tmp_path):
    text = NET.replace("4x4", "1").replace("8x16", "8x1").replace("INIT", "ones") + (
        "invert p {\n    truth = linspace(0, 1, n = N)\n    data = forward(truth)\n"
        "    figures = false\n    solver = pdhg(max_iter = 2)\n}\n")
    with pytest.raises(SpecError, match=r"makes 268,435,457 float64 entries \(2.0 GiB\), more "
                       "than the limit of 2.0 GiB"):
        lbdsl.loads(text.replace("N", str(MAX_PARAM_BYTES // 8 + 1)))
    lbdsl.loads(text.replace("N", str(MAX_PARAM_BYTES // 8)))      # at the limit: accepted


def test_the_truth_maker_refuses_it_too_for_callers_that_bypass_the_ir(tmp_path):
    from lbdsl.ir.tasks.records import LinspaceTruth
    from lbdsl.tasks.data import make_truth

    net = lbdsl.loads(NET.replace("4x4", "1").replace("8x16", "8x1")
                      .replace("INIT", "ones")).network()
    with pytest.raises(SpecError, match="makes 1,000,000,000,000 float64 entries"):
        make_truth(LinspaceTruth(start=0.0, stop=1.0, n=10 ** 12), net, tmp_path)
    assert make_truth(LinspaceTruth(start=0.0, stop=1.0, n=3), net, tmp_path).shape == (3, 1)


# --- ONNX tensors ----------------------------------------------------------------------------

def _onnx(tmp_path: Path, init, width: int = 4) -> Path:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["t"]), helper.make_node("Relu", ["t"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)], initializer=[init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _declared(dims: list[int], raw: bytes | None = None, doubles: list[float] | None = None):
    from onnx import TensorProto

    t = TensorProto()
    t.name, t.data_type = "W", TensorProto.DOUBLE
    t.dims.extend(dims)
    if raw is not None:
        t.raw_data = raw
    t.double_data.extend(doubles or [])
    return t


@pytest.mark.parametrize("make, message", [
    (lambda: _declared([10 ** 6, 10 ** 6], raw=bytes(16)),
     "initializer 'W' declares 1,000,000,000,000 entries (1000000, 1000000), more than lbdsl "
     "allocates (268,435,456)"),
    (lambda: _declared([4, 4], raw=bytes(16)),
     "initializer 'W' declares 16 entries (4, 4) but holds 16 bytes of data"),
    (lambda: _declared([4, 4], doubles=[1.0, 2.0]),
     "initializer 'W' declares 16 entries (4, 4) but holds 2 values in double_data"),
])
def test_an_onnx_tensor_is_checked_against_its_declared_shape(make, message, tmp_path):
    pytest.importorskip("onnx")
    from lbdsl.exchange.onnx_import import ImportRefused

    with pytest.raises(ImportRefused) as info:
        lbdsl.import_onnx(_onnx(tmp_path, make()), tmp_path / "out")
    assert message in str(info.value)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_onnx_weights_are_refused_not_cast(dtype, tmp_path):
    pytest.importorskip("onnx")
    from onnx import numpy_helper

    from lbdsl.exchange.onnx_import import ImportRefused

    w = numpy_helper.from_array((np.eye(4) * (1 + 2j)).astype(dtype), "W")
    name = np.dtype(dtype).name
    with pytest.raises(ImportRefused, match=f"m.onnx: initializer 'W' holds {name} data, not "
                       "real numbers$"):
        lbdsl.import_onnx(_onnx(tmp_path, w), tmp_path / "out")


def test_an_archive_of_many_arrays_each_under_the_limit_is_bounded_in_total(tmp_path):
    """Four arrays of 100 entries (800 bytes as float64 each) against a limit of 2,000 bytes:
    the third is refused before it is read, whatever the first two left."""
    path = tmp_path / "many.npz"
    np.savez(path, **{f"a{i}": np.zeros(100) for i in range(4)})
    assert len(bounded.read_npz(path, limit=3200)) == 4          # exactly the limit: read
    with pytest.raises(BoundError, match="its arrays together declare more than the limit"):
        bounded.read_npz(path, limit=2000)


def test_a_fifo_is_never_opened_as_an_archive(tmp_path):
    import os

    os.mkfifo(tmp_path / "w.npz")
    with pytest.raises(BoundError, match="it is a FIFO"):
        bounded.read_npz(tmp_path / "w.npz")
