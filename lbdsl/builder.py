"""Networks built in Python: a builder that writes the spec a user would have written.

    >>> net = lbdsl.Network("enc", input=(8, 8))
    >>> net.dense(W1, b1, "relu").dense(W2, b2, "leaky_relu", a=0.1)
    >>> net.residual(V, A, c, "relu")          # h = h + V @ relu(A @ h + c)
    >>> spec = net.spec()                      # an lbdsl.Spec, as if loaded from net.to_text()
    >>> net.save("models/")                    # models/enc.lbn + models/enc.npz

Each call adds one statement of docs/language.md §3 (``h1 = relu(W1 @ u + b1)``, …) and its
arrays under the parameter names it writes (``W1``, ``b1``, ``V3``, …); :meth:`Network.spec`
builds that text through the same parser and IR as a file, so a built network *is* the
equivalent spec (the test compares their lifted blocks and weights).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .backend import real_array
from .errors import LbdslError
from .outputs import write_npz_atomic, write_text_atomic
from .syntax.grammar import keywords

__all__ = ["Network"]


def _keywords(kws: dict[str, float]) -> str:
    return "".join(f", {k} = {float(v)!r}" for k, v in kws.items())


class Network:
    """A network under construction: ``input`` its shape (without a batch axis)."""

    def __init__(self, name: str, input: tuple[int, ...] | int) -> None:  # noqa: A002
        if not (isinstance(name, str) and name.isidentifier()) or name in keywords():
            raise LbdslError(f"{name!r} is not a network name (letters, digits and _, not a "
                             "word of the language)")
        dims = (input,) if isinstance(input, (int, np.integer)) else input
        if isinstance(dims, str) or not all(isinstance(d, (int, np.integer)) and d >= 1
                                            for d in dims):
            raise LbdslError(f"input must be a positive integer or a tuple of them, got "
                             f"{input!r}")
        self.name = name
        self.input_shape = tuple(int(d) for d in dims)
        self.params: list[tuple[str, tuple[int, ...], str]] = []   # name, shape, init text
        self.arrays: dict[str, np.ndarray] = {}
        self.statements: list[str] = []
        self.current = "u"
        self.shape = self.input_shape      # of the current variable: checked at each call
        self.k = 0

    def __repr__(self) -> str:
        return (f"<lbdsl.Network {self.name}: input {self.input_shape}, "
                f"{len(self.statements)} layers>")

    # -- statements ----------------------------------------------------------------------------
    def _param(self, base: str, value: Any) -> str:
        name = f"{base}{self.k}"
        array = real_array(value, f"{self.name}: {name}")
        self.arrays[name] = array
        self.params.append((name, array.shape, f'load("{self.name}.npz", "{name}")'))
        return name

    def _next(self) -> str:
        self.k += 1
        return f"h{self.k}"

    def _activation(self, call: str, activation: str, params: dict[str, float]) -> None:
        """Refuse an activation the catalogue does not have, or bad parameters, here — not
        later, at :meth:`spec`, with a caret into text the user never wrote."""
        from .prox.registry import ACTIVATIONS, explain_unknown, make_activation

        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            message, hint = explain_unknown(str(activation))
            raise LbdslError(f"{self.name}.{call}: {message}" + (f" ({hint})" if hint else ""))
        try:
            make_activation(activation, **params)
        except ValueError as exc:
            raise LbdslError(f"{self.name}.{call}: {exc}") from None

    def _matrix(self, call: str, label: str, value: Any, cols: int) -> np.ndarray:
        """``value`` as a matrix with ``cols`` columns (what the current variable has)."""
        array = real_array(value, f"{self.name}.{call}: {label}")
        if array.ndim != 2 or array.shape[1] != cols:
            raise LbdslError(f"{self.name}.{call}: {label} must be a matrix with {cols} columns "
                             f"(the entries of {self.current}, shape {self.shape}), got shape "
                             f"{array.shape}")
        return array

    def _vector(self, call: str, label: str, value: Any, rows: int) -> np.ndarray:
        array = real_array(value, f"{self.name}.{call}: {label}")
        if array.size != rows:
            raise LbdslError(f"{self.name}.{call}: {label} must have {rows} entries (the rows "
                             f"of the matrix), got shape {array.shape}")
        return array.reshape(rows)

    def dense(self, W: Any, b: Any = None, activation: str = "identity",
              **params: float) -> Network:
        """``h = σ(W @ x + b)`` on the last variable (``identity``: a linear layer)."""
        self._activation("dense", activation, params)
        W = self._matrix("dense", "W", W, int(np.prod(self.shape)))
        b = None if b is None else self._vector("dense", "b", b, W.shape[0])
        target = self._next()
        affine = f"{self._param('W', W)} @ {self.current}"
        if b is not None:
            affine += f" + {self._param('b', b)}"
        self.shape = (W.shape[0],)
        text = affine if activation == "identity" and not params else \
            f"{activation}({affine}{_keywords(params)})"
        self.statements.append(f"{target} = {text}")
        self.current = target
        return self

    def conv2d(self, K: Any, c: Any = None, activation: str = "identity", *, stride: int = 1,
               padding: int = 0, **params: float) -> Network:
        """``h = σ(conv2d(x, K) + c)``, ``K`` of shape ``(C_out, C_in, kh, kw)``."""
        self._activation("conv2d", activation, params)
        K = real_array(K, f"{self.name}: conv2d kernel")
        if K.ndim != 4:
            raise LbdslError(f"conv2d: the kernel must be (C_out, C_in, kh, kw), got {K.shape}")
        channels, *image = (1, *self.shape) if len(self.shape) == 2 else self.shape
        if len(image) != 2 or K.shape[1] != channels:
            raise LbdslError(f"{self.name}.conv2d: the kernel {K.shape} takes {K.shape[1]} "
                             f"channel(s), but {self.current} has shape {self.shape} "
                             "(C, H, W or H, W)")
        target = self._next()
        self.arrays[f"{target}_W"] = K
        self.arrays[f"{target}_b"] = (np.zeros(K.shape[0]) if c is None
                                      else real_array(c, f"{self.name}: conv2d bias").reshape(-1))
        kh, kw = K.shape[2:]
        k = str(kh) if kh == kw else f"{kh}x{kw}"
        affine = (f"conv2d({self.current}, {K.shape[0]}, kernel = {k}, stride = {stride}, "
                  f'padding = {padding}, init = load("{self.name}.npz"))')
        text = affine if activation == "identity" and not params else \
            f"{activation}({affine}{_keywords(params)})"
        self.statements.append(f"{target} = {text}")
        self.current = target
        kh, kw = K.shape[2:]
        self.shape = (K.shape[0], (image[0] + 2 * padding - kh) // stride + 1,
                      (image[1] + 2 * padding - kw) // stride + 1)
        return self

    def residual(self, V: Any, A: Any, b: Any = None, activation: str = "relu",
                 sign: int = 1, **params: float) -> Network:
        """``h = x ± V @ σ(A @ x + b)`` on the last variable ``x``."""
        if sign not in (1, -1):
            raise LbdslError(f"residual: sign must be 1 or -1, got {sign!r}")
        self._activation("residual", activation, params)
        n = int(np.prod(self.shape))
        A = self._matrix("residual", "A", A, n)
        b = None if b is None else self._vector("residual", "b", b, A.shape[0])
        V = real_array(V, f"{self.name}.residual: V")
        if V.shape != (n, A.shape[0]):
            raise LbdslError(f"{self.name}.residual: V must be {n}x{A.shape[0]} (back to the "
                             f"{n} entries of {self.current}), got shape {V.shape}")
        target = self._next()
        affine = f"{self._param('A', A)} @ {self.current}"
        if b is not None:
            affine += f" + {self._param('b', b)}"
        v = self._param("V", V)
        op = "+" if sign == 1 else "-"
        self.statements.append(f"{target} = {self.current} {op} {v} @ "
                               f"{activation}({affine}{_keywords(params)})")
        self.current = target
        return self

    # -- out ---------------------------------------------------------------------------------
    def to_text(self) -> str:
        """The ``.lbn`` text (its ``load`` calls read ``NAME.npz`` beside it)."""
        if not self.statements:
            raise LbdslError(f"network {self.name} has no layers yet")
        shape = "x".join(str(d) for d in self.input_shape)
        lines = [f"network {self.name} {{", f"    input u : {shape}"]
        lines += [f"    param {n} : {'x'.join(map(str, s))} = {init}"
                  for n, s, init in self.params]
        lines += [f"    {st}" for st in self.statements]
        lines += [f"    output {self.current}", "}", ""]
        return "\n".join(lines)

    def save(self, folder: str | Path = ".") -> tuple[Path, Path]:
        """Write ``folder/NAME.lbn`` and ``folder/NAME.npz`` (each whole or not at all)."""
        folder = Path(folder)
        spec, weights = folder / f"{self.name}.lbn", folder / f"{self.name}.npz"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_npz_atomic(weights, self.arrays)
            write_text_atomic(spec, self.to_text())
        except OSError as exc:
            raise LbdslError(f"cannot write into {folder}: {exc.strerror or exc}") from None
        return spec, weights

    def spec(self, tasks: str = "") -> Any:
        """The :class:`~lbdsl.api.Spec` of :meth:`to_text` (plus ``tasks``, spec text of tasks
        on this network).  Its weights live in a temporary folder that lasts as long as the
        spec (``--set`` overrides re-read them) and is removed with it."""
        from .api import loads

        folder = tempfile.TemporaryDirectory(prefix="lbdsl-")
        self.save(folder.name)
        path = Path(folder.name) / f"{self.name}.npz"
        spec = loads(self.to_text().replace(f'load("{self.name}.npz"', f'load("{path}"')
                     + tasks)
        spec.keep = folder
        return spec
