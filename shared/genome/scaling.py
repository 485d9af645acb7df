"""Fold standardisation into a creature, so a network evolved on z = (x - mean) / std takes raw
inputs and gives raw outputs: `unstandardised(c, inputs, outputs)(x) == outputs.invert(c(inputs.apply(x)))`.

An input feeds a plain neuron through w·z = (w/std)·x - w·mean/std: its weight is divided and
the constant moves into the neuron's bias. Aggregates (MINIMUM, MAXIMUM, IF, …) combine weighted
inputs without a shared bias, so their standardised inputs come from an IDENTITY neuron that
computes z. An IDENTITY output feeding nothing is scaled in place (weights and bias times std,
plus mean); otherwise every output becomes a hidden neuron read by a new IDENTITY output.
"""
from __future__ import annotations

import numpy as np

from neatai import squash as squashes
from neatai.creature import Creature, Neuron, Synapse

from .operators import copy_creature, sort_synapses


def unstandardised(c: Creature, inputs=None, outputs=None) -> Creature:
    """A copy of `c` that standardises its own inputs (`inputs`: a `neatai.tasks.Scaling` or
    None) and undoes the targets' standardisation on its outputs (`outputs`, or None)."""
    c = copy_creature(c)
    if inputs is not None:
        _fold_inputs(c, np.asarray(inputs.mean, dtype=np.float64), np.asarray(inputs.std, dtype=np.float64))
    if outputs is not None:
        _fold_outputs(c, np.asarray(outputs.mean, dtype=np.float64), np.asarray(outputs.std, dtype=np.float64))
    sort_synapses(c)
    return c


def _aggregate(n: Neuron) -> bool:
    return n.type != "constant" and squashes.BY_NAME[n.squash_name].aggregate


def _fold_inputs(c: Creature, mean: np.ndarray, std: np.ndarray) -> None:
    by_uuid = {n.uuid: n for n in c.neurons}
    normalisers: dict[int, Neuron] = {}
    for s in c.synapses:
        if not s.from_uuid.startswith("input-"):
            continue
        i = int(s.from_uuid[6:])
        target = by_uuid[s.to_uuid]
        if _aggregate(target):
            if i not in normalisers:
                normalisers[i] = Neuron(f"standardise-input-{i}", "hidden", float(-mean[i] / std[i]), "IDENTITY")
            s.from_uuid = normalisers[i].uuid
        else:
            target.bias = float(target.bias - s.weight * mean[i] / std[i])
            s.weight = float(s.weight / std[i])
    c.synapses += [Synapse(f"input-{i}", n.uuid, float(1 / std[i])) for i, n in sorted(normalisers.items())]
    c.neurons[:0] = [n for _, n in sorted(normalisers.items())]


def _fold_outputs(c: Creature, mean: np.ndarray, std: np.ndarray) -> None:
    outputs = [n for n in c.neurons if n.type == "output"]
    sources = {s.from_uuid for s in c.synapses}
    if all(n.squash_name == "IDENTITY" and n.uuid not in sources for n in outputs):
        for k, n in enumerate(outputs):
            n.bias = float(n.bias * std[k] + mean[k])
        position = {n.uuid: k for k, n in enumerate(outputs)}
        for s in c.synapses:
            if s.to_uuid in position:
                s.weight = float(s.weight * std[position[s.to_uuid]])
        return
    # Every output is wrapped (not only the ones that need it): the old outputs keep their order
    # among themselves, so a synapse between two of them keeps its direction.
    inner = {n.uuid: f"standardised-{n.uuid}" for n in outputs}
    for s in c.synapses:
        s.from_uuid = inner.get(s.from_uuid, s.from_uuid)
        s.to_uuid = inner.get(s.to_uuid, s.to_uuid)
    fresh = [Neuron(n.uuid, "output", float(mean[k]), "IDENTITY") for k, n in enumerate(outputs)]
    c.synapses += [Synapse(inner[n.uuid], n.uuid, float(std[k])) for k, n in enumerate(outputs)]
    for n in outputs:
        n.uuid, n.type = inner[n.uuid], "hidden"
    c.neurons += fresh
