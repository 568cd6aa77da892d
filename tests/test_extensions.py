"""Extensions written here, in the test file alone — no library file edited — work everywhere
their registry reaches: a regulariser combines with ``tv + box`` in the spec and in the solvers
of the problem (pdhg through its separable prox, gradient through the input prox; the optimum
checked against CVXPY), a Ψ is read, solved with and exported (or refused in one line), and a
layer type that declares no export is refused by both exporters, never written as another
model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import cvxpy as cp
import numpy as np
import pytest
from array_api_compat import array_namespace

import lbdsl
from lbdsl.cli import main
from lbdsl.errors import ExportRefused
from lbdsl.ir.layers import LAYER_TYPES, LayerType
from lbdsl.ir.layers.matrix import DenseLayer
from lbdsl.ir.nodes import LinearMap, size_of
from lbdsl.ops.dense import Dense
from lbdsl.options import option
from lbdsl.prox.piecewise import Clip, ReLU
from lbdsl.prox.regularisers.base import Fold, Regulariser
from lbdsl.prox.regularisers.registry import REGULARISERS
from lbdsl.prox.registry import ACTIVATIONS


# ---------------------------------------------------------------- a regulariser: Huber

@dataclass(frozen=True)
class Huber(Regulariser):
    """``J(u) = Σ h(u_i)``, ``h(t) = t²/(2δ)`` for ``|t| ≤ δ``, ``|t| − δ/2`` beyond: separable,
    smooth; ``prox_{ch}(v) = v·δ/(δ + c)`` for ``|v| ≤ δ + c``, ``v − c·sign v`` beyond."""

    delta: float = option("positive", doc="where the quadratic meets the linear part")
    name: ClassVar[str] = "huber"
    fold: ClassVar[Fold] = "separable"
    example: ClassVar[str] = "huber(0.1)"

    def _h(self, u: Any) -> Any:
        xp = array_namespace(u)
        a = xp.abs(u)
        return xp.where(a <= self.delta, u * u / (2 * self.delta), a - self.delta / 2)

    def _value(self, u: Any) -> Any:
        return array_namespace(u).sum(self._h(u))

    def _row_values(self, u: Any) -> Any:
        return array_namespace(u).sum(self._h(u), axis=-1)

    def _prox(self, v: Any, c: Any, **_: Any) -> Any:
        xp = array_namespace(v)
        return xp.where(xp.abs(v) <= self.delta + c, v * self.delta / (self.delta + c),
                        v - c * xp.sign(v))

    def _subgradient(self, u: Any) -> Any:
        return array_namespace(u).clip(u / self.delta, -1.0, 1.0)

    def _smoothed(self, u: Any, eps: float) -> tuple[Any, Any]:
        return self._value(u), self._subgradient(u)


@pytest.fixture
def huber() -> Iterator[type[Huber]]:
    with REGULARISERS.registered(Huber):
        yield Huber


def _huber_spec(solver: str) -> str:
    return f"""
network p {{
    input u : 4x4
    param W : 12x16 = normal(seed = 1)
    param b : 12 = normal(std = 0.1, seed = 2)
    y = relu(W @ u + b)
    output y
}}
invert p {{
    truth       = image("shepp_logan", size = 4x4)
    data        = forward(truth) + gaussian(sigma = 0.01, seed = 3)
    regulariser = 0.05 * tv + 0.2 * huber(0.1) + box(0, 1)
    solver      = {solver}
    figures     = false
}}
"""


def _cvxpy_optimum(spec: lbdsl.api.Spec, result: Any) -> np.ndarray:
    """The same convex problem, ``B_relu(f, W u + b) + J(u)``, by CVXPY: with ``f`` on dom Ψ
    (≥ 0), ``B(f, z) = Φ(f) + Φ*(z) − ⟨f, z⟩ = ½‖f‖² + ½‖max(z, 0)‖² − ⟨f, z⟩``."""
    net = spec.network("p")
    W, b = net.params["W"].value, net.params["b"].value
    f = np.asarray(result.arrays["f_solver"]).reshape(-1)      # the data on dom Ψ
    u = cp.Variable(16)
    z = W @ u + b
    fidelity = 0.5 * float(f @ f) + 0.5 * cp.sum_squares(cp.pos(z)) - f @ z
    img = cp.reshape(u, (4, 4), order="C")
    # forward differences, 0 past the last row and column (Neumann), isotropic per pixel
    dx = cp.vstack([img[1:, :] - img[:-1, :], np.zeros((1, 4))])
    dy = cp.hstack([img[:, 1:] - img[:, :-1], np.zeros((4, 1))])
    tv = cp.sum(cp.norm(cp.vstack([cp.vec(dx, order="C"), cp.vec(dy, order="C")]), 2, axis=0))
    huber_term = cp.sum(cp.huber(u, 0.1)) / (2 * 0.1)
    problem = cp.Problem(cp.Minimize(fidelity + 0.05 * tv + 0.2 * huber_term), [u >= 0, u <= 1])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return np.asarray(u.value).reshape(4, 4)


@pytest.mark.parametrize("solver", ["auto", "gradient(max_iter = 20000, tol = 1e-10)"])
def test_a_regulariser_from_here_combines_with_tv_and_box_in_every_solver_that_can(
        huber, solver: str, tmp_path) -> None:
    spec = lbdsl.loads(_huber_spec(solver))
    (result,) = spec.solve(out=tmp_path, verbose=False)
    assert result.status == "ok", result.error
    assert result.report["solver"]["name"] == ("pdhg" if solver == "auto" else "gradient")
    u = np.asarray(result.u)
    assert u.min() >= -1e-9 and u.max() <= 1 + 1e-9                  # the box reached it
    np.testing.assert_allclose(u, _cvxpy_optimum(spec, result), atol=2e-4)


def test_a_regulariser_from_here_is_refused_where_a_solver_cannot_take_it(huber) -> None:
    """``coordinate`` takes only ``½‖u‖²``: the spec check says so at the term, naming the
    solvers that take it — the new one among them by its declared fold alone."""
    with pytest.raises(lbdsl.errors.SpecError) as err:
        lbdsl.loads(_huber_spec("coordinate"))
    message = str(err.value)
    assert "the `coordinate` solver handles only `l2sq`, not `tv`" in message
    assert "handles only `l2sq`, not `huber`" in message
    assert "solvers that take it: pdhg, lbfgs, lifted, gradient" in message


# ---------------------------------------------------------------- Ψ: relu6, and one unexportable

@dataclass(frozen=True)
class ReLU6(Clip):
    """``σ(z) = min(max(z, 0), 6)``: ``clip`` with its own name and ends (its ONNX ``Clip``
    and ``torch.nn.Hardtanh`` are clip's)."""

    lo: float = option("number", 0.0, valid=math.isfinite, requirement="a finite number")
    hi: float = option("number", 6.0, valid=math.isfinite, requirement="a finite number")
    name: ClassVar[str] = "relu6"
    aliases: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class Private(ReLU):
    """ReLU's maths under a name no other framework knows: it declares no export."""

    name: ClassVar[str] = "private"
    onnx_op: ClassVar[str | None] = None
    torch_module: ClassVar[str | None] = None


@pytest.fixture
def psis() -> Iterator[None]:
    with ACTIVATIONS.registered(ReLU6), ACTIVATIONS.registered(Private):
        yield


NET = """
network n {{
    input u : 6
    param W : 5x6 = normal(seed = 4)
    param b : 5 = normal(std = 0.5, seed = 5)
    h = {act}(W @ u + b)
    y = dense(h, 3)
    output y
}}
"""


def test_a_psi_from_here_is_read_solved_with_and_exported(psis, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    spec = lbdsl.loads(NET.format(act="relu6") + """
invert n { truth = linspace(0, 1)  data = forward(truth)  regulariser = 1e-6 * l2sq
           solver = lifted(max_iter = 3000, tol = 1e-10)  figures = false }""")
    x = np.random.default_rng(0).normal(size=(7, 6)) * 3
    net = spec.network("n")
    hidden = np.clip(x @ net.params["W"].value.T + net.params["b"].value, 0.0, 6.0)
    expected = hidden @ net.params["y_W"].value.T + net.params["y_b"].value
    np.testing.assert_allclose(spec.forward(x), expected, rtol=1e-12)
    (result,) = spec.solve(out=tmp_path / "o", verbose=False)
    assert result.status == "ok" and result.report["residual"] < 1e-6
    path = spec.export_onnx(tmp_path / "n.onnx", dtype="float64")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x})
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_a_psi_without_export_is_refused_in_one_line(psis, tmp_path, capsys) -> None:
    pytest.importorskip("onnx")
    spec_file = tmp_path / "n.lbn"
    spec_file.write_text(NET.format(act="private"))
    with pytest.raises(ExportRefused, match="the activation `private` has no torch.nn"):
        lbdsl.load(spec_file).to_torch()
    assert main(["export", str(spec_file), "--out", str(tmp_path / "n.onnx")]) == 1
    err = capsys.readouterr().err
    assert "the activation `private` has no ONNX counterpart" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "n.onnx").exists()


# ---------------------------------------------------------------- a layer type without export

class DenseT(DenseLayer):
    """``dense_t(x, WIDTH)``: a created weight stored as ``size(x) × WIDTH`` and applied
    transposed — its operator, reading and runtime are here; it declares no export."""

    name: ClassVar[str] = "dense_t"
    calls: ClassVar[tuple[str, ...]] = ("dense_t",)
    usage: ClassVar[str] = "`dense_t(x, WIDTH)`"
    onnx = LayerType.onnx                     # the contract's: the refusal
    torch = LayerType.torch

    def read(self, b: Any, call: Any, target: str, in_shape: Any) -> tuple[LinearMap, str]:
        width = b.positive_int(call.args[1], "the width of `dense_t`")
        fan_in = size_of(in_shape)
        w, bias = b.created_name(target, "W", call), b.created_name(target, "b", call)
        b.create_param(w, (fan_in, width), fan_in, call)
        b.create_param(bias, (width,), fan_in, call)
        return LinearMap("dense_t", w, True, in_shape, (width,)), bias

    def describe(self, a: Any, x: str) -> str:
        return f"dense_t({x}, {a.out_shape[0]})"

    def operator(self, a: Any, weight: Any) -> Dense:
        return Dense(array_namespace(weight).matrix_transpose(weight))


@pytest.fixture
def dense_t() -> Iterator[None]:
    with LAYER_TYPES.registered(DenseT()):
        yield


def test_a_layer_type_without_export_runs_and_is_refused_by_both_exporters(
        dense_t, tmp_path, capsys) -> None:
    pytest.importorskip("onnx")
    spec_file = tmp_path / "t.lbn"
    spec_file.write_text("network t { input u : 4  h = tanh(dense_t(u, 3))  output h }")
    spec = lbdsl.load(spec_file)
    x = np.random.default_rng(1).normal(size=(5, 4))
    net = spec.network("t")
    expected = np.tanh(x @ net.params["h_W"].value + net.params["h_b"].value)
    np.testing.assert_allclose(spec.forward(x), expected, rtol=1e-12)
    assert "dense_t(u, 3)" in spec.show()
    with pytest.raises(ExportRefused, match="the layer type `dense_t` has no torch.nn module"):
        spec.to_torch()
    assert main(["export", str(spec_file), "--out", str(tmp_path / "t.onnx")]) == 1
    err = capsys.readouterr().err
    assert "the layer type `dense_t` has no ONNX export" in err and "Traceback" not in err
    assert not (tmp_path / "t.onnx").exists()
