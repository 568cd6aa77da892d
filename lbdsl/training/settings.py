"""The optimizers of training, each a settings dataclass whose :func:`~lbdsl.options.option`
fields are the options a spec may give it (``optimizer = adam(lr = 1e-3, epochs = 20)``), and
the registry of them (:data:`OPTIMIZERS`).

``lifted`` says whether an optimizer is lifted Bregman training itself (``implicit_sgd``: it
needs ``loss = bregman``) or an update of the parameters from gradients, on either loss
(``sgd``, ``adam``: :meth:`update` makes it, :mod:`.optim`); ``backprop_only`` marks one that
needs backpropagated gradients at points of its own choosing (``isgd_bp``: ``loss = mse``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..options import option
from ..registry import Registry
from .optim import AdamUpdate, ImplicitUpdate, SGDUpdate

__all__ = ["EpochLoop", "ImplicitSGD", "SGD", "Adam", "ISGDBP", "Optimizer", "OPTIMIZERS"]


@dataclass(frozen=True, kw_only=True)
class EpochLoop:
    """What every optimizer has: ``epochs`` over the data in batches of ``batch`` samples."""

    name: ClassVar[str]
    lifted: ClassVar[bool] = False
    backprop_only: ClassVar[bool] = False

    epochs: int = option("count", 10, doc="passes over the training data")
    batch: int = option("count", 32, doc="samples per step")
    patience: int | None = option("count", None, doc="stop once the validation PSNR has not "
                                  "improved for this many epochs, keeping the best epoch's "
                                  "parameters (needs validation data)")

    def update(self) -> Any:
        """The explicit update of the parameters (None: lifted training's own steps)."""
        return None


@dataclass(frozen=True, kw_only=True)
class ImplicitSGD(EpochLoop):
    """``implicit_sgd(epochs, batch, tau, inner, precondition)``: the seed's lifted solver
    (math.md §5); ``precondition`` takes :func:`~.lifted.majorised_step`."""

    name: ClassVar[str] = "implicit_sgd"
    lifted: ClassVar[bool] = True

    tau: float = option("positive", 1.0, doc="the proximal step of the parameters")
    inner: int = option("count", 10, doc="state and parameter sweeps per batch")
    precondition: bool = option("boolean", False,
                                doc="the Θ-step of a dense layer preconditioned by its input's "
                                    "Gram matrix (majorise-minimise, Woodbury on the batch)")


@dataclass(frozen=True, kw_only=True)
class SGD(EpochLoop):
    """``sgd(lr, epochs, batch, momentum)``: stochastic gradient with heavy-ball momentum."""

    name: ClassVar[str] = "sgd"

    lr: float = option("positive", 0.01, doc="the step")
    momentum: float = option("unit", 0.0, doc="heavy-ball momentum")

    def update(self) -> SGDUpdate:
        return SGDUpdate(self.lr, self.momentum)


@dataclass(frozen=True, kw_only=True)
class Adam(EpochLoop):
    """``adam(lr, epochs, batch, beta1, beta2, eps)``."""

    name: ClassVar[str] = "adam"

    lr: float = option("positive", 1e-3, doc="the step")
    beta1: float = option("unit", 0.9, doc="the first moment's decay")
    beta2: float = option("unit", 0.999, doc="the second moment's decay")
    eps: float = option("positive", 1e-8, doc="added to the second moment's root")

    def update(self) -> AdamUpdate:
        return AdamUpdate(self.lr, self.beta1, self.beta2, self.eps)


@dataclass(frozen=True, kw_only=True)
class ISGDBP(EpochLoop):
    """``isgd_bp(lr, tau, inner, epochs, batch)``: implicit SGD with backpropagated gradients,
    the seed's third baseline (:class:`~.optim.ImplicitUpdate`)."""

    name: ClassVar[str] = "isgd_bp"
    backprop_only: ClassVar[bool] = True

    lr: float = option("positive", 0.01, doc="the step of the inner gradient iterations")
    tau: float = option("positive", 1.0, doc="the proximal step (1/2τ)‖Θ − Θ^k‖²")
    inner: int = option("count", 5, doc="gradient iterations per batch")

    def update(self) -> ImplicitUpdate:
        return ImplicitUpdate(self.lr, self.tau, self.inner)


Optimizer = ImplicitSGD | SGD | Adam | ISGDBP

OPTIMIZERS: Registry[type[EpochLoop]] = Registry("optimizer", (ImplicitSGD, SGD, Adam, ISGDBP))
