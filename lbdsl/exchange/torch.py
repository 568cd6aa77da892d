"""PyTorch in and out, through ONNX and ``state_dict`` arrays (``torch`` stays optional).

* :func:`from_torch` — ``torch.onnx.export`` (the TorchScript exporter, which needs nothing
  beyond torch; opset 20, so that GELU arrives as ``Gelu`` and is refused by name) of a module
  in eval mode, then :func:`~lbdsl.exchange.import_onnx`;
* :func:`to_torch` — the equivalent ``torch.nn.Sequential`` of a feed-forward network;
* :func:`torch_state` — a feed-forward network's weights as the ``state_dict`` of the
  equivalent ``torch.nn.Sequential`` (plain arrays: ``np.savez`` them, no ``.pt``); the snippet
  in docs/interop.md builds that ``Sequential`` and loads them.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportRefused, LbdslError
from ..ir.layers import LAYER_TYPES, describe
from ..ir.nodes import Layer, NetworkIR

__all__ = ["from_torch", "torch_state", "to_torch", "sequential_modules"]

def from_torch(module: Any, example_input: Any, out: str | Path = ".",
               name: str = "model") -> tuple[Path, Path]:
    """Export ``module`` (eval mode, batch axis dynamic) and import it: ``out/NAME.lbn`` and
    ``out/NAME.npz``."""
    try:
        import torch
    except ModuleNotFoundError:
        raise LbdslError("from_torch needs PyTorch: pip install torch==2.13.0") from None
    from .onnx_import import import_onnx

    buffer = io.BytesIO()
    was_training = module.training
    module.train(False)             # eval mode: BatchNorm's running statistics, no dropout
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the TorchScript exporter's deprecation notice
            torch.onnx.export(module, (example_input,), buffer, dynamo=False,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                              opset_version=20, do_constant_folding=True)
    finally:
        module.train(was_training)
    from .onnx_import import ImportRefused

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.onnx"
        path.write_bytes(buffer.getvalue())
        try:
            return import_onnx(path, out, name)
        except ImportRefused as err:   # the temporary file's name would only confuse
            raise ImportRefused(f"from_torch({type(module).__name__}): "
                                f"{str(err).removeprefix(f'{path}: ')}") from None


def sequential_modules(net: NetworkIR) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """``[(torch.nn class name, args, {option: value, "state": {key: array}})]`` of the
    ``nn.Sequential`` that computes ``net``: per layer its layer type's modules and its Ψ's
    (each declares them, :meth:`lbdsl.ir.layers.LayerType.torch`,
    :meth:`lbdsl.prox.base.Psi.torch`); ``LbdslError`` for a residual layer, which
    ``nn.Sequential`` cannot express, ``ExportRefused`` for a pre-activation that is more than
    one map and a bias (a skip input, a sum, a composition) and for a layer type or Ψ that has
    no module."""
    values = {name: p.value for name, p in net.params.items()}
    mods: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for step in net.layers:
        if not isinstance(step, Layer):
            raise LbdslError(f"torch_state: `{step.out}` is a residual layer, which "
                             "nn.Sequential cannot express; export to ONNX instead")
        a, m = step.affine, step.affine.map
        if m is None or len(a.biases) > 1:
            raise ExportRefused(f"torch_state: `{step.out}` = {describe(a)} is not one map and "
                                "a bias, which nn.Sequential cannot express; export to ONNX "
                                "instead")
        bias = values[a.bias] if a.bias is not None else None
        mods += LAYER_TYPES[m.kind].torch(m, net.variables[a.input].shape, values, bias)
        mods += [(cls, args, {}) for cls, args in step.psi().torch(a.out_shape)]
    return mods


def torch_state(net: NetworkIR) -> dict[str, np.ndarray]:
    """The ``state_dict`` (``"0.weight"``, ``"0.bias"``, …) of :func:`sequential_modules`'s
    ``nn.Sequential``, as float64 arrays."""
    out: dict[str, np.ndarray] = {}
    for index, (_, _, kw) in enumerate(sequential_modules(net)):
        for key, value in kw.get("state", {}).items():
            out[f"{index}.{key}"] = np.ascontiguousarray(value, dtype=np.float64)
    return out


def to_torch(net: NetworkIR) -> Any:
    """The ``torch.nn.Sequential`` of :func:`sequential_modules`, in float64, its weights the
    network's."""
    try:
        import torch
    except ModuleNotFoundError:
        raise LbdslError("to_torch needs PyTorch: pip install torch==2.13.0") from None
    layers = []
    for cls, args, kw in sequential_modules(net):
        options = {k: v for k, v in kw.items() if k != "state"}
        layers.append(getattr(torch.nn, cls)(*args, **options))
    model = torch.nn.Sequential(*layers).double()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state(net).items()})
    return model.train(False)
