"""Cache keys (seed 001 "Cache Key Generation", reference/discovery.md §5.5): stable under weight
drift, discriminating between structurally different changes.

Removals are keyed by UUID alone; everything else by structure plus weight exponents
(`exponent(0.0042) == exponent(0.0067) == "e-3"`). Keys are sanitised to `[A-Za-z0-9_.-]`; one
longer than 200 characters keeps its first 150 and a SHA-1 of the whole (NEAT-AI truncates,
which would let two large creatures share a key).
"""
from __future__ import annotations

import hashlib
import math
import re

from neatai.creature import Creature

from .result import Operation

MAX_KEY = 200
REMOVE_NEURON_TYPES = ("remove-low-impact", "remove-neuron")


def exponent(x: float) -> str:
    """"e" + floor(log10|x|); zero (and non-finite values) → "e-999"."""
    if x == 0 or not math.isfinite(x):
        return "e-999"
    return f"e{math.floor(math.log10(abs(x)))}"


def sanitise(key: str) -> str:
    key = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
    key = re.sub(r"_+", "_", key).strip("_")
    if len(key) > MAX_KEY:
        key = f"{key[:150]}_{hashlib.sha1(key.encode()).hexdigest()}"
    return key


def structural_signature(c: Creature) -> str:
    """Hidden and output neurons (uuid, squash, bias exponent) and synapses (ends, weight
    exponent), each sorted: the resulting creature, blind to weight drift within a decade."""
    neurons = sorted(f"n:{n.uuid}:{n.squash_name}:{exponent(n.bias)}" for n in c.neurons if n.type != "constant")
    synapses = sorted(f"s:{s.from_uuid}->{s.to_uuid}:{exponent(s.weight)}" for s in c.synapses)
    return "|".join(neurons + synapses)


def operations_signature(operations: tuple[Operation, ...]) -> str:
    """The ordered operations (order matters: a coordinated group is applied as listed)."""
    parts = []
    for op in operations:
        if op.kind in ("addSynapse", "setWeight", "removeSynapse"):
            parts.append(f"{op.kind}:{op.from_uuid}->{op.to_uuid}:{exponent(op.weight)}")
        else:
            parts.append(f"{op.kind}:{op.neuron_uuid}:{op.squash}:{exponent(op.bias)}")
    return ";".join(parts)


def key_for(change_type: str, operations: tuple[Operation, ...], creature: Creature) -> str:
    """The cache key of a candidate: `creature` is the candidate (the base with the change)."""
    if change_type in REMOVE_NEURON_TYPES or change_type == "cache-informed-removal":
        removed = sorted(op.neuron_uuid for op in operations if op.kind == "removeNeuron")
        return sanitise("_".join(removed))
    if change_type == "remove-synapse":
        (op,) = [op for op in operations if op.kind == "removeSynapse"]
        return sanitise(f"{op.from_uuid}_{op.to_uuid}")
    if change_type == "add-neurons":
        add = next(op for op in operations if op.kind == "addNeuron")
        into = next(op for op in operations if op.kind == "addSynapse" and op.to_uuid == add.neuron_uuid)
        out = next(op for op in operations if op.kind == "addSynapse" and op.from_uuid == add.neuron_uuid)
        return sanitise("_".join([change_type, into.from_uuid, out.to_uuid, add.squash, exponent(into.weight),
                                  exponent(out.weight), exponent(add.bias)]))
    if change_type == "coordinated-structural":
        return hashlib.sha1(operations_signature(operations).encode()).hexdigest()
    return sanitise(structural_signature(creature))
