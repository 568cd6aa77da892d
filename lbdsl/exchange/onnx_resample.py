"""Pooling and resizing read by the importer (:mod:`.onnx_import`): ``AveragePool``,
``GlobalAveragePool``, and nearest-neighbour ``Resize`` / ``Upsample`` — linear maps that the
language writes as convolutions with fixed kernels.

* A mean over windows that each hold ``k_h·k_w`` entries (no padding, or padding counted:
  ``count_include_pad = 1``; no partial window of ``ceil_mode``) is ``conv(P, x, stride,
  padding)`` with ``P[c, c] = 1/(k_h k_w)``; the global mean is the same with the image's size
  as the kernel's.  Border windows over fewer entries (padding not counted, a partial window of
  ``ceil_mode``, pads that differ from side to side) divide by their own counts: the pooling is
  then ``A_h X A_wᵀ`` on each channel, written as its matrix (no structured form in the
  language; bounded like every such matrix).
* Nearest-neighbour upsampling by integer factors ``s_h, s_w`` (PyTorch's
  ``nn.Upsample(scale_factor=s)``) repeats each pixel ``s_h × s_w`` times: the transposed
  convolution ``conv_t(U, x, stride = s_hxs_w)`` with ``U[c, c]`` a block of ones, exactly.

A mixin of the importer's translator, as :class:`~.onnx_maps.LinearOps` is.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..ops.conv import Pair, one_or_pair
from .onnx_linear import Weight, attrs, conv_map, label
from .onnx_maps import MAX_MATRIX

__all__ = ["ResampleOps", "pool_windows", "nearest_source"]

#: ONNX's coordinate transformations (``Resize``) the importer reads: at an integer scale a
#: source coordinate is a multiple of 1/(2s), exact in a runtime's float32 where it falls on a
#: rounding boundary and at least 1/(2s) from one elsewhere, so the runtime picks the pixels
#: exact arithmetic picks.  Refused: ``align_corners`` (``x·(n−1)/(n·s−1)`` comes within
#: float32's error of a boundary on large images) and ``tf_crop_and_resize`` (a region of
#: interest).
_COORDINATES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "asymmetric",
                "tf_half_pixel_for_nn")


def pool_count(n: int, k: int, s: int, lo: int, hi: int, ceil: bool) -> int:
    """How many windows a pooling has along one axis of ``n`` entries padded by ``lo`` before
    and ``hi`` after (PyTorch's and onnxruntime's: with ``ceil`` a last partial window, dropped
    if it would start in the trailing padding)."""
    span = n + lo + hi - k
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + lo:
        out -= 1
    return max(out, 0)


def pool_windows(n: int, k: int, s: int, lo: int, hi: int, ceil: bool,
                 ) -> list[tuple[int, int, int]]:
    """The windows of :func:`pool_count`: per output ``(start, stop, size)``, the entries
    ``start:stop`` it reads and the entries it covers, padding included (clipped at ``n +
    hi``, as ``avg_pool`` counts them)."""
    windows = []
    for i in range(pool_count(n, k, s, lo, hi, ceil)):
        start = i * s - lo
        end = min(start + k, n + hi)
        windows.append((max(start, 0), min(end, n), end - start))
    return windows


def nearest_source(i: int, n_in: int, n_out: int, s: int, coordinates: str,
                   rounding: str) -> int:
    """The input index that ONNX's nearest ``Resize`` copies to output ``i`` (an axis of
    ``n_in`` entries scaled by the integer ``s`` to ``n_out = n_in·s``), in exact arithmetic."""
    x, half = Fraction(i), Fraction(1, 2)
    if coordinates == "asymmetric":
        o = x / s
    elif coordinates == "tf_half_pixel_for_nn":
        o = (x + half) / s
    elif coordinates == "pytorch_half_pixel" and n_out == 1:
        o = Fraction(0)
    else:   # half_pixel, pytorch_half_pixel, half_pixel_symmetric (no offset: n_out = n_in·s)
        o = (x + half) / s - half
    if rounding == "floor":
        j = o.__floor__()
    elif rounding == "ceil":
        j = o.__ceil__()
    elif rounding == "round_prefer_ceil":
        j = (o + half).__floor__()
    else:   # round_prefer_floor
        j = (o - half).__ceil__()
    return min(max(j, 0), n_in - 1)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ResampleOps:
    """The translator's pooling and resizing ops (mixed into ``_Translator``)."""

    # -- pooling ------------------------------------------------------------------------------
    def op_AveragePool(self, node: Any) -> None:
        """The mean over each window: ``conv(P, x, …)`` with ``P[c, c] = 1/(k_h k_w)`` where
        every window averages ``k_h·k_w`` entries, else its matrix (module docstring)."""
        a = attrs(node)
        k = [int(d) for d in a.get("kernel_shape", [])]
        shape = self.shape_of(node.input[0])
        if len(k) != 2 or len(shape) != 3:
            self.refuse(node, f"a 2-D pooling of an image C×H×W is read, got kernel {k} on "
                        f"{shape}")
        if _text(a.get("auto_pad", "NOTSET")) != "NOTSET":
            self.refuse(node, f"auto_pad = {_text(a['auto_pad'])}: give the padding "
                        "explicitly (pads)")
        if any(int(d) != 1 for d in a.get("dilations", [1, 1])):
            self.refuse(node, f"dilations {list(a['dilations'])}: a dilated pooling is not "
                        "read")
        strides = [int(d) for d in a.get("strides", [1, 1])]
        pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
        if len(strides) != 2 or len(pads) != 4 or min(strides) < 1 or min(pads) < 0 \
                or min(k) < 1:
            self.refuse(node, f"a {k} pooling by strides {strides}, pads {pads} is not read "
                        "(a kernel of positive sizes, positive strides, pads >= 0)")
        if any(pads[i] >= k[i % 2] for i in range(4)):
            self.refuse(node, f"pads {pads} are not smaller than the kernel {k} (a window "
                        "of padding only)")
        ceil = bool(int(a.get("ceil_mode", 0)))
        counted = bool(int(a.get("count_include_pad", 0)))
        axes = [(shape[1 + i], k[i], strides[i], pads[i], pads[i + 2], ceil) for i in range(2)]
        out = (shape[0], *(pool_count(*axis) for axis in axes))
        self.check_size(node, out)
        # every window averages k_h·k_w entries: both sides padded alike, the padding counted
        # (or none), and no partial last window
        if all(lo == hi and (counted or lo == 0) and pool_count(n, kk, ss, lo, hi, False)
               == pool_count(n, kk, ss, lo, hi, ceil) for n, kk, ss, lo, hi, _ in axes):
            return self.pooled(node, shape[0], k, one_or_pair(*strides),
                               one_or_pair(pads[0], pads[1]))
        # else each window divided by its own count: A_h X A_wᵀ per channel, as a matrix
        why = ("its border windows average fewer entries than the others (count_include_pad "
               f"= {int(counted)}, ceil_mode = {int(ceil)}, pads {pads}), which no convolution "
               "does, and ")
        self.check_matrix(node, shape, out, why)      # before the windows are listed
        A = []
        for axis in axes:
            M = np.zeros((pool_count(*axis), axis[0]))
            for row, (start, stop, size) in enumerate(pool_windows(*axis)):
                M[row, start:stop] = 1.0 / (size if counted else stop - start)
            A.append(M)
        self.linear_op(node, lambda x: np.einsum("ir,...crq,jq->...cij", A[0], x, A[1]),
                       why=why)

    def op_GlobalAveragePool(self, node: Any) -> None:
        """The mean of each channel: ``conv(P, x)`` with ``P[c, c] = 1/(H W)``, an H×W kernel
        (PyTorch's ``nn.AdaptiveAvgPool2d(1)``)."""
        shape = self.shape_of(node.input[0])
        if len(shape) != 3:
            self.refuse(node, f"a 2-D pooling of an image C×H×W is read, got {shape}")
        self.pooled(node, shape[0], [shape[1], shape[2]], 1, 0)

    def pooled(self, node: Any, c: int, k: list[int], stride: Pair, padding: Pair) -> None:
        """The mean over ``k_h × k_w`` windows of ``c`` channels as ``conv(P, x, stride,
        padding)``, ``P[c, c] = 1/(k_h k_w)``."""
        kernel = self.diagonal_kernel(node, c, k, 1.0 / (k[0] * k[1]), "pooling")
        key = f"{node.output[0]}:pool"
        self.weights[key] = w = Weight(key, kernel, "P")
        try:
            m = conv_map(w, False, self.image(node, node.input[0], c), stride, padding)
        except ValueError as exc:
            self.refuse(node, str(exc).split(": ", 1)[-1])
        self.put(node, self.convolved(node, node.input[0], m).noted(label(node)), m.out_shape)

    def diagonal_kernel(self, node: Any, c: int, k: list[int], value: float,
                        what: str) -> np.ndarray:
        """The kernel ``c × c × k_h × k_w`` with ``value`` on each channel's own block and 0
        between channels; refused past :data:`~.onnx_maps.MAX_MATRIX` weights (most of them
        zeros: the language has no per-channel convolution)."""
        if c * c * k[0] * k[1] > MAX_MATRIX:
            self.refuse(node, f"a {k[0]}×{k[1]} {what} of {c} channels is a convolution of "
                        f"{c * c * k[0] * k[1]:,} weights (C×C×{k[0]}×{k[1]}: the language has "
                        f"no per-channel convolution), more than {MAX_MATRIX:,}")
        kernel = np.zeros((c, c, *k))
        kernel[np.arange(c), np.arange(c)] = value
        return kernel

    # -- resizing -----------------------------------------------------------------------------
    def op_Resize(self, node: Any) -> None:
        """``Resize(X, roi, scales, sizes)`` (opset 10: ``Resize(X, scales)``)."""
        a = attrs(node)
        given = list(node.input) + [""] * 4
        scales, sizes = (given[1], "") if self.opset < 11 else (given[2], given[3])
        coordinates = _text(a.get("coordinate_transformation_mode", "half_pixel"))
        rounding = _text(a.get("nearest_mode", "round_prefer_floor"))
        if self.opset < 11:      # Resize-10 has neither attribute: Upsample's x / s, floored
            coordinates, rounding = "asymmetric", "floor"
        policy = _text(a.get("keep_aspect_ratio_policy", "stretch"))
        if policy != "stretch" and sizes:
            self.refuse(node, f"keep_aspect_ratio_policy = {policy}: give the sizes to stretch "
                        "to, or the scales")
        self.resized(node, _text(a.get("mode", "nearest")), scales, sizes, coordinates,
                     rounding, a.get("axes"))

    def op_Upsample(self, node: Any) -> None:
        """The deprecated ``Upsample`` (opset 7–9): ``scales`` an attribute, then an input;
        the coordinates ``x / s``, rounded down."""
        a = attrs(node)
        scales = node.input[1] if len(node.input) > 1 else ""
        if not scales and "scales" in a:
            scales = f"{node.output[0]}:scales"
            self.consts[scales] = np.asarray(a["scales"], dtype=np.float64)
        self.resized(node, _text(a.get("mode", "nearest")), scales, "", "asymmetric", "floor",
                     None)

    def resized(self, node: Any, mode: str, scales: str, sizes: str, coordinates: str,
                rounding: str, axes: Any) -> None:
        """Nearest-neighbour resizing of an image by integer factors ``s_h, s_w``: each pixel
        repeated ``s_h × s_w`` times, ``conv_t(U, x, stride = s_hxs_w)`` with ``U[c, c]`` a
        block of ones; refused in one line otherwise."""
        shape = self.shape_of(node.input[0])
        if mode != "nearest":
            self.refuse(node, f"mode = {mode}: an interpolation weighs its neighbours "
                        "differently at the border (samples clamped at the edge) than inside, "
                        "which no transposed convolution does; only mode = nearest at an "
                        "integer scale is read (nn.Upsample(scale_factor=s, mode='nearest'))")
        if coordinates not in _COORDINATES:
            self.refuse(node, f"coordinate_transformation_mode = {coordinates} is not read "
                        f"(only {', '.join(_COORDINATES)})")
        if len(shape) != 3:
            self.refuse(node, f"a 2-D resize of an image C×H×W is read, got {shape}")
        full = (1, *shape)
        rank = len(full)
        axes = list(range(rank)) if axes is None else [int(x) % rank for x in axes]
        for name, what in ((scales, "scales"), (sizes, "sizes")):
            if name and name not in self.consts:
                self.refuse(node, f"its {what} are computed at run time; lbdsl reads a resize "
                            "by constant factors (nn.Upsample(scale_factor=s))")
        if scales and self.consts[scales].size:
            factors = self.const(node, scales, "the scales").reshape(-1)
            if factors.size != len(axes):
                self.refuse(node, f"{factors.size} scales for {len(axes)} axes")
            per = dict(zip(axes, factors.tolist()))
            scale = [float(per.get(i, 1.0)) for i in range(rank)]
        elif sizes:
            wanted = self.ints(node, sizes, "the sizes")
            batch = self.batch_mask(sizes)
            batch = [False] * len(wanted) if batch is None else batch.reshape(-1).tolist()
            if len(wanted) != len(axes) or any(
                    axis == 0 and not (b or wanted[j] == self.batch_size)
                    or axis != 0 and b for j, (axis, b) in enumerate(zip(axes, batch))):
                self.refuse(node, f"the sizes {wanted} are not one per axis {axes}, the "
                            "batch's its own (read by Shape)")
            per = {axis: 1.0 if axis == 0 else wanted[j] / full[axis]
                   for j, axis in enumerate(axes)}
            scale = [float(per.get(i, 1.0)) for i in range(rank)]
        else:
            self.refuse(node, "neither scales nor sizes are given")
        if scale[0] != 1.0 or scale[1] != 1.0:
            self.refuse(node, f"the scales {scale} resize the batch or channel axis; only "
                        "the image's height and width are resized")
        if not all(float(s).is_integer() and s >= 1 for s in scale[2:]):
            self.refuse(node, f"the scales {scale[2:]} of height and width are not integers "
                        ">= 1: nearest resizing by a fraction repeats rows and columns unevenly "
                        "(or drops them), which no transposed convolution does")
        s = [int(scale[2]), int(scale[3])]
        if s == [1, 1]:
            lin = self.value(node, node.input[0])
            return self.put(node, lin.noted(label(node)), shape)
        self.check_size(node, (shape[0], shape[1] * s[0], shape[2] * s[1]))
        kernel = self.diagonal_kernel(node, shape[0], s, 1.0, "repetition")
        for i in range(2):
            # a source coordinate is (j + c)/s + d: one period inside and the clamped ends
            # decide every output (source(j + s) = source(j) + 1 in between)
            n, m = shape[1 + i], shape[1 + i] * s[i]
            outputs = sorted({*range(min(m, 3 * s[i])), *range(max(0, m - 3 * s[i]), m)})
            if any(nearest_source(j, n, m, s[i], coordinates, rounding) != j // s[i]
                   for j in outputs):
                self.refuse(node, f"coordinate_transformation_mode = {coordinates} with "
                            f"nearest_mode = {rounding} at scale {s[i]} copies other pixels "
                            "than the repetition x[i // s] that a transposed convolution "
                            "writes")
        key = f"{node.output[0]}:repeat"
        self.weights[key] = w = Weight(key, kernel, "U")
        m = conv_map(w, True, self.image(node, node.input[0], shape[0]), one_or_pair(*s), 0)
        self.put(node, self.convolved(node, node.input[0], m).noted(label(node)), m.out_shape)
