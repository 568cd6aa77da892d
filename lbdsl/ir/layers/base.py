"""The layer-type contract: what one linear map of the language *is*.

A layer type is a map ``A_θ`` a pre-activation applies (``W @ x``, ``dense(x, 64)``,
``conv2d(x, 8, kernel = 3)``, ``L.T @ v``), and it declares everything about itself: how a
spec writes it and its shape rule (:meth:`LayerType.read` for a call, :meth:`read_at` for
``A @``), how it reads back (:meth:`describe`, :meth:`label`), the operator it is for given
weights (:meth:`operator`, from :mod:`lbdsl.ops`, with the gradient in its weight) and its
export to ONNX and to ``torch.nn`` — or an explicit refusal (``ExportRefused``) where a format
cannot express it, so that no network is ever exported as a different model.

The methods take a *map*: anything with the fields of an :class:`~lbdsl.ir.nodes.LinearMap`
(``kind``, ``weight``, ``transposed``, ``in_shape``, ``out_shape``, ``kernel``, ``stride``,
``padding``, ``output_padding``) — the IR's, or the runtime's
:class:`~lbdsl.lift.maps.WeightMap`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from array_api_compat import array_namespace

from ...errors import ExportRefused
from ..nodes import LinearMap, Shape

__all__ = ["LayerType", "CreatingLayerType"]


class LayerType:
    """One kind of map (module docstring); subclasses set the class attributes and write the
    methods (export refuses by default)."""

    #: the IR's ``LinearMap.kind``
    name: ClassVar[str]
    #: the spec functions that write it (``dense``; ``conv`` and ``conv_t``), none for ``A @``
    calls: ClassVar[tuple[str, ...]] = ()
    #: which positional argument of the call is the input it maps
    input_argument: ClassVar[int] = 0
    #: it creates its own weight and bias (``dense``, ``conv2d``) rather than naming them
    creates: ClassVar[bool] = False
    #: how a spec writes it, for messages
    usage: ClassVar[str] = ""

    # -- reading -------------------------------------------------------------------------------
    def read(self, b: Any, call: Any, target: str, in_shape: Shape | None,
             ) -> tuple[LinearMap, str | None]:
        """The map the call ``call`` writes in the statement that defines ``target``, applied
        to an input of ``in_shape`` (None: unknown, after an earlier error), its parameters
        resolved or planned on the network builder ``b`` (whose ``fail`` / ``error`` report
        at a span); and the bias it creates (None: none)."""
        raise NotImplementedError

    def applies(self, shape: Shape | None) -> bool:
        """Whether ``A @ x`` with a parameter ``A`` of ``shape`` is this map."""
        return False

    def read_at(self, b: Any, weight: str, transposed: bool, in_shape: Shape | None,
                at: Any, left: Any, x_text: str) -> LinearMap:
        """``A @ x`` (``A.T @ x``): the map of the parameter ``weight`` on an input of
        ``in_shape``; ``at`` is the ``@`` (where a mismatch is reported), ``left`` the
        parameter as written, ``x_text`` its right side as written."""
        raise NotImplementedError

    def describe(self, m: Any, x: str) -> str:
        """``m`` applied to ``x`` as a spec writes it."""
        raise NotImplementedError

    def label(self, m: Any) -> str:
        """``m``'s block in ``lbdsl show --lifted`` (``W``, ``Wᵀ``, ``conv(K)``)."""
        return f"{m.weight}ᵀ" if m.transposed else m.weight

    def ties(self, m: Any, v_weight: str, v_transposed: bool) -> bool:
        """Whether ``V`` (a matrix parameter, maybe transposed) is ``m``'s adjoint: the
        residual ``x ± V σ(m x + b)`` is then tied (the certificate's structure)."""
        return False

    # -- the runtime ---------------------------------------------------------------------------
    def shapes(self, m: Any) -> tuple[Shape, Shape]:
        """The shapes the operator maps between (flat vectors for a matrix, ``C×H×W`` images
        for a convolution)."""
        return m.in_shape, m.out_shape

    def operator(self, m: Any, weight: Any) -> Any:
        """``A_θ`` for ``θ = weight``: an operator of :mod:`lbdsl.ops` on :meth:`shapes` with
        ``forward``, ``adjoint``, ``weight_grad`` and the Gram bounds."""
        raise NotImplementedError

    def rows(self, m: Any, x: Any, shape: Shape) -> Any:
        """Flat rows ``x`` as a stack of the operator's inputs (or outputs) of ``shape``."""
        return array_namespace(x).reshape(x, (-1, *shape))

    def weight_grad(self, m: Any, g: Any, weight: Any) -> Any:
        """The operator's gradient in its weight, ``g``, in the parameter's own shape."""
        return g

    # -- export --------------------------------------------------------------------------------
    def onnx(self, g: Any, m: Any, x: str, x_shape: Shape, values: dict[str, Any], base: str,
             bias: Any = None) -> str:
        """``m`` applied to the tensor ``x`` (``(N, *x_shape)``) as ONNX nodes added to ``g``
        (:mod:`lbdsl.exchange.onnx_export`), ``values`` the parameters by name, ``bias`` an
        array to add in the same node where the format has one (else None); the name of the
        output tensor ``(N, *out_shape)``."""
        raise ExportRefused(f"the layer type `{self.name}` has no ONNX export in lbdsl")

    def torch(self, m: Any, x_shape: Shape, values: dict[str, Any], bias: Any = None,
              ) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        """``m x + bias`` as ``torch.nn`` modules ``(class name, args, options)`` for an input
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

    def arguments(self, b: Any, call: Any) -> tuple[int, dict[str, Any]]:
        """``(COUNT, keywords)`` of the call, each checked."""
        usage = self.usage.strip("`")
        if len(call.args) != 2:
            b.fail(call.span, f"`{call.func}` takes two positional arguments: {usage}")
        kws = b.keywords(call, self.keywords, usage)
        count = b.positive_int(call.args[1], f"the {self.counts} of `{call.func}`")
        return count, kws

    def create(self, b: Any, target: str, call: Any, kws: dict[str, Any],
               weight_shape: tuple[int, ...] | None, count: int,
               fan_in: int | None) -> tuple[str, str]:
        """Plan the weight (``weight_shape``, None: unknown) and the bias of ``count``
        entries under the names of ``target`` (``x_W``, ``x_b``)."""
        w, bias = b.created_name(target, "W", call), b.created_name(target, "b", call)
        b.create_param(w, weight_shape, fan_in, call, kws.get("init"))
        b.create_param(bias, (count,), fan_in, call, kws.get("init"))
        return w, bias
