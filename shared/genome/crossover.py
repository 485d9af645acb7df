"""Crossover aligned by innovation number (classic NEAT, on NEAT-AI creatures).

Innovation numbers are one-to-one with (fromUUID, toUUID) pairs, so genes are aligned here by
(fromUUID, toUUID, IF role) directly, which is the same alignment without the lookups.
The child has the fitter parent's topology: its disjoint and excess genes come from the fitter
parent, and each matching gene (same innovation number and IF role) takes its weight from either
parent at random. Neurons both parents have take bias and squash from either parent at random;
a squash that would change whether the neuron is an IF is not taken, so the child's IF roles
stay those of the fitter parent. The topology being the fitter parent's, the child is valid and
forward-only whenever that parent is.
"""
from __future__ import annotations

import random

from neatai.creature import Creature, Neuron, Synapse


def gene_weights(c: Creature) -> dict[tuple[str, str, str | None], float]:
    """(fromUUID, toUUID, role) -> weight: what crossover reads of the other parent."""
    return {(s.from_uuid, s.to_uuid, s.type): s.weight for s in c.synapses}


def crossover(fitter: Creature, other: Creature, rng: random.Random,
              other_genes: dict[tuple[str, str, str | None], float] | None = None) -> Creature:
    """The child. It shares the Neuron and Synapse objects it takes unchanged from the fitter
    parent (creatures in a population are never edited in place): `copy_creature` it before
    mutating it. `other_genes` is `gene_weights(other)` when the caller keeps it."""
    return breed(fitter, other, rng, other_genes)[0]


def breed(fitter: Creature, other: Creature, rng: random.Random,
          other_genes: dict[tuple[str, str, str | None], float] | None = None) -> tuple[Creature, bool]:
    """`crossover`, and whether the child equals the fitter parent (took nothing else)."""
    if (fitter.input, fitter.output) != (other.input, other.output):
        raise ValueError(f"parents differ in shape: {fitter.input}x{fitter.output} vs {other.input}x{other.output}")
    genes = gene_weights(other) if other_genes is None else other_genes
    coin = rng.random
    same = True
    synapses = []
    for s in fitter.synapses:
        w = genes.get((s.from_uuid, s.to_uuid, s.type))
        if w is None or s.frozen or w == s.weight or coin() >= 0.5:
            synapses.append(s)
        else:
            synapses.append(Synapse(s.from_uuid, s.to_uuid, w, s.type, s.frozen, s.tags))
            same = False
    theirs = {n.uuid: n for n in other.neurons}
    neurons = []
    for n in fitter.neurons:
        m = theirs.get(n.uuid)
        if m is None or n.frozen or m.type != n.type:
            neurons.append(n)
            continue
        bias = m.bias if coin() < 0.5 else n.bias
        squash = m.squash if coin() < 0.5 and (m.squash == "IF") == (n.squash == "IF") else n.squash
        if bias == n.bias and squash == n.squash:
            neurons.append(n)
        else:
            neurons.append(Neuron(n.uuid, n.type, bias, squash, n.frozen, n.tags))
            same = False
    child = Creature(fitter.input, fitter.output, neurons, synapses, fitter.semantic_version,
                     fitter.forward_only, None, None, fitter.hyperparameters)
    return child, same
