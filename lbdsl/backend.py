"""Choose the array namespace once.

Numerical code never names NumPy or CuPy: it receives arrays and asks
``array_namespace(x)`` (array-api-compat) for their namespace, so the same kernel runs on
NumPy, CuPy and ``array_api_strict``.  This module is the only place that imports a backend by
name; :func:`namespace` is what the CLI's ``--backend`` and the tests call.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj, to_device

from .errors import BackendError, DataError

__all__ = ["BACKENDS", "namespace", "array_namespace", "asarray", "real", "real_array", "to_numpy",
           "float_dtype"]

#: Backends a user can name on the command line (``--backend``).
BACKENDS = ("numpy", "cupy", "array_api_strict")


def namespace(name: str = "numpy") -> Any:
    """The array-API namespace for ``name``; a :class:`BackendError` if it cannot run here."""
    if name == "numpy":
        return array_namespace(np.empty(0))
    if name == "array_api_strict":
        try:
            return importlib.import_module("array_api_strict")
        except ImportError as exc:
            raise BackendError(
                "backend 'array_api_strict' is not installed: pip install array-api-strict"
            ) from exc
    if name == "cupy":
        return _cupy_namespace()
    raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")


def _cupy_namespace() -> Any:
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        raise BackendError(
            "backend 'cupy' needs CuPy and an NVIDIA GPU with CUDA 12: pip install cupy-cuda12x "
            "(or the `gpu` extra of lbdsl)"
        ) from exc
    # cupy imports without a GPU and fails on the first allocation (cudaErrorInsufficientDriver):
    # ask before any array exists so that the user gets one line, not a CUDA traceback.
    try:
        available = bool(cupy.cuda.is_available())
    except Exception:  # any CUDA runtime failure means the same thing to the user
        available = False
    if not available:
        raise BackendError("backend 'cupy' requested but no CUDA GPU is available on this machine")
    return array_namespace(cupy.empty(0))


def float_dtype(xp: Any, name: str = "float64") -> Any:
    """The namespace's float dtype called ``name`` (``float64`` or ``float32``)."""
    if name not in ("float64", "float32"):
        raise BackendError(f"unknown dtype {name!r}: choose float64 or float32")
    return getattr(xp, name)


def asarray(xp: Any, x: Any, dtype: Any = None) -> Any:
    """``x`` (a NumPy array, list or scalar) as an array of namespace ``xp``."""
    if is_array_api_obj(x) and not isinstance(x, np.ndarray):
        return x if dtype is None else xp.astype(x, dtype)
    return xp.asarray(np.asarray(x), dtype=dtype)


def real(x: Any, what: str) -> Any:
    """An array a user handed over, checked to hold real numbers: an array of any backend is
    returned as it is, anything else (a list, a scalar) as a NumPy array; complex, text or
    object data refused in one line, as the data loader refuses them (a cast would drop an
    imaginary part without a word)."""
    if is_array_api_obj(x) and not isinstance(x, np.ndarray):
        xp = array_namespace(x)
        if not xp.isdtype(x.dtype, ("bool", "integral", "real floating")):
            raise DataError(f"{what} holds {x.dtype} data, not real numbers")
        return x
    try:
        array = np.asarray(x)
    except (ValueError, TypeError) as exc:   # a ragged list, an object NumPy cannot read
        raise DataError(f"{what} is not an array of numbers ({exc})") from None
    if array.dtype.kind not in "biuf":
        raise DataError(f"{what} holds {array.dtype} data, not real numbers")
    return array


def real_array(x: Any, what: str) -> np.ndarray:
    """:func:`real` as a float64 NumPy array on the host."""
    return np.asarray(to_numpy(real(x, what)), dtype=np.float64)


def to_numpy(x: Any) -> np.ndarray:
    """A host NumPy copy of any backend's array (for writing files and figures)."""
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.split(".")[0] == "cupy":   # not anything with a .get (pandas, dict)
        return np.asarray(x.get())
    try:
        return np.asarray(to_device(x, "cpu"))
    except Exception:
        return np.asarray(x)
