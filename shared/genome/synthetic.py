"""Synthetic synapses (reference/neat-ai.md §4.3, NEAT-AI `TrainOptions.syntheticSynapses`):
zero-weight synapses added between adjacent layers before training, so that gradient descent can
grow connections evolution has not found, then removed again where training left them (near) 0.

Layers are longest-path layers: inputs and constants at 0, every other neuron one past its
deepest forward source, outputs all in the last layer; self and back synapses are ignored. A
neuron of layer L gets synapses from up to `max_per_target` neurons of layer L - 1 that do not
already feed it, evenly spaced over them. Only synapses that keep the creature forward-only
(source before target in neuron order) are added, and none into an IF neuron (its untyped
inputs would be read as a positive role) or a constant.
"""
from __future__ import annotations

from neatai.creature import Creature, Synapse, synapse_order

MAX_PER_TARGET = 50
PRUNE_BELOW = 1e-7


def layers(creature: Creature) -> list[int]:
    """Longest-path layer of every buffer row (inputs first, then `creature.neurons`)."""
    index = creature.uuid_index()
    n_in = creature.input
    depth = [0] * (n_in + len(creature.neurons))
    inward: dict[int, list[int]] = {}
    for s in creature.synapses:
        frm, to = index[s.from_uuid], index[s.to_uuid]
        if frm < to:
            inward.setdefault(to, []).append(frm)
    for row in range(n_in, len(depth)):  # neuron order is a topological order of forward synapses
        if creature.neurons[row - n_in].type != "constant":
            depth[row] = 1 + max((depth[f] for f in inward.get(row, ())), default=0)
    last = max(depth[n_in:], default=0)
    for row in range(len(depth) - creature.output, len(depth)):
        depth[row] = last
    return depth


def add_synthetic_synapses(creature: Creature, max_per_target: int = MAX_PER_TARGET) -> tuple[Creature, set]:
    """A copy of `creature` with the synthetic synapses, and their (fromUUID, toUUID) pairs."""
    if max_per_target < 1:
        raise ValueError(f"maxPerTarget must be at least 1, got {max_per_target}")
    out = creature.copy()
    depth = layers(out)
    names = [f"input-{i}" for i in range(out.input)] + [n.uuid for n in out.neurons]
    existing = {(s.from_uuid, s.to_uuid) for s in out.synapses}
    added: set[tuple[str, str]] = set()
    n_in = out.input
    for row in range(n_in, len(names)):
        neuron = out.neurons[row - n_in]
        if neuron.type == "constant" or neuron.squash == "IF" or depth[row] == 0:
            continue
        sources = [r for r in range(row) if depth[r] == depth[row] - 1 and (names[r], names[row]) not in existing]
        if len(sources) > max_per_target:  # evenly spaced over the candidates
            step = len(sources) / max_per_target
            sources = [sources[int(k * step)] for k in range(max_per_target)]
        for r in sources:
            out.synapses.append(Synapse(names[r], names[row], 0.0))
            added.add((names[r], names[row]))
    index = out.uuid_index()
    out.synapses.sort(key=synapse_order(index))
    return out, added


def prune_synthetic_synapses(creature: Creature, added: set, threshold: float = PRUNE_BELOW) -> Creature:
    """A copy without the synthetic synapses whose |weight| stayed below `threshold`; an output
    left without any inward synapse keeps its largest synthetic one."""
    out = creature.copy()
    keep = [s for s in out.synapses if (s.from_uuid, s.to_uuid) not in added or abs(s.weight) >= threshold]
    fed = {s.to_uuid for s in keep}
    for neuron in out.neurons[-out.output:]:
        if neuron.uuid not in fed:
            candidates = [s for s in out.synapses if s.to_uuid == neuron.uuid]
            if candidates:
                keep.append(max(candidates, key=lambda s: abs(s.weight)))
    index = out.uuid_index()
    out.synapses = sorted(keep, key=synapse_order(index))
    return out
