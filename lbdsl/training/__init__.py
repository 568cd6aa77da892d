"""Training: fit a network's parameters to input/target pairs (math.md §5).

:func:`train` runs lifted Bregman training (implicit SGD on the parameters and the per-sample
hidden states, :mod:`.lifted`) or the backpropagation baseline on the MSE (:mod:`.backprop`,
SGD with momentum or Adam), over the same batches, on the network runtime of
:mod:`lbdsl.lift.network` (feed-forward, conv2d and residual layers).  :mod:`.penalty` holds
the penalties on hidden states and their proxes, :mod:`.optim` the explicit updates.
"""

from .api import TrainResult, TrainState, predict, train
from .penalty import state_penalty

__all__ = ["train", "predict", "TrainResult", "TrainState", "state_penalty"]
