"""The linear ops of an ONNX graph, read by the importer (:mod:`.onnx_import`): matrix
products, convolutions and their transposes, batch normalization, and the linear ops the
language has no structured form of (their matrices); pooling and resizing are
:mod:`.onnx_resample`'s.

A mixin of the importer's translator: each ``op_X`` reads a node through the translator's
``value`` / ``const`` / ``weight`` and records its output as a :class:`~.onnx_linear.Lin` with
``put``; a node it cannot read exactly is refused in one line (``refuse``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..ops.conv import Pair, one_or_pair
from .onnx_linear import Lin, Map, Weight, attrs, conv_map, label, matrix_map

__all__ = ["LinearOps"]

#: The most entries a diagonal map (a BatchNormalization nothing can absorb) may scale.
MAX_DIAGONAL = 1024
#: The most entries of the matrix of a linear op the language has no structured form of, and
#: the most columns (it is built from the unit samples, a block at a time).
MAX_MATRIX = 1 << 20
MAX_MATRIX_COLUMNS = 1 << 16


class LinearOps:
    """The translator's linear ops (mixed into ``_Translator``)."""

    def op_Transpose(self, node: Any) -> None:
        """Of a constant: folded (a matrix's transpose remembered, so that ``Bᵀ`` and ``B``
        are one parameter); of a variable: its permutation matrix, the batch axis kept."""
        src = node.input[0]
        if src in self.consts:
            value = self.consts[src]
            perm = attrs(node).get("perm", list(range(value.ndim))[::-1])
            self.consts[node.output[0]] = np.transpose(value, perm)
            if value.ndim == 2 and list(perm) == [1, 0]:
                root, flipped = self.roots.get(src, (src, False))
                self.roots[node.output[0]] = (root, not flipped)
            return
        rank = len(self.shape_of(src)) + 1
        perm = [int(p) for p in attrs(node).get("perm", list(range(rank))[::-1])]
        if sorted(perm) != list(range(rank)) or perm[:1] != [0]:
            self.refuse(node, f"perm {perm} is not a permutation of the {rank} axes that keeps "
                        "the batch first")
        self.linear_op(node, lambda a: np.transpose(a, perm))

    def linear_op(self, node: Any, fn: Any, bias: Any = None, why: str = "") -> None:
        """An op that is linear in its one variable input, by its NumPy action on a batch;
        ``bias(out_shape)`` what it adds (an affine op's constant), if anything; ``why``: the
        reason it is a matrix, for a refusal of one too large."""
        src = node.input[0]
        if src in self.consts:
            self.refuse(node, "computes with constants only")
        x = self.value(node, src)
        shape = self.shape_of(src)
        out = self.out_shape(node, shape, fn)
        lin = self.matrix_of(node, x, shape, fn, "M", out, why)
        if bias is not None:
            lin = lin.plus_constant(bias(out))
        self.put(node, lin.noted(label(node)), out)

    def out_shape(self, node: Any, shape: tuple[int, ...], fn: Any) -> tuple[int, ...]:
        """What ``fn`` makes of a sample of ``shape``, found on an empty batch (nothing of the
        output's size is made), checked against the size lbdsl allocates."""
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")          # the mean of an empty batch
                out = tuple(int(d) for d in np.asarray(fn(np.zeros((0, *shape)))).shape[1:])
        except (ValueError, IndexError, TypeError) as exc:
            self.refuse(node, f"it cannot be applied to a {shape} sample ({exc})")
        self.check_size(node, out)
        return out

    def reduce(self, node: Any, mean: bool) -> None:
        """``ReduceSum`` / ``ReduceMean`` over axes that are not the batch's (the attribute,
        or the second input from opset 13 / 18; none given: every axis, unless
        ``noop_with_empty_axes``)."""
        a = attrs(node)
        rank = len(self.shape_of(node.input[0])) + 1
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.ints(node, node.input[1], "the axes")
        if not axes:
            if int(a.get("noop_with_empty_axes", 0)):
                return self.alias(node)
            axes = list(range(rank))
        if any(not -rank <= int(x) < rank for x in axes) or 0 in {int(x) % rank for x in axes}:
            self.refuse(node, f"axes {list(axes)} of a rank-{rank} tensor are not read (the "
                        "batch axis is not reduced)")
        axes = sorted({int(x) % rank for x in axes})
        keep = bool(int(a.get("keepdims", 1)))
        self.linear_op(node, lambda x: (np.mean if mean else np.sum)(x, axis=tuple(axes),
                                                                      keepdims=keep))

    def op_ReduceSum(self, node: Any) -> None:
        self.reduce(node, False)

    def op_ReduceMean(self, node: Any) -> None:
        self.reduce(node, True)

    def op_Slice(self, node: Any) -> None:
        """Of a variable: its matrix (the batch axis not sliced); of a constant: folded (a
        shape's batch entry moved with it)."""
        a, src = attrs(node), node.input[0]
        const = src in self.consts
        full = tuple(self.consts[src].shape) if const else (1, *self.shape_of(src))
        rank = len(full)
        if "starts" in a:                        # opset < 10: attributes
            starts, ends = list(a["starts"]), list(a["ends"])
            axes = list(a.get("axes", range(len(starts))))
            steps = [1] * len(starts)
        else:
            starts, ends = (self.ints(node, n, w)
                            for n, w in zip(node.input[1:3], ("the starts", "the ends")))
            axes = (self.ints(node, node.input[3], "the axes")
                    if len(node.input) > 3 and node.input[3] else list(range(len(starts))))
            steps = (self.ints(node, node.input[4], "the steps")
                     if len(node.input) > 4 and node.input[4] else [1] * len(starts))
        index = [slice(None)] * rank
        if len(set(map(len, (starts, ends, axes, steps)))) != 1 or 0 in steps \
                or any(not -rank <= int(x) < rank for x in axes):
            self.refuse(node, f"starts {starts}, ends {ends}, axes {axes}, steps {steps} are "
                        "not a slice (one of each per axis, no zero step)")
        for axis, lo, hi, step in zip(axes, starts, ends, steps):
            axis = int(axis) % rank
            if not const and axis == 0 and slice(lo, hi, step).indices(1) != (0, 1, 1):
                self.refuse(node, "it slices the batch axis")
            index[axis] = slice(int(max(min(lo, full[axis]), -full[axis] - 1)),
                                int(max(min(hi, full[axis]), -full[axis] - 1)), int(step))
        if const:
            return self.moved(node, lambda v: v[0][tuple(index)], [src])
        index[0] = slice(None)
        self.linear_op(node, lambda x: x[tuple(index)])

    def op_Tile(self, node: Any) -> None:
        reps = self.ints(node, node.input[1], "the repeats")
        if len(reps) != len(self.shape_of(node.input[0])) + 1 or reps[0] != 1 or min(reps) < 1:
            self.refuse(node, f"repeats {reps} are not one positive count per axis with the "
                        "batch's 1")
        self.linear_op(node, lambda x: np.tile(x, reps))

    def op_Pad(self, node: Any) -> None:
        """Zero padding (a ``constant`` value adds a bias), ``reflect`` and ``edge``: linear."""
        a, shape = attrs(node), self.shape_of(node.input[0])
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        pads = a.get("pads")
        if pads is None:
            pads = self.ints(node, node.input[1], "the pads")
        value = float(a.get("value", 0.0))
        if len(node.input) > 2 and node.input[2]:
            value = self.scalar(node, node.input[2], "the constant value")
        rank = len(shape) + 1
        if len(pads) != 2 * rank or pads[0] or pads[rank] or min(pads) < 0 \
                or mode not in ("constant", "reflect", "edge") or len(node.input) > 3:
            self.refuse(node, f"{mode} padding by {pads} is not read (the batch axis unpadded, "
                        "no negative or per-axis selection)")
        width = [(int(pads[i]), int(pads[i + rank])) for i in range(rank)]
        bias = None
        if mode == "constant" and value != 0.0:     # made once the output's size is checked
            bias = lambda out: np.pad(np.zeros((1, *shape)), width,  # noqa: E731
                                      constant_values=value).reshape(-1)
        self.linear_op(node, lambda x: np.pad(x, width, mode=mode), bias)

    # -- linear maps -------------------------------------------------------------------------
    def weight(self, node: Any, name: str, what: str, stem: str) -> tuple[Weight, bool]:
        """The parameter behind the constant ``name`` (one per ONNX initializer: a kernel read
        by two nodes is one parameter) and whether ``name`` is its transpose."""
        root, flipped = self.roots.get(name, (name, False))
        w = self.weights.get(root)
        if w is None:
            w = self.weights[root] = Weight(root, self.const(node, root, what), stem)
        return w, flipped

    def flat(self, node: Any, name: str) -> Lin:
        """The input of a matrix product: ``(batch, n)`` in ONNX."""
        lin = self.value(node, name)
        shape = self.shape_of(name)
        if len(shape) != 1:
            self.refuse(node, f"its input has shape {shape} after the batch axis; a MatMul of "
                        "(batch, n) by a matrix is an affine map here (flatten it first)")
        return lin

    def matrix(self, node: Any, x: Lin, name: str, transposed: bool, what: str) -> Lin:
        w, flipped = self.weight(node, name, what, "W")
        if w.value.ndim != 2:
            self.refuse(node, f"{what} has shape {w.value.shape}, not a matrix")
        m = matrix_map(w, transposed != flipped, x.shape)
        if m.matrix.shape[1] != x.size:
            self.refuse(node, f"its weight takes {m.matrix.shape[1]} entries, its input has "
                        f"{x.size}")
        return x.mapped(m)

    def op_Gemm(self, node: Any) -> None:
        a = attrs(node)
        if int(a.get("transA", 0)):
            self.refuse(node, "transA = 1 (the input transposed) is not an affine map of x")
        x = self.flat(node, node.input[0])
        lin = self.matrix(node, x, node.input[1], not int(a.get("transB", 0)), "the weight B")
        alpha = float(a.get("alpha", 1.0))
        if alpha != 1.0:     # into W when nothing else reads it, else a coefficient
            lin = self._folded(lin, np.full(lin.size, alpha), np.full(lin.size, alpha)) \
                or lin.scaled(alpha)
        if len(node.input) > 2 and node.input[2]:
            C = self.const(node, node.input[2], "the bias C")
            if C.size not in (1, lin.size) or (C.ndim == 2 and C.shape[0] != 1) or C.ndim > 2:
                self.refuse(node, f"the bias C has {C.size} entries for {lin.size} outputs "
                            "(one bias per sample is not an affine map)")
            lin = lin.plus_constant(float(a.get("beta", 1.0))
                                    * np.broadcast_to(C.reshape(-1), (lin.size,)))
        self.put(node, lin.noted(label(node)), (lin.size,))

    def op_MatMul(self, node: Any) -> None:
        x = self.flat(node, node.input[0])
        lin = self.matrix(node, x, node.input[1], True, "the right factor")
        self.put(node, lin.noted(label(node)), (lin.size,))

    def convolved(self, node: Any, name: str, m: Map) -> Lin:
        """``m`` (a convolution of the image ``m.in_shape``) applied to tensor ``name``: as
        the language's convolution where the language has it as that image, else as the
        matrix of the convolution (the shape came from a reshape the language does not
        write)."""
        x = self.value(node, name)
        lang = x.shape if len(x.shape) == 3 else (1, *x.shape) if len(x.shape) == 2 else ()
        if lang == m.in_shape:
            return x.mapped(m)
        m.weight.uses -= 1
        return self.matrix_of(node, x, m.in_shape, m.apply, "M", m.out_shape)

    def check_matrix(self, node: Any, shape: tuple[int, ...], out: tuple[int, ...],
                     why: str = "") -> tuple[int, int]:
        """``(columns, rows)`` of the matrix of a linear op from samples of ``shape`` to
        ``out``, refused if it has more than :data:`MAX_MATRIX` entries (``why``: the reason
        it is a matrix)."""
        n, rows = math.prod(shape), math.prod(out)
        if n * rows > MAX_MATRIX or n > MAX_MATRIX_COLUMNS:
            self.refuse(node, f"{why}its matrix would have {rows:,}x{n:,} entries, more than "
                        f"{MAX_MATRIX:,} (or {MAX_MATRIX_COLUMNS:,} columns); the language has "
                        "no structured form of it here")
        return n, rows

    def matrix_of(self, node: Any, x: Lin, shape: tuple[int, ...], fn: Any, stem: str,
                  out: tuple[int, ...], why: str = "") -> Lin:
        """The linear op ``fn`` (on a batch of samples of ``shape``, in NumPy, making samples of
        ``out``) applied to ``x``, as its matrix — refused before anything is made if it has
        more than :data:`MAX_MATRIX` entries; built from the unit samples a block at a time,
        so that nothing larger than the matrix is made."""
        n, rows = self.check_matrix(node, shape, out, why)
        matrix = np.empty((rows, n))
        block = max(1, MAX_MATRIX // (n + rows))
        for start in range(0, n, block):
            stop = min(start + block, n)
            units = np.zeros((stop - start, n))
            units[np.arange(stop - start), np.arange(start, stop)] = 1.0
            cols = np.asarray(fn(units.reshape(stop - start, *shape)), dtype=np.float64)
            matrix[:, start:stop] = cols.reshape(stop - start, rows).T
        key = f"{node.output[0]}:matrix"
        self.weights[key] = w = Weight(key, matrix, stem)
        return x.mapped(matrix_map(w, False, x.shape))

    def image(self, node: Any, name: str, channels: int) -> tuple[int, ...]:
        """The ONNX shape of a convolution's input: ``C × H × W``."""
        shape = self.shape_of(name)
        if len(shape) != 3 or shape[0] != channels:
            self.refuse(node, f"its input {shape} is not C×H×W with C = {channels}")
        return shape

    def geometry(self, node: Any, transposed: bool) -> tuple[Pair, Pair, Pair]:
        """``(stride, padding, output_padding)`` of a Conv / ConvTranspose."""
        a = attrs(node)
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if auto != "NOTSET":
            self.refuse(node, f"auto_pad = {auto}: give the padding explicitly (pads; in "
                        "PyTorch padding=N, not padding='same')")
        if int(a.get("group", 1)) != 1:
            self.refuse(node, f"group > 1 (group = {int(a['group'])}: a grouped or depthwise "
                        "convolution) is not read; the language's conv and conv_t read every "
                        "input channel")
        if any(int(d) != 1 for d in a.get("dilations", [1, 1])):
            self.refuse(node, f"dilations {[int(d) for d in a['dilations']]}: a dilated "
                        "convolution is not read (dilation > 1)")
        if "output_shape" in a:
            self.refuse(node, "output_shape: give pads and output_padding instead")
        strides = [int(s) for s in a.get("strides", [1, 1])]
        pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
        extra = [int(q) for q in a.get("output_padding", [0, 0])]
        if len(strides) != 2 or len(extra) != 2 or len(pads) != 4:
            self.refuse(node, f"a 2-D convolution is read, got strides {strides}, pads {pads}")
        return one_or_pair(*strides), self.pads(node, pads), one_or_pair(*extra) if transposed else 0

    def pads(self, node: Any, pads: list[int]) -> Pair:
        """ONNX's ``[top, left, bottom, right]`` as one padding per axis (refused if a side
        differs from its opposite)."""
        if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3] or min(pads) < 0:
            self.refuse(node, f"pads {pads} pad a side differently from its opposite; the "
                        "language pads both sides of an axis alike")
        return one_or_pair(pads[0], pads[1])

    def conv(self, node: Any, transposed: bool) -> None:
        w, _ = self.weight(node, node.input[1], "the kernel", "K")
        K = w.value
        if K.ndim != 4:
            self.refuse(node, f"the kernel has shape {K.shape}: a 2-D convolution is read")
        stride, padding, extra = self.geometry(node, transposed)
        image = self.image(node, node.input[0], int(K.shape[0] if transposed else K.shape[1]))
        try:
            m = conv_map(w, transposed, image, stride, padding, extra)
        except ValueError as exc:
            self.refuse(node, str(exc).split(": ", 1)[-1])
        lin = self.convolved(node, node.input[0], m)
        if len(node.input) > 2 and node.input[2]:
            c = self.const(node, node.input[2], "the bias").reshape(-1)
            if c.size != m.out_shape[0]:
                self.refuse(node, f"the bias has {c.size} entries for {m.out_shape[0]} channels")
            lin = lin.plus_constant(np.repeat(c, lin.size // c.size))
        self.put(node, lin.noted(label(node)), m.out_shape)

    def op_Conv(self, node: Any) -> None:
        self.conv(node, False)

    def op_ConvTranspose(self, node: Any) -> None:
        self.conv(node, True)

    def op_BatchNormalization(self, node: Any) -> None:
        """``s (x − μ) + β``, ``s = γ/√(σ² + ε)``: folded into the map before it when that is
        the last use of its weight, else a diagonal map of its own (a 1×1 convolution of an
        image, a diagonal matrix of a vector)."""
        src = node.input[0]
        if self._training(node):
            self.refuse(node, "training_mode = 1 normalises by the batch's own statistics: "
                        "export the model in eval mode")
        lin = self.value(node, src)
        shape = self.shape_of(src)
        gamma, beta, mean, var = (self.const(node, n, what).reshape(-1) for n, what in zip(
            node.input[1:5], ("the scale", "the bias", "the mean", "the variance")))
        channels = shape[0] if shape else 0
        if any(v.size != channels for v in (gamma, beta, mean, var)):
            self.refuse(node, f"its statistics do not have one entry per channel ({channels})")
        denom = var + float(attrs(node).get("epsilon", 1e-5))
        if not np.all(denom > 0):
            self.refuse(node, "its variance plus epsilon is not positive everywhere")
        s = gamma / np.sqrt(denom)
        per = int(np.prod(shape[1:]))
        s_all, t_all = np.repeat(s, per), np.repeat(beta - s * mean, per)
        scaled = self._folded(lin, s, s_all) if self.readers(lin) == 1 else None
        how = ", folded"
        if scaled is None:
            scaled, how = lin.mapped(self._diagonal(node, lin, s, s_all, shape)), ", a scaling"
        self.put(node, scaled.plus_constant(t_all).noted(label(node, how)), shape)

    def _folded(self, lin: Lin, s: np.ndarray, s_all: np.ndarray) -> Lin | None:
        """``diag(s) lin`` with ``s`` folded into the outer map's weight (which nothing else
        reads), else None."""
        if len(lin.terms) != 1 or not lin.terms[0].maps:
            return None
        m = lin.terms[0].maps[0]
        w = m.weight
        if w.uses != 1 or self.weight_readers(w.key) != 1:
            return None
        if m.kind == "matmul":
            w.value = w.value * (s_all[None, :] if m.transposed else s_all[:, None])
        elif s.size == m.out_shape[0]:
            w.value = w.value * (s[None, :, None, None] if m.transposed
                                 else s[:, None, None, None])
        else:
            return None
        return replace(lin, bias=None if lin.bias is None else s_all * lin.bias)

    def _diagonal(self, node: Any, lin: Lin, s: np.ndarray, s_all: np.ndarray,
                  shape: tuple[int, ...]) -> Map:
        key = f"{node.output[0]}:scale"
        if len(shape) == 3 and lin.shape == shape and s.size ** 2 <= MAX_MATRIX:
            kernel = np.zeros((s.size, s.size, 1, 1))
            kernel[np.arange(s.size), np.arange(s.size), 0, 0] = s
            self.weights[key] = w = Weight(key, kernel, "D")
            return conv_map(w, False, shape, 1, 0)
        if s_all.size > MAX_DIAGONAL:
            self.refuse(node, f"scales {s_all.size} entries that no map before it can absorb; "
                        f"a diagonal matrix of more than {MAX_DIAGONAL} is not written")
        self.weights[key] = w = Weight(key, np.diag(s_all), "D")
        return matrix_map(w, False, lin.shape)
