"""``conv2d(x, CHANNELS, kernel = K, stride = S, padding = P)``: a convolution with a created
kernel ``(C_out, C_in, k_h, k_w)`` and one bias per output channel — cross-correlation as in
PyTorch's ``Conv2d``, input ``C_in × H × W`` (an ``H × W`` variable is one channel).

Its operator is :class:`lbdsl.ops.conv.Conv2d`; in ONNX ``Conv``; in PyTorch ``Conv2d``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ...ops.conv import Conv2d, conv2d_output_shape
from ...syntax import tree
from ..nodes import Affine, Shape, format_shape
from .base import CreatingLayerType

__all__ = ["Conv2dLayer"]


class Conv2dLayer(CreatingLayerType):
    """``conv2d(...)`` (module docstring)."""

    name: ClassVar[str] = "conv2d"
    call: ClassVar[str | None] = "conv2d"
    usage: ClassVar[str] = "`conv2d(x, CHANNELS, kernel = K, stride = S, padding = P)`"
    keywords: ClassVar[tuple[str, ...]] = ("kernel", "stride", "padding", "init")
    counts: ClassVar[str] = "channel count"

    def read(self, b: Any, call: tree.Call, target: str) -> Affine:
        x, channels, kws = self.arguments(b, call)
        if "kernel" not in kws:
            b.fail(call.span, "`conv2d` needs `kernel = K`", f"write {self.usage.strip('`')}")
        kernel = self._kernel(b, kws["kernel"].value)
        stride = (b.positive_int(kws["stride"].value, "the stride of `conv2d`")
                  if "stride" in kws else 1)
        padding = (b.positive_int(kws["padding"].value, "the padding of `conv2d`", least=0)
                   if "padding" in kws else 0)
        x_shape = b.shape_of_var(x)
        in_shape: Shape | None = None
        out: Shape | None = None
        if x_shape is not None:
            in_shape = self._image(b, call, x, x_shape)
            try:
                ho, wo = conv2d_output_shape(in_shape[1], in_shape[2], kernel, stride, padding)
            except ValueError:
                b.fail(kws["kernel"].span, f"the {kernel[0]}x{kernel[1]} kernel is larger than "
                       f"`{b.display(x)}` ({in_shape[1]}x{in_shape[2]}) padded by {padding} "
                       f"({in_shape[1] + 2 * padding}x{in_shape[2] + 2 * padding})",
                       "use a smaller kernel or more padding")
            out = (channels, ho, wo)
        fan_in = in_shape[0] * kernel[0] * kernel[1] if in_shape is not None else None
        w, bias = self.create(b, target, call, kws,
                              (channels, in_shape[0], *kernel) if in_shape else None, channels,
                              fan_in)
        return Affine("conv2d", x, w, False, bias, in_shape, out, call.span,  # type: ignore[arg-type]
                      kernel=kernel, stride=stride, padding=padding)

    @staticmethod
    def _kernel(b: Any, kexpr: tree.Expr) -> tuple[int, int]:
        if isinstance(kexpr, tree.Shape):
            if len(kexpr.dims) != 2 or min(kexpr.dims) < 1:
                b.fail(kexpr.span, "a conv2d kernel is K or KHxKW with positive sizes")
            return int(kexpr.dims[0]), int(kexpr.dims[1])
        k = b.positive_int(kexpr, "the kernel size of `conv2d`")
        return k, k

    @staticmethod
    def _image(b: Any, call: tree.Call, x: str, x_shape: Shape) -> Shape:
        if len(x_shape) == 2:
            return (1, *x_shape)
        if len(x_shape) != 3:
            b.fail(call.args[0].span, f"`{b.display(x)}` is {format_shape(x_shape)}, but "
                   "conv2d needs an image CxHxW (or HxW, one channel)",
                   "declare the input with its image shape, e.g. 1x28x28")
        return x_shape

    def describe(self, a: Any, x: str) -> str:
        kh, kw = a.kernel or (0, 0)
        k = str(kh) if kh == kw else f"{kh}x{kw}"
        return (f"conv2d({x}, {a.out_shape[0]}, kernel={k}, stride={a.stride}, "
                f"padding={a.padding})")

    def label(self, a: Any) -> str:
        return f"conv({a.weight})"

    # -- the runtime ---------------------------------------------------------------------------
    def shapes(self, a: Any) -> tuple[Shape, Shape]:
        in_shape = a.in_shape if len(a.in_shape) == 3 else (1, *a.in_shape)
        return tuple(in_shape), tuple(a.out_shape)

    def operator(self, a: Any, weight: Any) -> Conv2d:
        in_shape, _ = self.shapes(a)
        return Conv2d(weight, (in_shape[-2], in_shape[-1]), a.stride, a.padding)

    # -- export --------------------------------------------------------------------------------
    def onnx(self, g: Any, a: Any, x: str, x_shape: tuple[int, ...],
             values: dict[str, Any], base: str) -> str:
        # an H×W variable becomes 1×H×W; a C×H×W one is already the image Conv reads
        image = x if tuple(x_shape) == tuple(a.in_shape) else \
            g.reshape(x, a.in_shape, f"{base}_image")
        inputs = [image, g.const(f"{base}_K", values[a.weight])]
        if a.bias:
            inputs.append(g.const(f"{base}_c", values[a.bias].reshape(-1)))
        p = a.padding
        return g.op("Conv", inputs, f"{base}_conv", strides=[a.stride, a.stride],
                    pads=[p, p, p, p], kernel_shape=list(a.kernel or ()))

    def torch(self, a: Any, x_shape: tuple[int, ...], values: dict[str, Any],
              ) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        weight = values[a.weight]
        bias = values[a.bias].reshape(-1) if a.bias else None
        c_out, c_in, kh, kw = weight.shape
        # H×W: one channel, (N, 1, H, W)
        image = [("Unflatten", (1, (1, x_shape[0])), {})] if len(x_shape) == 2 else []
        state = {"weight": weight} | ({"bias": bias} if bias is not None else {})
        return image + [("Conv2d", (c_in, c_out, (kh, kw)),
                         {"stride": a.stride, "padding": a.padding, "bias": bias is not None,
                          "state": state})]
