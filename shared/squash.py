"""The squash (activation) catalogue of NEAT-AI: names, aliases, kernel ids, output ranges.

One table serves the creature model (which names are valid, how legacy aliases map), the
kernels (the integer id each neuron carries) and the mutation operators (the weighted pool).
Ids and semantics follow reference/neat-ai.md §2.1; the kernels implement the functions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

FLT_MAX = 3.4028234663852886e38
_ALL = (-FLT_MAX, FLT_MAX)


@dataclass(frozen=True)
class Squash:
    id: int
    name: str  # canonical NEAT-AI JSON name
    lo: float  # output range the activation is clamped to (NaN -> 0, +-inf -> bounds)
    hi: float
    weight: int  # weight in the mutation pool (0 = never picked by mutation)
    aggregate: bool = False  # combines inputs itself instead of bias + sum(w*a)
    deprecated: bool = False


SQUASHES: tuple[Squash, ...] = (
    Squash(0, "IDENTITY", *_ALL, 1),
    Squash(1, "ReLU", 0.0, FLT_MAX, 5),
    Squash(2, "ReLU6", 0.0, 6.0, 3),
    Squash(3, "LeakyReLU", *_ALL, 36),
    Squash(4, "SELU", -1.0507009873554805 * 1.6732632423543772, FLT_MAX, 32),
    Squash(5, "ELU", -1.0, FLT_MAX, 33),
    Squash(6, "LOGISTIC", 0.0, 1.0, 25),
    Squash(7, "TANH", -1.0, 1.0, 30),
    Squash(8, "HARD_TANH", -1.0, 1.0, 21),
    Squash(9, "SOFTSIGN", -0.99, 0.99, 22),
    Squash(10, "Softplus", 1e-15, 100.0, 24),
    Squash(11, "Swish", -0.2784645427610738, FLT_MAX, 35),
    Squash(12, "Mish", -0.30883909386416, FLT_MAX, 31),
    Squash(13, "GELU", -0.17004075057698, FLT_MAX, 34),
    Squash(14, "SINE", -1.0, 1.0, 16),
    Squash(15, "Cosine", -1.0, 1.0, 15),
    Squash(16, "TAN", *_ALL, 2),
    Squash(17, "ArcTan", -math.pi / 2, math.pi / 2, 23),
    Squash(18, "GAUSSIAN", 0.0, 1.0, 10),
    Squash(19, "BENT_IDENTITY", *_ALL, 20),
    Squash(20, "BIPOLAR_SIGMOID", -1.0, 1.0, 1),
    Squash(21, "BIPOLAR", -1.0, 1.0, 1),
    Squash(22, "STEP", 0.0, 1.0, 2),
    Squash(23, "COMPLEMENT", *_ALL, 1),
    Squash(24, "ABSOLUTE", 0.0, FLT_MAX, 14),
    Squash(25, "SQUARE", 0.0, FLT_MAX, 1),
    Squash(26, "Cube", *_ALL, 13),
    Squash(27, "SQRT", 0.0, FLT_MAX, 1),
    Squash(28, "StdInverse", *_ALL, 1),
    Squash(29, "Exponential", 0.0, FLT_MAX, 2),
    Squash(30, "LogSigmoid", -FLT_MAX, 0.0, 11),
    Squash(31, "ISRU", -1.0, 1.0, 12),
    Squash(32, "MINIMUM", *_ALL, 1, aggregate=True),
    Squash(33, "MAXIMUM", *_ALL, 1, aggregate=True),
    Squash(34, "IF", *_ALL, 1, aggregate=True),
    Squash(35, "HYPOT", *_ALL, 0, aggregate=True, deprecated=True),
    Squash(36, "HYPOTv2", 0.0, FLT_MAX, 0, aggregate=True, deprecated=True),
    Squash(37, "MEAN", *_ALL, 0, aggregate=True, deprecated=True),
    # Output-only; each neuron is a LOGISTIC in the forward pass (NEAT-AI Issue #2793).
    Squash(38, "SOFTMAX", 0.0, 1.0, 0),
)

# Legacy names accepted on load and rewritten to the canonical name.
ALIASES: dict[str, str] = {
    "RELU": "ReLU",
    "CLIPPED": "HARD_TANH",
    "SINUSOID": "SINE",
    "INVERSE": "COMPLEMENT",
}

BY_NAME: dict[str, Squash] = {s.name: s for s in SQUASHES}
# The default of a hidden/output neuron whose file omits `squash` (NEAT-AI-core does the same).
DEFAULT_SQUASH = "IDENTITY"


def canonical(name: str) -> str | None:
    """The canonical squash name for `name` (an alias is rewritten); None when unknown."""
    name = ALIASES.get(name, name)
    return name if name in BY_NAME else None


def squash_id(name: str) -> int:
    return BY_NAME[canonical(name) or name].id


def mutation_pool(allowed: list[str] | None = None) -> list[str]:
    """Names weighted by their pool weight (each name appears `weight` times)."""
    pool: list[str] = []
    for s in SQUASHES:
        if s.weight and (allowed is None or s.name in allowed):
            pool.extend([s.name] * s.weight)
    return pool
