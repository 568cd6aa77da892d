"""The ONNX package's own backend test models as a conformance suite for ``lbdsl import``.

``onnx/backend/test/data/{pytorch-converted, pytorch-operator, simple}`` hold PyTorch modules
and small graphs, each with an input and its expected output.  Every one is either imported
*exactly* — the spec's forward pass equals the expected output (to float32 rounding where the
model is float32) — or refused with one line (``ImportRefused``) that names the node and why,
or the graph and why.  Never a wrong model, never a traceback.  The models the language can
express are listed and must import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lbdsl
from lbdsl.exchange.onnx_import import ImportRefused

onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402

ROOT = Path(onnx.__file__).parent / "backend" / "test" / "data"
CASES = sorted(case for kind in ("pytorch-converted", "pytorch-operator", "simple")
               for case in (ROOT / kind).glob("*") if (case / "test_data_set_0").is_dir())

#: What the language expresses: these must import exactly.
EXACT = {
    # linear maps and activations of the input itself
    "test_Linear", "test_Linear_no_bias", "test_ReLU", "test_Tanh", "test_Sigmoid",
    "test_LeakyReLU", "test_LeakyReLU_with_negval", "test_Softmax", "test_Softmin",
    "test_softmax_lastdim", "test_single_relu_model", "test_operator_clip",
    "test_operator_addconstant", "test_operator_flatten",
    # convolutions, transposed (a stride per axis) and plain, pooling as a convolution
    "test_Conv2d", "test_Conv2d_no_bias", "test_Conv2d_padding", "test_Conv2d_strided",
    "test_operator_conv", "test_ConvTranspose2d", "test_ConvTranspose2d_no_bias",
    "test_operator_convtranspose", "test_AvgPool2d", "test_AvgPool2d_stride",
    # a batch normalization on its own: a diagonal map
    "test_BatchNorm2d_eval", "test_BatchNorm2d_momentum_eval", "test_BatchNorm1d_3d_input_eval",
    "test_BatchNorm3d_eval", "test_BatchNorm3d_momentum_eval",
    # linear ops with no structured form: their matrices
    "test_ZeroPad2d", "test_ConstantPad2d", "test_ReflectionPad2d", "test_ReplicationPad2d",
    "test_operator_pad", "test_operator_permute2", "test_operator_repeat",
    "test_operator_reduced_mean", "test_operator_reduced_mean_keepdim",
    "test_operator_reduced_sum", "test_operator_reduced_sum_keepdim",
}


def _tensor(path: Path) -> np.ndarray:
    return numpy_helper.to_array(onnx.load_tensor(str(path)))


def test_the_suite_is_there():
    assert len(CASES) >= 100
    assert EXACT <= {case.name for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_each_model_imports_exactly_or_is_refused_in_one_line(case: Path, tmp_path: Path):
    try:
        spec = lbdsl.import_onnx(case / "model.onnx", tmp_path, "net")
    except ImportRefused as err:
        message = str(err)
        assert case.name not in EXACT, message
        assert "\n" not in message and message.startswith(str(case / "model.onnx"))
        why = message.removeprefix(f"{case / 'model.onnx'}: ")
        assert why.startswith(("node '", "the graph", "input '", "initializer '")), why
        return
    data = case / "test_data_set_0"
    x = _tensor(data / "input_0.pb")
    want = _tensor(data / "output_0.pb")
    got = spec.forward(x.astype(np.float64))
    tol = 1e-5 if x.dtype == np.float32 else 1e-10
    assert got.size == want.size
    assert np.max(np.abs(got.reshape(want.shape) - want)) <= tol * max(1.0, np.abs(want).max())
