"""Shape arithmetic read by the importer (:mod:`.onnx_import`): the small integer graphs that
PyTorch's exporter writes in front of a ``Reshape`` — ``nn.Unflatten(1, (C, H, W))``,
``x.view(x.size(0), C, H, W)``, ``x.reshape(x.shape[0], -1)``,
``nn.Upsample(size=(H, W))``.

``Shape`` of a variable gives the sizes the importer knows, except the batch's, which a spec
leaves open.  That entry is tracked, not valued: each constant made from a ``Shape`` carries a
mask of the entries that are the batch's size, which ``Gather``, ``Slice``, ``Concat``,
``Cast``, ``Squeeze``, ``Unsqueeze``, ``Reshape`` and ``Identity`` move along with the entries.
A ``Reshape`` of a variable reads such an entry only as its first (the batch kept), a
``Resize`` only as the batch's size; any other op that reads one (arithmetic on the batch's
size) is refused in one line.  ``Mod``, ``Gather``, ``Slice``, ``Concat`` and ``Cast`` of
constants are folded (the ops that also read variables fold constants themselves); a
``Gather`` of a variable by constant indices, off the batch axis, is a selection (its matrix).

A mixin of the importer's translator, as :class:`~.onnx_maps.LinearOps` is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .onnx_linear import attrs

__all__ = ["ShapeOps", "BATCH_READERS"]

#: The inputs (op, position) that may hold the batch's size; ``None``: every input.  The
#: entries are moved (a constant folded) or read as the batch axis's size.
BATCH_READERS: dict[str, tuple[int, ...] | None] = {
    "Gather": (0,), "Slice": (0,), "Concat": None, "Cast": (0,), "Squeeze": (0,),
    "Unsqueeze": (0,), "Reshape": (0, 1), "Flatten": (0,), "Identity": (0,), "Resize": (3,)}


class ShapeOps:
    """The translator's shape arithmetic (mixed into ``_Translator``)."""

    def batch_mask(self, name: str) -> np.ndarray | None:
        """Which entries of constant ``name`` are the batch's size (None: none is)."""
        return self.batch.get(name)

    def folded(self, node: Any, value: np.ndarray, mask: np.ndarray | None = None) -> None:
        """The node's output is the constant ``value`` (``mask``: its batch entries)."""
        out = node.output[0]
        if out in self.values or out in self.consts:
            self.refuse(node, f"its output '{out}' is produced twice")
        self.consts[out] = value
        if mask is not None and mask.any():
            self.batch[out] = mask

    def check_batch(self, node: Any) -> None:
        """Refuse a node that computes with the batch's size (module docstring)."""
        allowed = BATCH_READERS.get(node.op_type, ())
        for i, name in enumerate(node.input):
            if name and name in self.batch and allowed is not None and i not in allowed:
                self.refuse(node, f"its input '{name}' holds the batch's size (read by Shape "
                            "at run time), which a spec leaves open; only a reshape that keeps "
                            "the batch first (x.view(x.size(0), ...), nn.Unflatten) may read "
                            "it")

    def moved(self, node: Any, fn: Any, data: list[str]) -> None:
        """A constant made by moving the entries of the constants ``data`` (``fn(arrays)``):
        folded, and the masks of its batch entries moved the same way."""
        values = [self.consts[n] for n in data]
        try:
            value = np.asarray(fn(values))
            masks = None
            if any(n in self.batch for n in data):
                masks = np.asarray(fn([self.batch.get(n, np.zeros(v.shape, dtype=bool))
                                       for n, v in zip(data, values)]), dtype=bool)
        except (ValueError, IndexError, TypeError) as exc:
            self.refuse(node, f"it cannot be computed from its constants ({exc})")
        self.folded(node, value, masks)

    def op_Shape(self, node: Any) -> None:
        """The sizes of a tensor, its batch's size an entry that is tracked (``start`` and
        ``end``, opset 15, select axes)."""
        src = node.input[0]
        if src in self.consts:
            full = np.asarray(self.consts[src].shape, dtype=np.int64)
            mask = np.zeros(full.shape, dtype=bool)
        else:
            if src not in self.values:
                self.refuse(node, f"its input '{src}' is not computed before it")
            full = np.asarray((1, *self.shape_of(src)), dtype=np.int64)
            mask = np.arange(full.size) == 0
        a = attrs(node)
        lo, hi = int(a.get("start", 0)), a.get("end")
        part = slice(lo, None if hi is None else int(hi))
        self.folded(node, full[part].copy(), mask[part].copy())

    def op_Gather(self, node: Any) -> None:
        """Of constants: folded; of a variable by constant indices along an axis that is not
        the batch's: a selection, its matrix."""
        data, idx = node.input[0], node.input[1]
        if idx not in self.consts:
            self.refuse(node, f"its indices ('{idx}') are computed, not a constant")
        indices = self.consts[idx]
        axis = int(attrs(node).get("axis", 0))
        shape = self.consts[data].shape if data in self.consts else (1, *self.shape_of(data))
        if indices.dtype.kind not in "iu" or not -len(shape) <= axis < len(shape) or np.any(
                (indices < -shape[axis]) | (indices >= shape[axis])):
            self.refuse(node, f"indices {indices.reshape(-1)[:8].tolist()} along axis {axis} "
                        f"of a {shape} tensor are not read (integers within its size)")
        axis %= len(shape)
        out = (*shape[:axis], *indices.shape, *shape[axis + 1:])
        indices = indices.astype(np.int64)
        if data in self.consts:
            self.check_size(node, out)
            return self.moved(node, lambda v: np.take(v[0], indices, axis=axis), [data])
        if axis == 0:
            self.refuse(node, "it selects samples of the batch")
        self.linear_op(node, lambda x: np.take(x, indices, axis=axis))

    def op_Concat(self, node: Any) -> None:
        names = [n for n in node.input if n]
        if any(n not in self.consts for n in names):
            self.refuse(node, "a Concat of variables is not read (it writes several layers' "
                        "entries into one tensor; lbdsl folds it on constants: shapes)")
        axis = int(attrs(node).get("axis", 0))
        self.moved(node, lambda v: np.concatenate(v, axis=axis), names)

    def op_Cast(self, node: Any) -> None:
        """Of a constant: folded (of a variable: refused; a model cast in the middle computes
        in another precision)."""
        from onnx import helper

        src = node.input[0]
        if src not in self.consts:
            self.refuse(node, "a Cast of a variable is not read (lbdsl computes in float64; "
                        "export the model in one precision)")
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(int(attrs(node).get("to", 0))))
        except (KeyError, TypeError, ValueError):
            dtype = np.dtype(object)
        if dtype.kind not in "iufb":
            self.refuse(node, f"a Cast to {dtype} is not read (numbers only)")
        self.folded(node, self.consts[src].astype(dtype), self.batch.get(src))

    def op_Mod(self, node: Any) -> None:
        """Of constants: folded."""
        if any(n not in self.consts for n in node.input[:2]):
            self.refuse(node, "a Mod of a variable is not a linear map")
        a, b = (self.consts[n] for n in node.input[:2])
        try:
            out = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            self.refuse(node, f"constants of shapes {a.shape} and {b.shape} do not broadcast")
        self.check_size(node, out)
        if not np.all(b != 0):
            self.refuse(node, "it divides by zero")
        fmod = int(attrs(node).get("fmod", 0))
        self.folded(node, np.fmod(a, b) if fmod else np.mod(a, b))
