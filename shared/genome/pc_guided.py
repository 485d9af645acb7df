"""PC-guided mutation (seed 004 §3.4): structural mutations aimed by the prediction errors that
predictive-coding training leaves on a creature's neurons (the evaluator tags them, see
`tag_prediction_errors`). A neuron its parents predict poorly gets a new inward synapse; a
neuron that was still far from settled gets a new neuron feeding it (an intermediate
representation). Targets are drawn in proportion to the signal, so the worst neurons are the
likeliest, not the only, ones."""
from __future__ import annotations

import random
from typing import Sequence

from ..creature import Creature, Neuron, Synapse, Tag
from .operators import POOL, _add_missing_roles, _sources_before, new_uuid, random_weight, sort_synapses

ERROR_TAG = "pc-error"          # mean |eps| of the neuron over the records settled
UNSETTLED_TAG = "pc-unsettled"  # mean |dE/dx| of the neuron left when settling stopped
GUIDED_ADD_CONN, GUIDED_ADD_NODE = "PC_ADD_CONN", "PC_ADD_NODE"


def tag_prediction_errors(c: Creature, uuids: Sequence[str], errors: Sequence[float],
                          unsettled: Sequence[float]) -> None:
    """Write the per-neuron signals onto the neurons' tags (in place)."""
    by_uuid = {n.uuid: n for n in c.neurons}
    for uuid, e, u in zip(uuids, errors, unsettled):
        n = by_uuid[uuid]
        n.tags = [t for t in (n.tags or []) if t.name not in (ERROR_TAG, UNSETTLED_TAG)] + [
            Tag(ERROR_TAG, f"{float(e):.6g}"), Tag(UNSETTLED_TAG, f"{float(u):.6g}")]


def _signal(n: Neuron, name: str) -> float:
    for t in n.tags or []:
        if t.name == name:
            try:
                v = float(t.value)
            except ValueError:
                return 0.0
            return v if v > 0 and v == v and v != float("inf") else 0.0
    return 0.0


def has_signals(c: Creature) -> bool:
    return any(_signal(n, ERROR_TAG) > 0 or _signal(n, UNSETTLED_TAG) > 0 for n in c.neurons)


def guided_mutation(c: Creature, rng: random.Random) -> str | None:
    """One PC-guided mutation in place: the method applied, or None when the creature carries
    no usable signal (or neither mutation can apply). The signals are dropped afterwards: they
    describe the creature as it was settled, not the mutated one."""
    errors = [(n, _signal(n, ERROR_TAG)) for n in c.neurons if n.type != "constant"]
    unsettled = [(n, _signal(n, UNSETTLED_TAG)) for n in c.neurons if n.type == "hidden"]
    choices = [m for m, pool in ((GUIDED_ADD_CONN, errors), (GUIDED_ADD_NODE, unsettled))
               if any(w > 0 for _, w in pool)]
    done = None
    rng.shuffle(choices)
    for method in choices:
        pool = errors if method == GUIDED_ADD_CONN else unsettled
        target = rng.choices([n for n, _ in pool], weights=[w for _, w in pool])[0]
        if (_conn_into if method == GUIDED_ADD_CONN else _node_before)(c, target, rng):
            done = method
            break
    for n in c.neurons:
        if n.tags:
            n.tags = [t for t in n.tags if t.name not in (ERROR_TAG, UNSETTLED_TAG)] or None
    return done


def _conn_into(c: Creature, target: Neuron, rng: random.Random) -> bool:
    """A synapse into `target` from an earlier neuron that does not feed it yet."""
    index = c.uuid_index()
    feeding = {s.from_uuid for s in c.synapses if s.to_uuid == target.uuid}
    sources = [s for s in _sources_before(c, index[target.uuid]) if s not in feeding]
    if not sources:
        return False
    kind = rng.choice(("condition", "positive", "negative")) if target.squash == "IF" else None
    c.synapses.append(Synapse(rng.choice(sources), target.uuid, random_weight(rng), kind))
    sort_synapses(c, index)
    return True


def _node_before(c: Creature, target: Neuron, rng: random.Random) -> bool:
    """A new hidden neuron just before `target`, fed by a random earlier neuron, feeding it."""
    slot = c.neurons.index(target)
    neuron = Neuron(new_uuid(rng), "hidden", random_weight(rng), rng.choice(POOL))
    source = rng.choice(_sources_before(c, c.input + slot))
    c.neurons.insert(slot, neuron)
    c.synapses.append(Synapse(source, neuron.uuid, random_weight(rng)))
    c.synapses.append(Synapse(neuron.uuid, target.uuid, random_weight(rng)))
    index = c.uuid_index()
    if neuron.squash == "IF":
        _add_missing_roles(c, neuron, index, rng)
    sort_synapses(c, index)
    return True
