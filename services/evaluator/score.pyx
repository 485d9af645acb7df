# cython: language_level=3, cdivision=True
"""NEAT-AI's current score (reference/neat-ai.md §7.1): 1 − error − complexity − version penalty.

Compiled because the Evaluate RPC scores every creature of every request: the same float64
operations as the formula in Python (libm's log is math.log's), a fraction of the time.
"""
from libc.math cimport log

from neatai.creature import CURRENT_SEMANTIC_VERSION

from neatai.evaluator.wire_reader cimport FlatCreature

MAX_SAFE_INTEGER = 9007199254740991.0
VERSION_PENALTY = 1e-6
cdef double _MAX_SAFE = MAX_SAFE_INTEGER
cdef str _CURRENT_MAJOR = CURRENT_SEMANTIC_VERSION.split(".")[0]


cpdef double value_penalty(double v):
    """0 up to 1, then 1/(1+1/v), compressed logarithmically above 0.999 (∈ [0, 1))."""
    cdef double p
    if not v > 1:
        return 0.0
    p = 1 / (1 + 1 / v)
    if p > 0.999:
        return 0.999 + value_penalty(log(v)) / 1000
    return p


cpdef double version_penalty(semantic_version):
    """1e-6 when the creature's major version is not the current one (none given = current)."""
    if semantic_version is None:
        return 0.0
    return 0.0 if semantic_version.split(".")[0] == _CURRENT_MAJOR else VERSION_PENALTY


cpdef double complexity_penalty(creature, double cost_of_growth):
    cdef FlatCreature c = creature if isinstance(creature, FlatCreature) else FlatCreature.of(creature)
    cdef double penalty = 0.0, g = cost_of_growth
    if c.n_neurons + c.n_synapses:
        penalty = (value_penalty(min(c.max_magnitude, _MAX_SAFE)) + value_penalty(min(c.mean_magnitude, _MAX_SAFE))) / 2
    # Score.ts adds each neuron's squash class `complexityPenalty` to `penalty`; the per-class
    # values are not recorded in the reference, so no squash adds anything here.
    return c.hidden_count * g + c.n_synapses * g / 10 + penalty * g / 100


cpdef double score(creature, double error, double cost_of_growth=1e-7):
    """Fitness of a creature whose dataset error is `error` (higher is better)."""
    return 1 - error - complexity_penalty(creature, cost_of_growth) - version_penalty(creature.semantic_version)
