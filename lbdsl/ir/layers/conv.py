"""The convolutions (cross-correlation, as PyTorch's), on images ``C × H × W`` (an ``H × W``
variable is one channel):

* ``conv2d(x, CHANNELS, kernel = K, stride = S, padding = P)`` — a created kernel
  ``(C_out, C_in, k_h, k_w)`` and one bias per output channel (PyTorch's ``Conv2d``);
* ``conv2d_t(x, CHANNELS, kernel = K, stride = S, padding = P, output_padding = Q)`` — the
  transposed convolution with a created kernel ``(C_in, C_out, k_h, k_w)`` (``ConvTranspose2d``);
* ``conv`` — a *declared* kernel ``L (C_out, C_in, k_h, k_w)``, so that one parameter can be
  a convolution in one place and its adjoint in another (tied): ``L @ x`` and ``L.T @ v``
  (stride 1, ``padding = (k − 1)/2``: the size kept for an odd kernel), or with any geometry
  ``conv(L, x, stride = S, padding = P)`` and ``conv_t(L, v, stride = S, padding = P,
  output_padding = Q)`` — PyTorch's ``F.conv2d(x, L)`` and ``F.conv_transpose2d(v, L)``.

Their operators are :class:`lbdsl.ops.conv.Conv2d` and its adjoint
:class:`~lbdsl.ops.conv.Conv2dTranspose`; in ONNX ``Conv`` and ``ConvTranspose`` (a declared
kernel one initialiser, shared by its uses); in PyTorch ``Conv2d`` and ``ConvTranspose2d``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ...errors import ExportRefused
from ...ops.conv import (Conv2d, Conv2dTranspose, Pair, conv2d_output_shape,
                         conv2d_transpose_output_shape, one_or_pair, pair)
from ...syntax import tree
from ..nodes import LinearMap, Shape, format_shape
from .base import CreatingLayerType, LayerType

__all__ = ["Conv2dLayer", "Conv2dTLayer", "ConvLayer"]


def _image(b: Any, where: Any, x_text: str, shape: Shape, func: str) -> Shape:
    """An input's shape as an image ``C × H × W`` (``H × W``: one channel)."""
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) != 3:
        b.fail(where.span, f"`{x_text}` is {format_shape(shape)}, but {func} needs an image "
               "CxHxW (or HxW, one channel)",
               "declare the input with its image shape, e.g. 1x28x28")
    return shape


def _input_text(call: tree.Call, position: int) -> str:
    """The input of a call as written, for messages: its name, else "the input of f"."""
    arg = call.args[position]
    return arg.id if isinstance(arg, tree.Name) else f"the input of {call.func}"


def _kernel(b: Any, kexpr: tree.Expr, func: str) -> tuple[int, int]:
    if isinstance(kexpr, tree.Shape):
        if len(kexpr.dims) != 2 or min(kexpr.dims) < 1:
            b.fail(kexpr.span, f"a {func} kernel is K or KHxKW with positive sizes")
        return int(kexpr.dims[0]), int(kexpr.dims[1])
    k = b.positive_int(kexpr, f"the kernel size of `{func}`")
    return k, k


def _size(b: Any, kws: dict[str, Any], key: str, func: str, least: int, default: Pair,
          ) -> Pair:
    """A keyword's size: ``N`` for both axes or ``HxW`` (an equal pair is one int)."""
    if key not in kws:
        return default
    value = kws[key].value
    if isinstance(value, tree.Shape):
        if len(value.dims) != 2 or min(value.dims) < least:
            need = "positive" if least else "non-negative"
            b.fail(value.span, f"the {key} of `{func}` is N or HxW with {need} integers")
        h, w = int(value.dims[0]), int(value.dims[1])
        return one_or_pair(h, w)
    return b.positive_int(value, f"the {key} of `{func}`", least=least)


def size_text(v: Pair) -> str:
    """A size as a spec writes it: ``2`` or ``3x2``."""
    return str(v) if isinstance(v, int) else f"{v[0]}x{v[1]}"


def _geometry(b: Any, kws: dict[str, Any], func: str, transposed: bool,
              default_padding: Pair = 0) -> tuple[Pair, Pair, Pair]:
    """``(stride, padding, output_padding)`` from the call's keywords."""
    stride = _size(b, kws, "stride", func, 1, 1)
    padding = _size(b, kws, "padding", func, 0, default_padding)
    extra = _size(b, kws, "output_padding", func, 0, 0)
    if extra and not transposed:
        b.fail(kws["output_padding"].span, "`output_padding` is for transposed convolutions")
    if any(q >= s for q, s in zip(pair(extra), pair(stride))):
        b.fail(kws["output_padding"].span, f"`output_padding` must be below the stride "
               f"({size_text(stride)}) on each axis, got {size_text(extra)}")
    return stride, padding, extra


def _out_hw(b: Any, where: Any, x_text: str, image: Shape, kernel: tuple[int, int],
            stride: Pair, padding: Pair, extra: Pair, transposed: bool) -> tuple[int, int]:
    """The output's ``H × W``, or the reason it is empty at ``where``."""
    h, w = image[1], image[2]
    k = f"{kernel[0]}x{kernel[1]}"
    try:
        if transposed:
            return conv2d_transpose_output_shape(h, w, kernel, stride, padding, extra)
        return conv2d_output_shape(h, w, kernel, stride, padding)
    except ValueError:
        p = size_text(padding)
        if transposed:
            b.fail(where.span, f"padding {p} leaves nothing of the transposed {k} "
                   f"convolution of `{x_text}` ({h}x{w})", "use less padding")
        ph, pw = pair(padding)
        b.fail(where.span, f"the {k} kernel is larger than `{x_text}` ({h}x{w}) padded by "
               f"{p} ({h + 2 * ph}x{w + 2 * pw})", "use a smaller kernel or more padding")


class _Convolution(LayerType):
    """What the convolutions share: the runtime and the export of ``Conv2d`` (or, transposed,
    of ``Conv2dTranspose``)."""

    def shapes(self, m: Any) -> tuple[Shape, Shape]:
        in_shape = m.in_shape if len(m.in_shape) == 3 else (1, *m.in_shape)
        return tuple(in_shape), tuple(m.out_shape)

    def operator(self, m: Any, weight: Any) -> Conv2d | Conv2dTranspose:
        in_shape, _ = self.shapes(m)
        if m.transposed:
            return Conv2dTranspose(weight, (in_shape[-2], in_shape[-1]), m.stride, m.padding,
                                   m.output_padding)
        return Conv2d(weight, (in_shape[-2], in_shape[-1]), m.stride, m.padding)

    def label(self, m: Any) -> str:
        return f"conv({m.weight}){'ᵀ' if m.transposed else ''}"

    def onnx(self, g: Any, m: Any, x: str, x_shape: Shape, values: dict[str, Any], base: str,
             bias: Any = None) -> str:
        in_shape, _ = self.shapes(m)
        # an H×W variable becomes 1×H×W; a C×H×W one is already the image Conv reads
        image = x if tuple(x_shape) == tuple(in_shape) else g.reshape(x, in_shape,
                                                                      f"{base}_image")
        inputs = [image, g.const(m.weight, values[m.weight], shared=True)]
        per_channel = bias is not None and bias.size == m.out_shape[0]
        if per_channel:       # Conv's own bias input B: one per output channel
            inputs.append(g.const(f"{base}_c", bias.reshape(-1)))
        ph, pw = pair(m.padding)
        attrs: dict[str, Any] = {"strides": list(pair(m.stride)), "pads": [ph, pw, ph, pw],
                                 "kernel_shape": list(values[m.weight].shape[2:])}
        if m.transposed:
            attrs["output_padding"] = list(pair(m.output_padding))
        y = g.op("ConvTranspose" if m.transposed else "Conv", inputs, f"{base}_conv", **attrs)
        if bias is not None and not per_channel:     # one per output entry
            y = g.op("Add", [y, g.const(f"{base}_b", bias.reshape(m.out_shape))], f"{base}_add")
        return y

    def torch(self, m: Any, x_shape: Shape, values: dict[str, Any], bias: Any = None,
              ) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        weight = values[m.weight]
        if bias is not None and bias.size != m.out_shape[0]:
            raise ExportRefused("a convolution's bias of one entry per pixel has no torch.nn "
                                "module (Conv2d adds one per channel); export to ONNX instead")
        a, c, kh, kw = weight.shape
        c_in, c_out = (a, c) if m.transposed else (c, a)
        # H×W: one channel, (N, 1, H, W)
        image = [("Unflatten", (1, (1, x_shape[0])), {})] if len(x_shape) == 2 else []
        state = {"weight": weight} | ({"bias": bias.reshape(-1)} if bias is not None else {})
        options: dict[str, Any] = {"stride": m.stride, "padding": m.padding,
                                   "bias": bias is not None, "state": state}
        if m.transposed:
            options["output_padding"] = m.output_padding
        return image + [("ConvTranspose2d" if m.transposed else "Conv2d",
                         (c_in, c_out, (kh, kw)), options)]


class _CreatedConvolution(CreatingLayerType, _Convolution):
    """``conv2d(x, C, ...)`` and ``conv2d_t(x, C, ...)``: a created kernel and bias."""

    counts: ClassVar[str] = "channel count"
    transposed: ClassVar[bool] = False

    def read(self, b: Any, call: tree.Call, target: str, in_shape: Shape | None,
             ) -> tuple[LinearMap, str | None]:
        channels, kws = self.arguments(b, call)
        if "kernel" not in kws:
            b.fail(call.span, f"`{call.func}` needs `kernel = K`", f"write {self.usage.strip('`')}")
        kernel = _kernel(b, kws["kernel"].value, call.func)
        stride, padding, extra = _geometry(b, kws, call.func, self.transposed)
        image = out = weight_shape = fan_in = None
        if in_shape is not None:
            x_text = _input_text(call, 0)
            image = _image(b, call.args[0], x_text, in_shape, call.func)
            out = (channels, *_out_hw(b, kws["kernel"], x_text, image, kernel, stride, padding,
                                      extra, self.transposed))
            # PyTorch's layouts and fan-in: Conv2d (C_out, C_in, k, k), C_in·k²;
            # ConvTranspose2d (C_in, C_out, k, k), C_out·k²
            weight_shape = ((image[0], channels, *kernel) if self.transposed
                            else (channels, image[0], *kernel))
            fan_in = weight_shape[1] * kernel[0] * kernel[1]
        w, bias = self.create(b, target, call, kws, weight_shape, channels, fan_in)
        return LinearMap(self.name, w, self.transposed, image, out, kernel,  # type: ignore[arg-type]
                         stride, padding, extra), bias

    def describe(self, m: Any, x: str) -> str:
        kh, kw = m.kernel or (0, 0)
        k = str(kh) if kh == kw else f"{kh}x{kw}"
        extra = f", output_padding={size_text(m.output_padding)}" if m.output_padding else ""
        return (f"{self.name}({x}, {m.out_shape[0]}, kernel={k}, stride={size_text(m.stride)}, "
                f"padding={size_text(m.padding)}{extra})")


class Conv2dLayer(_CreatedConvolution):
    """``conv2d(x, CHANNELS, kernel = K, stride = S, padding = P)`` (module docstring)."""

    name: ClassVar[str] = "conv2d"
    calls: ClassVar[tuple[str, ...]] = ("conv2d",)
    usage: ClassVar[str] = "`conv2d(x, CHANNELS, kernel = K, stride = S, padding = P)`"
    keywords: ClassVar[tuple[str, ...]] = ("kernel", "stride", "padding", "init")


class Conv2dTLayer(_CreatedConvolution):
    """``conv2d_t(x, CHANNELS, kernel = K, stride = S, padding = P, output_padding = Q)``."""

    name: ClassVar[str] = "conv2d_t"
    calls: ClassVar[tuple[str, ...]] = ("conv2d_t",)
    usage: ClassVar[str] = ("`conv2d_t(x, CHANNELS, kernel = K, stride = S, padding = P, "
                            "output_padding = Q)`")
    keywords: ClassVar[tuple[str, ...]] = ("kernel", "stride", "padding", "output_padding",
                                           "init")
    transposed: ClassVar[bool] = True


class ConvLayer(_Convolution):
    """A declared kernel as a convolution or its adjoint (module docstring)."""

    name: ClassVar[str] = "conv"
    calls: ClassVar[tuple[str, ...]] = ("conv", "conv_t")
    input_argument: ClassVar[int] = 1
    usage: ClassVar[str] = "`L @ x`, `L.T @ v`, `conv(L, x, ...)`, `conv_t(L, v, ...)`"

    def applies(self, shape: Shape | None) -> bool:
        return shape is not None and len(shape) == 4

    def read_at(self, b: Any, weight: str, transposed: bool, in_shape: Shape | None,
                at: Any, left: Any, x_text: str) -> LinearMap:
        """``L @ x``: stride 1, ``padding = (k − 1)/2`` (an odd kernel keeps the size)."""
        shape = b.params[weight].shape
        padding = _same_padding(shape[2:]) if shape is not None and len(shape) == 4 else 0
        return self._map(b, weight, transposed, in_shape, at, x_text, (1, padding, 0))

    def read(self, b: Any, call: tree.Call, target: str, in_shape: Shape | None,
             ) -> tuple[LinearMap, str | None]:
        transposed = call.func == "conv_t"
        usage = (f"{call.func}(L, x, stride = S, padding = P"
                 + (", output_padding = Q)" if transposed else ")"))
        if len(call.args) != 2:
            b.fail(call.span, f"`{call.func}` takes a kernel and an input: {usage}")
        kws = b.keywords(call, ("stride", "padding", "output_padding"), usage)
        weight, _ = b.param_ref(call.args[0], f"the kernel of `{call.func}`", allow_t=False)
        geometry = _geometry(b, kws, call.func, transposed)
        return self._map(b, weight, transposed, in_shape, call, _input_text(call, 1),
                         geometry), None

    def _map(self, b: Any, weight: str, transposed: bool, in_shape: Shape | None, where: Any,
             x_text: str, geometry: tuple[int, int, int]) -> LinearMap:
        w_shape = b.params[weight].shape
        label = b.params[weight].declared_name
        if w_shape is None or in_shape is None:
            return LinearMap("conv", weight, transposed, in_shape, None,  # type: ignore[arg-type]
                             None, *geometry)
        if len(w_shape) != 4:
            b.fail(where.span, f"`{label}` is {format_shape(w_shape)}, but a convolution "
                   "kernel is C_out x C_in x K x K")
        image = _image(b, where, x_text, in_shape, "a convolution")
        c_out, c_in = w_shape[:2]
        reads = c_out if transposed else c_in
        if image[0] != reads:
            b.fail(where.span, f"`{label}{'.T' if transposed else ''}` reads {reads} "
                   f"channel(s), but its input has {image[0]}",
                   f"`{label}` is {format_shape(w_shape)}: a convolution maps {c_in} "
                   f"channel(s) to {c_out}, its adjoint {c_out} to {c_in}")
        kernel = (int(w_shape[2]), int(w_shape[3]))
        hw = _out_hw(b, where, x_text, image, kernel, *geometry, transposed)
        out = (c_in if transposed else c_out, *hw)
        return LinearMap("conv", weight, transposed, image, out, kernel, *geometry)

    def describe(self, m: Any, x: str) -> str:
        if m.stride == 1 and m.padding == _same_padding(m.kernel or (1, 1)) \
                and not m.output_padding:
            x = f"({x})" if " " in x else x
            return f"{m.weight}{'.T' if m.transposed else ''} @ {x}"
        extra = f", output_padding={size_text(m.output_padding)}" if m.output_padding else ""
        return (f"{'conv_t' if m.transposed else 'conv'}({m.weight}, {x}, "
                f"stride={size_text(m.stride)}, padding={size_text(m.padding)}{extra})")


def _same_padding(kernel: Any) -> Pair:
    """``(k − 1)/2`` on each axis (one int when they agree): an odd kernel keeps the size."""
    ph, pw = (int(kernel[0]) - 1) // 2, (int(kernel[1]) - 1) // 2
    return one_or_pair(ph, pw)
