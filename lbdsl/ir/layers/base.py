"""The layer-type contract: what one affine form of the language *is*.

A layer type is the map ``A_θ`` of a pre-activation ``A_θ x + b`` (``W @ x``, ``dense(x, 64)``,
``conv2d(x, 8, kernel = 3)``), and it declares everything about itself: how a spec writes it
and its shape rule (:meth:`LayerType.read`, on the network builder), how it reads back
(:meth:`describe`, :meth:`label`), the operator it is for given weights (:meth:`operator`, from
:mod:`lbdsl.ops`, with the gradient in its weight) and its export to ONNX and to
``torch.nn`` — or an explicit refusal (``ExportRefused``) where a format cannot express it, so
that no network is ever exported as a different model.

The methods take a *map*: anything with the fields of an :class:`~lbdsl.ir.nodes.Affine`'s
linear part (``kind``, ``weight``, ``transposed``, ``in_shape``, ``out_shape``, ``kernel``,
``stride``, ``padding``) — an ``Affine`` or the runtime's :class:`~lbdsl.lift.maps.WeightMap`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from array_api_compat import array_namespace

from ...errors import ExportRefused

__all__ = ["LayerType", "CreatingLayerType"]


class LayerType:
    """One affine form (module docstring); subclasses set the class attributes and write the
    methods (export refuses by default)."""

    #: the IR's ``Affine.kind``
    name: ClassVar[str]
    #: the spec function that writes it (``dense``), None for a form of the syntax (``A @ x``)
    call: ClassVar[str | None] = None
    #: it creates its own weight and bias (``dense``, ``conv2d``) rather than naming them
    creates: ClassVar[bool] = False
    #: how a spec writes it, for messages
    usage: ClassVar[str] = ""

    # -- reading -------------------------------------------------------------------------------
    def read(self, b: Any, expr: Any, target: str) -> Any:
        """The :class:`~lbdsl.ir.nodes.Affine` that ``expr`` writes in the statement that
        defines ``target``, its names resolved and its shapes inferred on the network builder
        ``b`` (whose ``fail`` / ``error`` report at a span)."""
        raise NotImplementedError

    def describe(self, a: Any, x: str) -> str:
        """``a`` as a spec writes it, with ``x`` its input."""
        raise NotImplementedError

    def label(self, a: Any) -> str:
        """``a``'s block in ``lbdsl show --lifted`` (``W``, ``Wᵀ``, ``conv(K)``)."""
        return f"{a.weight}ᵀ" if a.transposed else a.weight

    def ties(self, a: Any, v_weight: str, v_transposed: bool) -> bool:
        """Whether ``V`` (a matrix parameter, maybe transposed) is ``a``'s adjoint: the
        residual ``x ± V σ(a x + b)`` is then tied (the certificate's structure)."""
        return False

    # -- the runtime ---------------------------------------------------------------------------
    def shapes(self, a: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The shapes the operator maps between (flat vectors for a matrix, ``C×H×W`` images
        for a convolution)."""
        return a.in_shape, a.out_shape

    def operator(self, a: Any, weight: Any) -> Any:
        """``A_θ`` for ``θ = weight``: an operator of :mod:`lbdsl.ops` on :meth:`shapes` with
        ``forward``, ``adjoint``, ``weight_grad`` and the Gram bounds."""
        raise NotImplementedError

    def rows(self, a: Any, x: Any, shape: tuple[int, ...]) -> Any:
        """Flat rows ``x`` as a stack of the operator's inputs (or outputs) of ``shape``."""
        return array_namespace(x).reshape(x, (-1, *shape))

    def weight_grad(self, a: Any, g: Any, weight: Any) -> Any:
        """The operator's gradient in its weight, ``g``, in the parameter's own shape."""
        return g

    # -- export --------------------------------------------------------------------------------
    def onnx(self, g: Any, a: Any, x: str, x_shape: tuple[int, ...],
             values: dict[str, Any], base: str) -> str:
        """``A_θ x + b`` as ONNX nodes added to ``g`` (:mod:`lbdsl.exchange.onnx_export`),
        ``x`` a tensor ``(N, *x_shape)``, ``values`` the parameters by name; the name of the
        output tensor ``(N, *out_shape)``."""
        raise ExportRefused(f"the layer type `{self.name}` has no ONNX export in lbdsl")

    def torch(self, a: Any, x_shape: tuple[int, ...], values: dict[str, Any],
              ) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        """``A_θ x + b`` as ``torch.nn`` modules ``(class name, args, options)`` for an input
        ``(N, *x_shape)``; an option ``state`` holds the module's weights."""
        raise ExportRefused(f"the layer type `{self.name}` has no torch.nn module in lbdsl")


class CreatingLayerType(LayerType):
    """A form ``NAME(x, COUNT, key = value, …)`` that creates its weight and a bias of
    ``COUNT`` entries (``dense``, ``conv2d``), PyTorch's initialisation or ``init = ...``."""

    creates: ClassVar[bool] = True
    #: the keywords the call takes (``init`` always)
    keywords: ClassVar[tuple[str, ...]] = ("init",)
    #: what the second argument counts, for messages (``width``, ``channel count``)
    counts: ClassVar[str] = "width"

    def arguments(self, b: Any, call: Any) -> tuple[str, int, dict[str, Any]]:
        """``(x, COUNT, keywords)`` of the call, each checked."""
        usage = self.usage.strip("`")
        if len(call.args) != 2:
            b.fail(call.span, f"`{self.name}` takes two positional arguments: {usage}")
        kws = b.keywords(call, self.keywords, usage)
        x = b.var_ref(call.args[0], f"the input of `{self.name}`")
        count = b.positive_int(call.args[1], f"the {self.counts} of `{self.name}`")
        return x, count, kws

    def create(self, b: Any, target: str, call: Any, kws: dict[str, Any],
               weight_shape: tuple[int, ...] | None, count: int,
               fan_in: int | None) -> tuple[str, str]:
        """Plan the weight (``weight_shape``, None: unknown) and the bias of ``count``
        entries under the names of ``target`` (``x_W``, ``x_b``)."""
        w, bias = b.created_name(target, "W", call), b.created_name(target, "b", call)
        b.create_param(w, weight_shape, fan_in, call, kws.get("init"))
        b.create_param(bias, (count,), fan_in, call, kws.get("init"))
        return w, bias
