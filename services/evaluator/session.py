"""A creature activated step by step with its state kept: the episode of a control task.

    session = Session(compile_network(creature))
    for observation in episode:
        action = session.step(observation)      # self and back synapses read the last step
    session.reset()                              # a new episode starts from zero activations

With `feedback_loop` a single `activate(X)` call carries state from record to record; a session
carries it from call to call, so a client can act on each output before the next input exists.
"""
from __future__ import annotations

import numpy as np

from .compiled import Network
from .forward import activate_from


class Session:
    def __init__(self, network: Network):
        self.network = network
        self.state = np.zeros(network.n_inputs + network.n_neurons, np.float32)
        self.steps = 0

    def step(self, X) -> np.ndarray:
        """Outputs float32[n, outputs] of records X (float32[n, inputs] or one row float32[inputs])
        taken in order after every record stepped so far."""
        x = np.asarray(X, np.float32)
        one = x.ndim == 1
        out = activate_from(self.network, x.reshape(1, -1) if one else x, self.state)
        self.steps += len(out)
        return out[0] if one else out

    def reset(self) -> None:
        self.state[:] = 0.0
        self.steps = 0
