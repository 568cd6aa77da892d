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

import re
from pathlib import Path

from ..errors import LbdslError
from ..outputs import write_npz_atomic, write_text_atomic
from .onnx_export import export_onnx
from .torch import from_torch, to_torch, torch_state

__all__ = ["import_onnx", "export_onnx", "from_torch", "to_torch", "torch_state"]


def import_onnx(model: str | Path, out: str | Path = ".", name: str | None = None,
                ) -> tuple[Path, Path]:
    """Write ``out/NAME.lbn`` and ``out/NAME.npz`` for the ONNX model at ``model`` (``NAME``:
    the model file's stem); returns both paths.  Each file is written whole or not at all."""
    from .onnx_import import KEYWORDS, ImportRefused, read_model, translate

    model = Path(model)
    name = name or (re.sub(r"\W", "_", model.stem).strip("_") or "model")
    if not re.match(r"[A-Za-z_]", name) or name in KEYWORDS:
        name = f"net_{name}"
    loaded = read_model(model)
    try:
        imported = translate(loaded, name, f"{name}.npz")
    except ImportRefused as err:
        raise ImportRefused(f"{model}: {err}") from None
    folder = Path(out)
    spec, weights = folder / f"{name}.lbn", folder / f"{name}.npz"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_npz_atomic(weights, imported.weights)
        write_text_atomic(spec, imported.text)
    except OSError as exc:
        raise LbdslError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    return spec, weights
