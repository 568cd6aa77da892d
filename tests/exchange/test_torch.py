"""PyTorch modules in (``from_torch``: through ``torch.onnx``) and out (``to_torch``,
``torch_state``): the imported spec computes what the module computes, and the module built
from a spec computes what ``spec.forward`` computes."""

from __future__ import annotations

import numpy as np
import pytest

import lbdsl
from lbdsl.errors import LbdslError
from lbdsl.exchange import torch_state

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")


class Residual(torch.nn.Module):
    def __init__(self, n: int, width: int) -> None:
        super().__init__()
        self.A = torch.nn.Linear(n, width)
        self.V = torch.nn.Linear(width, n, bias=False)

    def forward(self, x):
        return x + self.V(torch.relu(self.A(x)))


def _models():
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                              torch.nn.Linear(8, 5), torch.nn.LeakyReLU(0.1),
                              torch.nn.Linear(5, 3), torch.nn.Sigmoid())
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, stride=2, padding=1),
                               torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Conv2d(4, 2, 3), torch.nn.Hardtanh(),
                               torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 7))
    res = torch.nn.Sequential(torch.nn.Flatten(), Residual(6, 10), Residual(6, 4),
                              torch.nn.Linear(6, 2), torch.nn.Softmax(dim=1))
    for m in (mlp, conv):   # running statistics that are not the identity
        for bn in (b for b in m if isinstance(b, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return [(mlp, (6,)), (conv, (1, 12, 12)), (res, (6,))]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_from_torch_computes_what_the_module_computes(index, tmp_path):
    module, shape = _models()[index]
    x = torch.randn(9, *shape, generator=torch.Generator().manual_seed(1))
    spec = lbdsl.from_torch(module, x[:2], out=tmp_path, name="m")
    with torch.no_grad():
        expected = module.eval()(x).numpy()
    got = spec.forward(x.numpy().astype(np.float64))
    # the module runs in float32; the spec computes in float64 from the float32 weights
    assert np.max(np.abs(got - expected)) <= 1e-5 * max(1.0, np.abs(expected).max())
    assert (tmp_path / "m.lbn").exists() and (tmp_path / "m.npz").exists()


def test_a_module_with_an_op_outside_the_language_is_refused_in_one_line(tmp_path):
    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU())
    with pytest.raises(LbdslError, match=r"^from_torch\(Sequential\): node '.*' \(Gelu\): "
                                         r"Gelu is not a proximal map"):
        lbdsl.from_torch(module, torch.zeros(1, 4), out=tmp_path)


CHAIN = """
network chain {
    input u : 2x3
    h = relu(dense(u, 5))
    param W : 4x5 = normal(std = 0.5, seed = 1)
    g = soft(W @ h, theta = 0.1)
    y = softmax(dense(g, 3))
    output y
}
"""


def test_to_torch_and_the_state_dict_compute_what_spec_forward_computes(tmp_path):
    spec = lbdsl.loads(CHAIN)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    model = spec.to_torch()
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    assert np.allclose(got, spec.forward(x), rtol=1e-12, atol=1e-14)
    # the documented snippet: the same Sequential written by hand, loaded from the arrays
    np.savez(tmp_path / "chain_state.npz", **torch_state(spec.network()))
    with np.load(tmp_path / "chain_state.npz") as npz:
        state = {k: npz[k] for k in npz.files}
    by_hand = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 5), torch.nn.ReLU(),
                                  torch.nn.Linear(5, 4, bias=False), torch.nn.Softshrink(0.1),
                                  torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1)).double()
    by_hand.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    with torch.no_grad():
        assert np.array_equal(by_hand(torch.from_numpy(x)).numpy(), got)


def test_a_residual_network_has_no_sequential():
    with pytest.raises(LbdslError, match="residual layer, which nn.Sequential cannot express"):
        lbdsl.load("specs/residual_tied_5.lbn").to_torch()


def test_to_torch_of_an_image_softmax_and_an_hxw_convolution():
    spec = lbdsl.loads("network s { input u : 5x5  f = relu(conv2d(u, 2, kernel = 3))  "
                       "g = softmax(conv2d(f, 2, kernel = 1))  y = dense(g, 3)  output y }")
    x = np.random.default_rng(1).standard_normal((4, 5, 5))
    with torch.no_grad():
        got = spec.to_torch()(torch.from_numpy(x)).numpy()
    assert np.allclose(got, spec.forward(x), rtol=1e-12, atol=1e-14)


def test_to_torch_of_a_transposed_convolution_decoder():
    """``dense(x, CxHxW)`` is ``Linear`` then ``Unflatten``; ``conv2d_t`` is
    ``ConvTranspose2d`` with its stride per axis and output padding."""
    spec = lbdsl.loads("network d { input u : 5  h = relu(dense(u, 2x3x4))  "
                       "y = sigmoid(conv2d_t(h, 3, kernel = 3, stride = 2x1, padding = 1, "
                       "output_padding = 1x0))  output y }")
    x = np.random.default_rng(2).standard_normal((4, 5))
    with torch.no_grad():
        got = spec.to_torch()(torch.from_numpy(x)).numpy()
    assert got.shape == (4, 3, 6, 4)
    assert np.allclose(got, spec.forward(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layer", ["y = relu(W @ u + 0.5 * u)", "y = relu(W @ (W @ u))",
                                   "y = relu(W @ u + b + c)"])
def test_a_layer_beyond_one_map_and_a_bias_has_no_sequential(layer):
    spec = lbdsl.loads("network s { input u : 4  param W : 4x4 = eye  param b : 4 = zeros  "
                       f"param c : 4 = ones  {layer}  output y }}")
    with pytest.raises(LbdslError, match="is not one map and a bias, which nn.Sequential "
                                         "cannot express; export to ONNX instead") as err:
        spec.to_torch()
    assert "\n" not in str(err.value)


def test_elu_comes_in_from_torch_and_goes_back_out(tmp_path):
    """``nn.ELU`` at PyTorch's default α = 1 (and α = 0.5, and ``nn.CELU`` at α = 1, which is
    the same map) imports as ``elu(alpha = α)``; ``to_torch`` gives ``nn.ELU(α)`` back; α > 1
    (not 1-Lipschitz) is refused in one line."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ELU(), torch.nn.Linear(8, 6),
                                 torch.nn.ELU(alpha=0.5), torch.nn.Linear(6, 4), torch.nn.CELU())
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(1))
    spec = lbdsl.from_torch(module, x[:2], out=tmp_path, name="m")
    text = (tmp_path / "m.lbn").read_text()
    assert "elu(W1 @ u + b1, alpha = 1.0)" in text and "alpha = 0.5)" in text, text
    with torch.no_grad():
        expected = module.eval()(x).numpy()
    got = spec.forward(x.numpy().astype(np.float64))
    assert np.max(np.abs(got - expected)) <= 1e-5 * max(1.0, np.abs(expected).max())
    back = spec.to_torch()
    assert [m.alpha for m in back if isinstance(m, torch.nn.ELU)] == [1.0, 0.5, 1.0]
    with torch.no_grad():
        again = back(torch.from_numpy(x.numpy().astype(np.float64))).numpy()
    assert np.allclose(again, got, rtol=1e-12, atol=1e-14)
    steep = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ELU(alpha=1.5))
    with pytest.raises(LbdslError, match=r"\(Elu\): Elu with alpha = 1.5 is not a proximal map"):
        lbdsl.from_torch(steep, torch.zeros(1, 4), out=tmp_path, name="steep")
