"""Linear expressions as pre-activations: skip inputs, sums, multiples, compositions, transposed
and tied convolutions, image-shaped dense outputs, residual branch biases.

Each network's forward pass (the runtime's, ``spec.forward``) is checked against the tests'
reference forward pass (``reference_forward``: plain NumPy, a direct scatter for the transposed
convolution) and, for the convolutions, against PyTorch's functional ops; the text ``lbdsl
show`` prints for every layer, read back as a spec, computes the same network.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import lbdsl
from ir_helpers import build_net
from lbdsl.ir.nodes import Residual
from lbdsl.ir.show import step_text
from reference_forward import forward as reference_forward

SKIP = """
network skip {
    input  z : 6
    param  A : 5x6 = normal(seed = 1)
    param  B : 5x5 = normal(seed = 2)
    param  C : 5x6 = normal(seed = 3)
    param  b : 5 = normal(seed = 4)
    h = relu(A @ z + b)
    y = tanh(B @ h + C @ z - 0.5 * h + 2 * (B @ h - h))
    w = B @ (B.T @ y) - y
    output w
}
"""

# the seed's proximal network (Wang, Benning & Repetti): dual forward–backward, kernels tied
PNN = """
network pnn {
    input  z : 1x8x7
    param  L1 : 4x1x3x3 = normal(std = 0.3, seed = 1)
    param  L2 : 4x1x3x3 = normal(std = 0.3, seed = 2)
    u = clip(0.5 * L1 @ z, lo = -0.1, hi = 0.1)
    u = clip(u - 0.5 * L2 @ (L2.T @ u - z), lo = -0.1, hi = 0.1)
    x = z - L2.T @ u
    output x
}
"""

CONV_AE = """
network ae {
    input  img : 12x12
    e = relu(conv2d(img, 3, kernel = 3, stride = 2, padding = 1))
    param  K : 2x3x3x2 = normal(std = 0.3, seed = 5)
    f = tanh(conv(K, e, stride = 2x1, padding = 1x0))
    code = relu(dense(f, 6))
    d = relu(dense(code, 3x6x6))
    y = sigmoid(conv2d_t(d, 1, kernel = 3, stride = 2, padding = 1, output_padding = 1))
    v = conv_t(K, f, stride = 2x1, padding = 1x0, output_padding = 1x0)
    output y
}
"""

BRANCH_BIAS = """
network rb {
    input  x : 6
    param  W : 4x6 = normal(std = 0.5, seed = 0)
    param  b : 4 = normal(seed = 1)
    param  V : 6x4 = normal(std = 0.5, seed = 2)
    param  c : 6 = normal(seed = 3)
    param  d : 6 = normal(seed = 4)
    x = x + V @ relu(W @ x + b) + c
    x = x - W.T @ tanh(W @ x + b) - d
    output x
}
"""

NETS = {"skip": SKIP, "pnn": PNN, "conv_ae": CONV_AE, "branch_bias": BRANCH_BIAS}


@pytest.mark.parametrize("name", NETS)
def test_the_runtime_is_the_reference_forward_pass(name):
    spec = lbdsl.loads(NETS[name])
    net = spec.network()
    x = np.random.default_rng(0).standard_normal((3, *net.input_shape))
    ref = reference_forward(net, x)
    np.testing.assert_allclose(spec.forward(x), ref[net.output], rtol=1e-12, atol=1e-12)


def test_the_proximal_network_and_the_convolutions_are_pytorchs():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    net = build_net(PNN)
    z = np.random.default_rng(1).standard_normal((2, 1, 8, 7))
    L1, L2 = (torch.from_numpy(net.params[k].value) for k in ("L1", "L2"))
    zt = torch.from_numpy(z)
    u = torch.clamp(0.5 * F.conv2d(zt, L1, padding=1), -0.1, 0.1)
    u = torch.clamp(u - 0.5 * F.conv2d(F.conv_transpose2d(u, L2, padding=1) - zt, L2,
                                       padding=1), -0.1, 0.1)
    x = zt - F.conv_transpose2d(u, L2, padding=1)
    np.testing.assert_allclose(reference_forward(net, z)["x"], x.numpy(), rtol=1e-12,
                               atol=1e-12)

    ae = build_net(CONV_AE)
    img = np.random.default_rng(2).standard_normal((2, 12, 12))
    vals = reference_forward(ae, img)
    p = {k: torch.from_numpy(v.value) for k, v in ae.params.items()}
    e = torch.relu(F.conv2d(torch.from_numpy(img)[:, None], p["e_W"], p["e_b"], 2, 1))
    f = torch.tanh(F.conv2d(e, p["K"], stride=(2, 1), padding=(1, 0)))
    code = torch.relu(f.flatten(1) @ p["code_W"].T + p["code_b"])
    d = torch.relu(code @ p["d_W"].T + p["d_b"]).view(-1, 3, 6, 6)
    y = torch.sigmoid(F.conv_transpose2d(d, p["y_W"], p["y_b"], 2, 1, 1))
    v = F.conv_transpose2d(f, p["K"], stride=(2, 1), padding=(1, 0), output_padding=(1, 0))
    np.testing.assert_allclose(vals["y"], y.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vals["v"], v.numpy(), rtol=1e-12, atol=1e-12)
    assert ae.shapes["d"] == (3, 6, 6) and ae.shapes["v"] == e.shape[1:]
    # PyTorch's ConvTranspose2d layout (C_in, C_out, k, k) and fan-in C_out·k²
    assert ae.params["y_W"].shape == (3, 1, 3, 3)
    assert np.abs(ae.params["y_W"].value).max() <= 1 / 3


@pytest.mark.parametrize("name", NETS)
def test_what_show_prints_is_the_same_network(name, tmp_path):
    """Every layer as ``lbdsl show`` writes it (the sums distributed, a created weight by its
    name) read back as a spec over the same weights: the same forward pass."""
    net = build_net(NETS[name])
    np.savez(tmp_path / "w.npz", **{k: p.value for k, p in net.params.items()})
    npz = tmp_path / "w.npz"
    lines = [f"    input {net.input} : {'x'.join(map(str, net.input_shape))}"]
    lines += [f'    param {p.name} : {"x".join(map(str, p.shape))} = load("{npz}", "{p.name}")'
              for p in net.params.values() if not p.created]
    for step in net.layers:
        # a creating call reads its weights from the file, under their created names
        text = re.sub(r"\b(dense|conv2d|conv2d_t)\(([^()]*)\)",
                      lambda m: f'{m[1]}({m[2]}, init = load("{npz}"))', step_text(net, step))
        lines.append(f"    {net.variables[step.out].name} = {text}")
    source = "network again {\n" + "\n".join(lines) + f"\n    output {net.output}\n}}\n"
    source = re.sub(r"#\d+", "", source)
    again = lbdsl.loads(source)
    x = np.random.default_rng(3).standard_normal((2, *net.input_shape))
    np.testing.assert_allclose(again.forward(x), lbdsl.loads(NETS[name]).forward(x),
                               rtol=1e-12, atol=1e-12)
    assert len(again.network().layers) == len(net.layers)


def test_the_ir_of_each_form():
    net = build_net(SKIP)
    h, y, w = net.layers
    assert [t.input for t in y.affine.terms] == ["h", "z", "h", "h", "h"]
    assert [t.coef for t in y.affine.terms] == [1.0, 1.0, -0.5, 2.0, -2.0]
    assert y.affine.inputs == ("h", "z") and y.affine.map is None and y.affine.input is None
    (t1, t2) = w.affine.terms
    assert [(m.weight, m.transposed) for m in t1.maps] == [("B", False), ("B", True)]
    assert t2.maps == () and t2.coef == -1.0
    pnn = build_net(PNN)
    m = pnn.layers[1].affine.terms[1].maps
    assert [(x.kind, x.weight, x.transposed, x.padding) for x in m] == [
        ("conv", "L2", False, 1), ("conv", "L2", True, 1)]
    rb = build_net(BRANCH_BIAS)
    assert all(isinstance(s, Residual) for s in rb.layers)
    assert [s.branch_bias for s in rb.layers] == ["c", "d"] and rb.layers[1].tied
