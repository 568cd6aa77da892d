"""Small networks of every kind the lifted, coordinate and gradient solvers meet, for their tests.

Built from spec text through the real front end (parse → IR → lift), so that the tests exercise
the same operators as a run of ``lbdsl solve``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lbdsl.backend import to_numpy
from lbdsl.program import build_module
from reference_forward import forward as reference_forward
from lbdsl.lift.compact import LiftedProblem, lift
from lbdsl.syntax.parser import parse

NETWORKS = {
    # injective: leaky layers with tall full-rank matrices
    "ff2_leaky": """
        network n { input u : 4
          param A : 8x4 = normal(seed = 1)  param a : 8 = normal(seed = 2)
          param B : 12x8 = normal(std = 0.3, seed = 3)  param c : 12 = normal(seed = 4)
          h = leaky_relu(A @ u + a, a = 0.3)  y = leaky_relu(B @ h + c, a = 0.3)  output y }""",
    "ff3_mixed": """
        network n { input u : 3
          param A : 6x3 = normal(seed = 5)  param a : 6 = normal(std = 0.5, seed = 6)
          param B : 5x6 = normal(std = 0.5, seed = 7)
          param C : 4x5 = normal(std = 0.5, seed = 8)  param c : 4 = normal(seed = 9)
          h = relu(A @ u + a)  g = tanh(B @ h)  y = C @ g + c  output y }""",
    "res_tied": """
        network n { input u : 2
          repeat 3 { param W : 6x2 = normal(std = 0.3, seed = 1)
                     param b : 6 = normal(seed = 2)
                     u = u + W.T @ relu(W @ u + b) }
          output u }""",
    "res_untied": """
        network n { input u : 3
          param W : 5x3 = normal(std = 0.5, seed = 8)  param V : 3x5 = normal(std = 0.3, seed = 9)
          param b : 5 = normal(std = 0.5, seed = 10)
          u = u + V @ relu(W @ u + b)  u = u - V @ soft(W @ u + b, theta = 0.1)  output u }""",
    # a residual branch bias (the affine constraint M u = V z + c) and a tied convolution pair
    "res_branch_bias": """
        network n { input u : 3
          param W : 5x3 = normal(std = 0.5, seed = 8)  param V : 3x5 = normal(std = 0.3, seed = 9)
          param b : 5 = normal(std = 0.5, seed = 10)  param c : 3 = normal(seed = 11)
          u = u + V @ relu(W @ u + b) + c  u = u - W.T @ tanh(W @ u + b) - c  output u }""",
    "terms_conv": """
        network n { input z : 1x4x4
          param L : 2x1x3x3 = normal(std = 0.5, seed = 12)
          u = leaky_relu(L @ z, a = 0.5)
          x = leaky_relu(z + 0.5 * L.T @ u - 0.2 * L.T @ (L @ z), a = 0.5)  output x }""",
    "shallow": """
        network n { input u : 1
          param w : 6x1 = ones  param b : 6 = linspace(0, -1.2)
          param c : 1x6 = uniform(0.2, 0.6, seed = 3)
          y = c @ relu(w @ u + b)  output y }""",
    "conv_tv": """
        network n { input u : 6x6
          param K : 12x32 = normal(std = 0.3, seed = 4)
          h = leaky_relu(conv2d(u, 2, kernel = 3, padding = 0), a = 0.5)
          y = K @ h  output y }""",
    "single_relu": """
        network n { input u : 6
          param W : 12x6 = normal(seed = 11)  param b : 12 = normal(seed = 12)
          h = relu(W @ u + b)  output h }""",
    "single_sigmoid": """
        network n { input u : 5
          param W : 9x5 = normal(std = 0.5, seed = 13)  param b : 9 = normal(std = 0.5, seed = 14)
          h = sigmoid(W @ u + b)  output h }""",
    "single_identity": """
        network n { input u : 5
          param W : 8x5 = normal(seed = 15)  param b : 8 = normal(seed = 16)
          y = W @ u + b  output y }""",
    # for the backpropagation tests: every Ψ, every layer kind
    "every_psi": """
        network n { input u : 3x4
          h1 = leaky_relu(dense(u, 7), a = 0.2)  h2 = soft(dense(h1, 6), theta = 0.1)
          h3 = clip(dense(h2, 5), lo = -0.3, hi = 0.4)  h4 = sigmoid(dense(h3, 5))
          h5 = softmax(dense(h4, 4))  h6 = hardtanh(dense(h5, 3))  h7 = relu(dense(h6, 3))
          h8 = tanh(dense(h7, 3))  y = dense(h8, 2)  output y }""",
    "transposed_linear": """
        network n { input u : 5
          param A : 5x7 = normal(seed = 5)  param b : 7 = normal(seed = 6)
          param C : 3x7 = normal(seed = 7)
          h = relu(A.T @ u + b)  y = C @ h  output y }""",
    "res_every_sign": """
        network n { input u : 4
          param W : 6x4 = normal(std = 0.5, seed = 1)  param b : 6 = normal(seed = 2)
          param V : 4x6 = normal(std = 0.5, seed = 3)
          u = u + W.T @ relu(W @ u + b)  u = u - W.T @ tanh(W @ u + b)
          u = u + V @ sigmoid(W @ u + b)  u = u - V @ soft(W @ u + b, theta = 0.2)  output u }""",
    "conv": """
        network n { input u : 2x7x6
          h = relu(conv2d(u, 3, kernel = 3, stride = 2, padding = 1))
          g = tanh(conv2d(h, 2, kernel = 2))  y = dense(g, 5)  output y }""",
    "linear_image": """
        network n { input u : 5x5
          param W : 15x25 = normal(std = 0.3, seed = 21)
          y = W @ u  output y }""",
}


def network(name: str) -> Any:
    return build_module(parse(NETWORKS[name], f"<{name}>")).networks["n"]


def lifted(name: str, xp: Any = None, dtype: Any = None) -> LiftedProblem:
    return lift(network(name), xp, dtype)


def output_of(name: str, u0: np.ndarray) -> np.ndarray:
    """``N(u0)`` by the IR's reference evaluator (independent of the lifting), flat per item."""
    net = network(name)
    u0 = np.asarray(u0, dtype=float)
    batch = u0.shape[:-1] if u0.ndim > 1 else ()
    values = reference_forward(net, u0.reshape(*batch, -1))
    return values[net.output].reshape(*batch, -1)


def host(x: Any) -> np.ndarray:
    return np.asarray(to_numpy(x), dtype=float)
