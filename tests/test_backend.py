"""The array namespace is chosen in one place, and an unusable backend fails in one line."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from lbdsl.backend import asarray, float_dtype, namespace, to_numpy
from lbdsl.errors import BackendError


def test_numpy_and_strict_namespaces_round_trip() -> None:
    for name in ("numpy", "array_api_strict"):
        xp = namespace(name)
        a = asarray(xp, [1.0, 2.0], dtype=float_dtype(xp, "float32"))
        assert a.dtype == xp.float32
        assert np.array_equal(to_numpy(a), np.array([1.0, 2.0], dtype=np.float32))


def test_unknown_backend_and_dtype_are_refused() -> None:
    with pytest.raises(BackendError, match="unknown backend 'torch'"):
        namespace("torch")
    with pytest.raises(BackendError, match="float16"):
        float_dtype(namespace("numpy"), "float16")


def test_cupy_missing_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy → ImportError
    with pytest.raises(BackendError) as info:
        namespace("cupy")
    assert "pip install cupy-cuda12x" in str(info.value) and "\n" not in str(info.value)


def test_cupy_without_a_gpu_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """cupy imports without a GPU and fails on first allocation; we ask before allocating."""
    def no_driver() -> bool:
        raise RuntimeError("cudaErrorInsufficientDriver")

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=no_driver),
                                 empty=lambda n: pytest.fail("allocated on a machine without GPU"))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(BackendError, match="no CUDA GPU is available"):
        namespace("cupy")
    fake.cuda.is_available = lambda: False
    with pytest.raises(BackendError, match="no CUDA GPU is available"):
        namespace("cupy")
