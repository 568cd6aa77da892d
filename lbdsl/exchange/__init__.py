"""Models in and out: ONNX files (and PyTorch modules through them) as ``.lbn`` specs.

* :func:`import_onnx` — ``MODEL.onnx`` → ``NAME.lbn`` + ``NAME.npz`` (:mod:`.onnx_import`);
* :func:`export_onnx` — a spec's network (its own or trained weights) → an ONNX model
  (:mod:`.onnx_export`);
* :func:`from_torch` / :func:`torch_state` — a ``torch.nn`` module through ``torch.onnx`` to the
  importer, and a network's weights as a ``state_dict`` of the equivalent ``nn.Sequential``
  (:mod:`.torch`).

``onnx`` is an optional extra (``pip install 'lbdsl[onnx]'``); nothing here is imported before
it is used.
"""

from __future__ import annotations

from .onnx_export import export_onnx
from .onnx_import import import_onnx
from .torch import from_torch, to_torch, torch_state

__all__ = ["import_onnx", "export_onnx", "from_torch", "to_torch", "torch_state"]
