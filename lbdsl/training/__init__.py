"""Training: fit a network's parameters to input/target pairs (math.md §5).

:func:`train` runs lifted Bregman training (implicit SGD on the parameters and the per-sample
hidden states, :mod:`.lifted`) or the backpropagation baseline on the MSE (:mod:`.backprop`,
SGD with momentum or Adam), over the same batches.  :mod:`.model` is the trainable view of a
network, :mod:`.layers` its affine maps (with the parameter gradients, conv2d included),
:mod:`.penalty` the penalties on hidden states and their proxes, :mod:`.optim` the explicit
updates.
"""

from .api import TrainResult, TrainState, predict, train
from .model import Model
from .penalty import StatePenalty

__all__ = ["train", "predict", "TrainResult", "TrainState", "Model", "StatePenalty"]
