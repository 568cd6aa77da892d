"""Parameter initialisation: from a ``param``'s INIT expression to a host ``float64`` array.

Two steps, so that sizes can be checked before anything is allocated:

* :func:`plan_init` checks an INIT expression against the declared shape and returns an
  :class:`InitPlan` (no array yet);
* :func:`materialise` makes the array (reading files through a :class:`Loader`).

Both raise :class:`InitError`, which carries one :class:`~lbdsl.errors.Diagnostic`.

INIT forms (shape ``S``, ``n = prod(S)`` entries, row-major):

==========================================  =====================================================
``normal(mean = 0, std = 1, seed = K)``     i.i.d. N(mean, std²); ``mean``, ``std`` may be positional
``uniform(lo = 0, hi = 1, seed = K)``       i.i.d. U[lo, hi); ``lo < hi``
``zeros`` / ``ones``                        (also written ``zeros()``)
``eye``                                     2-D only; ones on the main diagonal (rectangular ok)
``linspace(a, b)``                          ``n`` equispaced values from a to b, filled row-major
``[1, 2, 3]`` / ``[[1, 0], [0, 1]]``         nested lists must match S exactly; a flat list of
                                            ``n`` numbers is filled row-major
``0.5``                                     a constant
``load("f.npz", "key")`` / ``load("f.npy")``  path relative to the spec's folder; the array must
                                            have shape S exactly, real numeric dtype, all finite;
                                            ``allow_pickle=False`` always; an ``.npz`` holding a
                                            single array may omit the key; the size its header
                                            declares is checked against the file's bytes and
                                            :data:`MAX_PARAM_BYTES` before it is read
                                            (:mod:`lbdsl.bounded`)
==========================================  =====================================================

Seeds: ``numpy.random.default_rng(seed)``.  Inside ``repeat`` the seed of iteration ``i``
(1-based; for nested repeats, the 0-based position of the iteration in the unrolled order) is
``seed + offset`` with ``offset = i − 1``, so ``repeat 1`` reproduces the unrepeated network.
Without ``seed``, the seed is ``zlib.crc32`` of the parameter's final name (``W_3``): stable
across runs and machines, different for each copy.

``dense`` / ``conv2d`` create their weight and bias with PyTorch's default: U(−1/√fan_in,
1/√fan_in) for both (fan_in = input size for dense, C_in·k_h·k_w for conv2d), seeded by
``crc32`` of the created name.
"""

from __future__ import annotations

import difflib
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..bounded import BoundError, check_npy, check_regular, npz_array
from ..errors import Diagnostic, SourceSpan
from ..limits import MAX_MAGNITUDE, MAX_PARAM_BYTES, too_large
from ..syntax import tree
from .nodes import Shape, format_shape, size_of

__all__ = [
    "MAX_PARAM_BYTES", "InitError", "InitPlan", "Loader", "plan_init", "default_init",
    "materialise", "name_seed", "literal_number", "INITIALISERS",
]

#: The initialiser names a spec may use, as they are written.
INITIALISERS = {
    "normal": "normal(mean = 0, std = 1, seed = S)",
    "uniform": "uniform(lo, hi, seed = S)",
    "zeros": "zeros",
    "ones": "ones",
    "eye": "eye",
    "linspace": "linspace(a, b)",
    "load": 'load("file.npz", "key")',
}
_FORMS = ", ".join(INITIALISERS.values()) + ", a number, or a list [1, 2, 3]"


class InitError(Exception):
    """An INIT expression that cannot make the declared parameter."""

    def __init__(self, span: SourceSpan | None, message: str, hint: str | None = None):
        super().__init__(message)
        self.diagnostic = Diagnostic(span, message, hint)


@dataclass(frozen=True)
class InitPlan:
    """A checked initialiser: ``kind`` and its arguments, not yet an array."""

    kind: str
    args: dict[str, Any]
    span: SourceSpan | None
    origin: str


def name_seed(name: str) -> int:
    """The stable seed used when none is given: ``zlib.crc32`` of the parameter's name."""
    return zlib.crc32(name.encode("utf-8"))


# --- planning --------------------------------------------------------------------------------

def literal_number(expr: tree.Expr, products: bool = False) -> float | int | None:
    """The value of a numeric literal (also ``-x``, and with ``products`` a product of
    literals), else None."""
    if isinstance(expr, tree.Number):
        return expr.value
    if isinstance(expr, tree.Neg):
        inner = literal_number(expr.operand, products)
        return None if inner is None else -inner
    if products and isinstance(expr, tree.BinOp) and expr.op == "*":
        left, right = literal_number(expr.left, True), literal_number(expr.right, True)
        if left is not None and right is not None:
            return left * right
    return None


def _fmt(x: float) -> str:
    return f"{x:g}"


def _bind_args(call: tree.Call, positional: tuple[str, ...], keywords: tuple[str, ...],
               ) -> dict[str, tree.Expr]:
    """Match a call's arguments to parameter names; :class:`InitError` on a mismatch."""
    if len(call.args) > len(positional):
        extra = call.args[len(positional)]
        takes = f"at most {len(positional)}" if positional else "no"
        raise InitError(extra.span, f"`{call.func}` takes {takes} positional arguments",
                        f"write it as {INITIALISERS[call.func]}")
    bound: dict[str, tree.Expr] = dict(zip(positional, call.args))
    for kw in call.kwargs:
        if kw.name not in keywords:
            raise InitError(kw.span, f"`{call.func}` has no argument `{kw.name}`",
                            f"write it as {INITIALISERS[call.func]}")
        if kw.name in bound:
            raise InitError(kw.span, f"`{call.func}` got `{kw.name}` twice")
        bound[kw.name] = kw.value
    return bound


def _num_arg(call: tree.Call, bound: dict[str, tree.Expr], key: str, default: float | None,
             ) -> float:
    if key not in bound:
        if default is None:
            raise InitError(call.span, f"`{call.func}` needs `{key}`",
                            f"write it as {INITIALISERS[call.func]}")
        return default
    value = literal_number(bound[key])
    if value is None:
        raise InitError(bound[key].span, f"`{key}` of `{call.func}` must be a number")
    if not math.isfinite(value):
        raise InitError(bound[key].span, f"`{key}` of `{call.func}` must be finite")
    return float(value)


def _seed(call: tree.Call, bound: dict[str, tree.Expr], name: str, offset: int) -> int:
    if "seed" not in bound:
        return name_seed(name)
    value = literal_number(bound["seed"])
    if value is None or isinstance(value, float) or value < 0:
        raise InitError(bound["seed"].span,
                        f"the seed of `{call.func}` must be a non-negative integer")
    return int(value) + offset


def plan_init(expr: tree.Expr, shape: Shape, name: str, seed_offset: int = 0) -> InitPlan:
    """Check ``expr`` as the INIT of parameter ``name`` of ``shape``; no array is made."""
    if isinstance(expr, tree.Name) and expr.id in ("zeros", "ones", "eye"):
        expr = tree.Call(expr.id, (), (), expr.span, expr.span)
    number = literal_number(expr)
    if number is not None:
        if not math.isfinite(number):
            raise InitError(expr.span, "a constant initialiser must be finite")
        return InitPlan("constant", {"value": float(number)}, expr.span, _fmt(number))
    if isinstance(expr, tree.ListLit):
        return _plan_list(expr, shape, name)
    if isinstance(expr, (tree.Name, tree.Call)):
        func = expr.id if isinstance(expr, tree.Name) else expr.func
        span = expr.span if isinstance(expr, tree.Name) else expr.func_span
        if func not in INITIALISERS:
            guess = difflib.get_close_matches(func, list(INITIALISERS), n=1, cutoff=0.6)
            hint = f"did you mean `{guess[0]}`? " if guess else ""
            raise InitError(span, f"unknown initialiser `{func}`", hint + f"use one of {_FORMS}")
        if isinstance(expr, tree.Name):  # normal, uniform, linspace, load written without ()
            if func in ("normal", "uniform"):
                expr = tree.Call(func, (), (), expr.span, expr.span)
            else:
                raise InitError(span, f"`{func}` needs arguments",
                                f"write it as {INITIALISERS[func]}")
        return _PLANNERS[func](expr, shape, name, seed_offset)
    raise InitError(expr.span, "this is not an initialiser", f"use one of {_FORMS}")


def _plan_normal(call: tree.Call, shape: Shape, name: str, offset: int) -> InitPlan:
    bound = _bind_args(call, ("mean", "std", "seed"), ("mean", "std", "seed"))
    mean = _num_arg(call, bound, "mean", 0.0)
    std = _num_arg(call, bound, "std", 1.0)
    if std < 0:
        raise InitError(bound["std"].span, f"`std` must be >= 0, got {_fmt(std)}")
    seed = _seed(call, bound, name, offset)
    return InitPlan("normal", {"mean": mean, "std": std, "seed": seed}, call.span,
                    f"normal(mean={_fmt(mean)}, std={_fmt(std)}, seed={seed})")


def _plan_uniform(call: tree.Call, shape: Shape, name: str, offset: int) -> InitPlan:
    bound = _bind_args(call, ("lo", "hi", "seed"), ("lo", "hi", "seed"))
    lo = _num_arg(call, bound, "lo", 0.0)
    hi = _num_arg(call, bound, "hi", 1.0)
    if not lo < hi:
        raise InitError(call.span, f"`uniform` needs lo < hi, got lo = {_fmt(lo)}, "
                        f"hi = {_fmt(hi)}")
    seed = _seed(call, bound, name, offset)
    return InitPlan("uniform", {"lo": lo, "hi": hi, "seed": seed}, call.span,
                    f"uniform({_fmt(lo)}, {_fmt(hi)}, seed={seed})")


def _plan_constant_kind(call: tree.Call, shape: Shape, name: str, offset: int) -> InitPlan:
    _bind_args(call, (), ())
    if call.func == "eye" and len(shape) != 2:
        raise InitError(call.func_span,
                        f"`eye` needs a 2-D parameter, but `{name}` is {format_shape(shape)}",
                        "declare it as MxN, or use ones / a list")
    return InitPlan(call.func, {}, call.span, call.func)


def _plan_linspace(call: tree.Call, shape: Shape, name: str, offset: int) -> InitPlan:
    bound = _bind_args(call, ("a", "b"), ("a", "b"))
    a = _num_arg(call, bound, "a", None)
    b = _num_arg(call, bound, "b", None)
    return InitPlan("linspace", {"a": a, "b": b}, call.span,
                    f"linspace({_fmt(a)}, {_fmt(b)})")


def _plan_load(call: tree.Call, shape: Shape, name: str, offset: int) -> InitPlan:
    bound = _bind_args(call, ("file", "key"), ("file", "key"))
    if "file" not in bound:
        raise InitError(call.span, "`load` needs a file name", f"write {INITIALISERS['load']}")
    for key in ("file", "key"):
        if key in bound and not isinstance(bound[key], tree.String):
            raise InitError(bound[key].span, f"the {key} of `load` must be a string in quotes")
    file = bound["file"].value  # type: ignore[union-attr]
    key = bound["key"].value if "key" in bound else None  # type: ignore[union-attr]
    origin = f'load("{file}", "{key}")' if key is not None else f'load("{file}")'
    return InitPlan("load", {"file": file, "key": key}, call.span, origin)


def _list_shape(lit: tree.ListLit) -> tuple[Shape, list[float]]:
    """The nested shape of a list literal and its numbers in row-major order."""
    if not lit.items:
        raise InitError(lit.span, "an empty list cannot initialise a parameter")
    if all(isinstance(item, tree.ListLit) for item in lit.items):
        shapes, values = [], []
        for item in lit.items:
            s, v = _list_shape(item)  # type: ignore[arg-type]
            shapes.append(s)
            values.extend(v)
        if any(s != shapes[0] for s in shapes):
            raise InitError(lit.span, "the rows of this list have different lengths")
        return (len(lit.items), *shapes[0]), values
    values = []
    for item in lit.items:
        value = literal_number(item)
        if value is None:
            raise InitError(item.span, "a list initialiser may hold only numbers (or lists "
                            "of numbers, all of the same length)")
        if not math.isfinite(value):
            raise InitError(item.span, "list entries must be finite")
        values.append(float(value))
    return (len(lit.items),), values


def _plan_list(lit: tree.ListLit, shape: Shape, name: str) -> InitPlan:
    got, values = _list_shape(lit)
    flat_ok = len(got) == 1 and got[0] == size_of(shape)
    if got != shape and not flat_ok:
        raise InitError(lit.span,
                        f"the list is {format_shape(got)} but `{name}` is {format_shape(shape)}",
                        f"give a nested list of shape {format_shape(shape)}, or a flat list of "
                        f"{size_of(shape)} numbers (filled row-major)")
    return InitPlan("list", {"values": values}, lit.span, f"list of {len(values)}")


_PLANNERS = {
    "normal": _plan_normal,
    "uniform": _plan_uniform,
    "zeros": _plan_constant_kind,
    "ones": _plan_constant_kind,
    "eye": _plan_constant_kind,
    "linspace": _plan_linspace,
    "load": _plan_load,
}


def default_init(name: str, fan_in: int, span: SourceSpan | None) -> InitPlan:
    """PyTorch's default for created weights and biases: U(±1/√fan_in), seeded by ``name``."""
    bound = 1.0 / math.sqrt(fan_in)
    seed = name_seed(name)
    return InitPlan("uniform", {"lo": -bound, "hi": bound, "seed": seed}, span,
                    f"uniform(±1/√{fan_in}, seed={seed}) [PyTorch default]")


# --- materialising ---------------------------------------------------------------------------

class Loader:
    """Reads ``.npy`` / ``.npz`` files once per build; always ``allow_pickle=False``, and
    never an array larger than its file holds or than :data:`MAX_PARAM_BYTES`."""

    def __init__(self, base_dir: Path):
        self.base_dir = Path(base_dir)
        self._npz: dict[Path, Any] = {}

    def close(self) -> None:
        for npz in self._npz.values():
            npz.close()
        self._npz.clear()

    def __enter__(self) -> "Loader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, file: str, key: str | None, span: SourceSpan | None,
             default_key: str | None = None) -> np.ndarray:
        """The array stored in ``file`` (under ``key`` for ``.npz``), not yet validated.

        Without a key, an ``.npz`` archive is read under ``default_key`` (the parameter's own
        final name, ``W_3`` inside a repeat: what a trained ``weights.npz`` stores) when it holds
        that array, else its only array.
        """
        path = Path(file)
        if not path.is_absolute():
            path = self.base_dir / path
        if not path.exists():
            raise InitError(span, f"cannot load `{file}`: no such file",
                            f"looked for {path} (paths are relative to the spec file's folder)")
        try:   # a FIFO would wait for a writer, a device might never end
            check_regular(path)
        except BoundError as exc:
            raise InitError(span, f"cannot load `{file}`: {exc}") from None
        if path not in self._npz:
            _check_signature(path, file, span)
        try:
            if path in self._npz:
                loaded: Any = self._npz[path]
            else:
                if _is_npy(path):
                    check_npy(path, "it")
                loaded = _np_load(path)
                if isinstance(loaded, np.lib.npyio.NpzFile):
                    self._npz[path] = loaded
        except BoundError as exc:
            raise InitError(span, f"cannot read `{file}`: {exc}") from None
        except ValueError as exc:
            raise _read_error(file, exc, span) from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise _read_error(file, exc, span) from None
        if isinstance(loaded, np.lib.npyio.NpzFile):
            keys = list(loaded.files)
            if key is None and default_key in keys:
                key = default_key
            if key is None:
                if len(keys) != 1:
                    raise InitError(span, f"`{file}` holds {len(keys)} arrays and none is "
                                    f"called `{default_key}`; say which one",
                                    f'write load("{file}", "KEY") with KEY one of: '
                                    + (", ".join(keys) or "(none: the archive is empty)"))
                key = keys[0]
            if key not in keys:
                raise InitError(span, f"`{file}` has no array `{key}`",
                                "it holds: " + (", ".join(keys) or "nothing (empty archive)"))
            try:
                return np.asarray(npz_array(loaded, key, "it"))
            except BoundError as exc:
                raise InitError(span, f"cannot read `{file}[{key}]`: {exc}") from None
            except ValueError as exc:
                raise _read_error(f"{file}[{key}]", exc, span) from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise _read_error(f"{file}[{key}]", exc, span) from None
        if key is not None:
            raise InitError(span, f"`{file}` is a .npy file, which holds one array, "
                            f"so it takes no key (`{key}`)", f'write load("{file}")')
        return loaded


def _check_signature(path: Path, file: str, span: SourceSpan | None) -> None:
    """Refuse anything that is not a .npy or .npz file before NumPy looks at it (NumPy
    treats an unknown file as a pickle)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(6)
    except OSError as exc:
        raise InitError(span, f"cannot read `{file}`: {exc.strerror or exc}") from None
    if head.startswith(b"\x93NUMPY") or head.startswith(b"PK"):
        return
    if head[:1] == b"\x80":
        raise InitError(span, f"`{file}` is a Python pickle, which lbdsl never loads",
                        "save a numeric array with numpy.save or numpy.savez")
    raise InitError(span, f"cannot read `{file}`: it is not a .npy or .npz file "
                    "(it does not start with the NumPy or zip signature)",
                    "write it with numpy.save or numpy.savez")


def _is_npy(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(6) == b"\x93NUMPY"


def _np_load(path: Path) -> Any:
    """``numpy.load`` without pickles; memory-mapped first so that a wrong shape is caught
    before a large file is read (zero-size arrays cannot be mapped, hence the retry)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "Python objects" in str(exc):
            raise
        return np.load(path, allow_pickle=False)


def _read_error(what: str, exc: BaseException, span: SourceSpan | None) -> InitError:
    text = str(exc)
    if "allow_pickle" in text or "Python objects" in text:
        return InitError(span, f"`{what}` holds Python objects (a pickled object array), "
                         "which lbdsl never loads", "save a numeric array with numpy.save / "
                         "numpy.savez (e.g. arr.astype(float))")
    return InitError(span, f"cannot read `{what}`: it is not a valid .npy/.npz file "
                     f"({type(exc).__name__}: {text or 'truncated or corrupt'})",
                     "write it with numpy.save or numpy.savez")


def _validated(array: np.ndarray, shape: Shape, what: str, name: str,
               span: SourceSpan | None) -> np.ndarray:
    if array.dtype.kind == "O":
        raise InitError(span, f"`{what}` holds Python objects, which lbdsl never loads")
    if array.dtype.kind not in "biuf":
        raise InitError(span, f"`{what}` holds {array.dtype} data, not real numbers",
                        "save a float or integer array")
    if tuple(array.shape) != tuple(shape):
        got = format_shape(array.shape) if array.ndim else "a scalar"
        raise InitError(span, f"`{what}` holds an array of shape {got} but `{name}` is "
                        f"declared {format_shape(shape)}",
                        "reshape the array before saving it, or change the declared shape")
    out = np.array(array, dtype=np.float64, order="C", copy=True)
    problem = too_large(out)
    if problem:
        raise InitError(span, f"`{what}` {problem}", "parameters must be finite and at most "
                        f"{MAX_MAGNITUDE:.0e} in magnitude")
    return out


def materialise(plan: InitPlan, shape: Shape, name: str, loader: Loader | None) -> np.ndarray:
    """The parameter's initial value: a C-contiguous ``float64`` array of ``shape`` (``loader``
    is needed by ``load`` only)."""
    kind, args = plan.kind, plan.args
    n = size_of(shape)
    if kind == "normal":
        rng = np.random.default_rng(args["seed"])
        return rng.normal(args["mean"], args["std"], size=shape).astype(np.float64)
    if kind == "uniform":
        rng = np.random.default_rng(args["seed"])
        return rng.uniform(args["lo"], args["hi"], size=shape).astype(np.float64)
    if kind == "zeros":
        return np.zeros(shape)
    if kind == "ones":
        return np.ones(shape)
    if kind == "eye":
        return np.eye(shape[0], shape[1])
    if kind == "constant":
        return np.full(shape, args["value"], dtype=np.float64)
    if kind == "linspace":
        return np.linspace(args["a"], args["b"], n).reshape(shape)
    if kind == "list":
        return np.asarray(args["values"], dtype=np.float64).reshape(shape)
    if kind == "load":
        file, key = args["file"], args["key"]
        what = file if key is None else f"{file}[{key}]"
        return _validated(loader.read(file, key, plan.span, default_key=name), shape, what, name,
                          plan.span)
    raise AssertionError(f"unknown init kind {kind!r}")  # pragma: no cover
