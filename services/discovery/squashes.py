"""The squashes the analysis simulates, written once for any array module `xp` (NumPy or CuPy):
the same formulas as the evaluator's kernels (squash_math.h) and NEAT-AI, clipped to each
squash's output range (neatai.squash). A squash outside this table (aggregates, STEP, the rare
ones) is not simulated: targets with it use the VALUE-domain formulas."""
from __future__ import annotations

import math

import numpy as np

from neatai.squash import BY_NAME


def _softplus(xp, x):
    return xp.where(x > 20, x, xp.log1p(xp.exp(xp.minimum(x, 20))))


def _sigmoid(xp, x):
    return 0.5 * (1 + xp.tanh(0.5 * x))


_FORMULAS = {
    "IDENTITY": lambda xp, x: x,
    "ReLU": lambda xp, x: xp.maximum(x, 0),
    "ReLU6": lambda xp, x: xp.clip(x, 0, 6),
    "LeakyReLU": lambda xp, x: xp.where(x >= 0, x, 0.01 * x),
    "SELU": lambda xp, x: xp.where(x > 0, 1.0507009873554805 * x,
                                   1.7580993408473766 * xp.expm1(xp.minimum(x, 0))),
    "ELU": lambda xp, x: xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0))),
    "LOGISTIC": _sigmoid,
    "TANH": lambda xp, x: xp.tanh(x),
    "HARD_TANH": lambda xp, x: xp.clip(x, -1, 1),
    "SOFTSIGN": lambda xp, x: x / (1 + xp.abs(x)),
    "Softplus": _softplus,
    "Swish": lambda xp, x: x * _sigmoid(xp, x),
    "Mish": lambda xp, x: x * xp.tanh(_softplus(xp, x)),
    "GELU": lambda xp, x: 0.5 * x * (1 + xp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x))),
    "SINE": lambda xp, x: xp.sin(x),
    "Cosine": lambda xp, x: xp.cos(x),
    "ArcTan": lambda xp, x: xp.arctan(x),
    "GAUSSIAN": lambda xp, x: xp.exp(-x * x),
    "BENT_IDENTITY": lambda xp, x: (xp.sqrt(x * x + 1) - 1) / 2 + x,
    "BIPOLAR_SIGMOID": lambda xp, x: 2 * _sigmoid(xp, x) - 1,
    "BIPOLAR": lambda xp, x: xp.where(x > 0, 1.0, -1.0).astype(x.dtype),
    "ABSOLUTE": lambda xp, x: xp.abs(x),
    "ISRU": lambda xp, x: x / xp.sqrt(1 + x * x),
    "SOFTMAX": _sigmoid,  # one neuron of a softmax output is a LOGISTIC (NEAT-AI Issue #2793)
}

SIMULATED = tuple(_FORMULAS)
# §2.6 ACTIVATION_SPECS: the squashes a new neuron may take (ReLU as its two halves besides).
NEURON_SQUASHES = ("GELU", "ELU", "Softplus", "LOGISTIC", "TANH", "IDENTITY", "BIPOLAR", "HARD_TANH",
                   "ABSOLUTE", "Mish", "SOFTSIGN", "BENT_IDENTITY", "ArcTan", "ReLU6", "ReLU")
SMOOTH = frozenset({"GELU", "ELU", "Softplus", "LOGISTIC", "TANH", "Mish", "SOFTSIGN", "ArcTan", "BENT_IDENTITY"})
# §2.7: every squash a neuron may be changed to
CHANGE_SQUASHES = tuple(n for n in SIMULATED if n not in ("SOFTMAX",))


def simulated(name: str) -> bool:
    return name in _FORMULAS


def apply(xp, name: str, x):
    """limit(f(x)) of squash `name` on array x (its dtype kept); NaN stays NaN."""
    spec = BY_NAME[name]
    with np.errstate(over="ignore", invalid="ignore"):   # huge inputs saturate, as the kernels' do
        y = _FORMULAS[name](xp, x)
    lo, hi = spec.lo, spec.hi
    if lo > -3e38 or hi < 3e38:
        y = xp.clip(y, lo, hi)
    return y.astype(x.dtype, copy=False)
