"""Structural changes as operations applied to a copy of a creature, validated, repaired only as
a fallback (seed 001 "Validate-Then-Fix").

Every candidate, single or combined, is a tuple of `result.Operation`s; applying them is one
function, so a combination is just the concatenation of its parts' operations. A valid result
is a creature the loader would accept unchanged: every synapse between known neurons, none into
an input or constant, no duplicates, forward-only order kept (unless the base is recurrent),
every hidden neuron fed and feeding, IF neurons with all their roles. A change that needs the
repair (`operators.repair` and a dependency re-sort) is a builder bug worth counting.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from neatai import squash as squashes
from neatai.creature import IF_ROLES, Creature, CreatureError, Neuron, Synapse
from neatai.genome.operators import copy_creature, repair, set_squash, sort_synapses

from .result import Operation


class ChangeError(ValueError):
    """The operations cannot be applied to this creature (a neuron they name is absent...)."""


@dataclass(frozen=True)
class Applied:
    creature: Creature
    repaired: bool  # validation failed and the repair made it valid


def apply(base: Creature, operations: tuple[Operation, ...], rng: random.Random | None = None) -> Applied:
    """A copy of `base` with `operations` applied in order, validated, repaired if it must be.
    Raises ChangeError when an operation does not fit the creature or the result stays invalid."""
    c = copy_creature(base)
    rng = rng or random.Random(0)
    for op in operations:
        _apply_one(c, op, rng)
    sort_synapses(c)
    allow_recurrent = base.recurrent
    if not problems(c, allow_recurrent):
        return Applied(c, False)
    fixed = _repair(c, rng)
    remaining = problems(fixed, allow_recurrent) if fixed is not None else ["the loader rejects it"]
    if remaining:
        raise ChangeError("; ".join(remaining[:3]))
    return Applied(fixed, True)


def problems(c: Creature, allow_recurrent: bool = False) -> list[str]:
    """Why `c` is not a valid creature as it stands (empty when it is); fixes nothing."""
    out = []
    index = c.uuid_index()
    kinds = {f"input-{i}": "input" for i in range(c.input)} | {n.uuid: n.type for n in c.neurons}
    seen = set()
    for s in c.synapses:
        if s.from_uuid not in kinds or s.to_uuid not in kinds:
            out.append(f"synapse {s.from_uuid} -> {s.to_uuid} names an absent neuron")
            continue
        if kinds[s.to_uuid] in ("input", "constant"):
            out.append(f"synapse into {kinds[s.to_uuid]} {s.to_uuid}")
        key = (s.from_uuid, s.to_uuid, s.type)
        if key in seen:
            out.append(f"duplicate synapse {s.from_uuid} -> {s.to_uuid}")
        seen.add(key)
        if not allow_recurrent and index[s.from_uuid] >= index[s.to_uuid]:
            out.append(f"synapse {s.from_uuid} -> {s.to_uuid} runs backwards")
    if [n.type for n in c.neurons[-c.output:]] != ["output"] * c.output or \
            sum(n.type == "output" for n in c.neurons) != c.output:
        out.append("outputs are not the last neurons")
    feeds = {s.from_uuid for s in c.synapses}
    fed = {s.to_uuid for s in c.synapses}
    for n in c.neurons:
        if n.type == "hidden" and n.uuid not in feeds:
            out.append(f"hidden neuron {n.uuid} feeds nothing")
        if n.type == "hidden" and n.uuid not in fed:
            out.append(f"hidden neuron {n.uuid} has no inputs")
        if n.squash == "IF" and not {s.type for s in c.synapses if s.to_uuid == n.uuid} >= set(IF_ROLES):
            out.append(f"IF neuron {n.uuid} lacks a role")
    return out


def _repair(c: Creature, rng: random.Random) -> Creature | None:
    """Drop what cannot be kept, re-sort into dependency order: the loader's own rules."""
    known = {f"input-{i}" for i in range(c.input)} | {n.uuid for n in c.neurons}
    c.synapses = [s for s in c.synapses if s.from_uuid in known and s.to_uuid in known]
    repair(c, rng)
    try:
        return Creature.from_json(c.to_dict())
    except CreatureError:
        return None


def _neuron(c: Creature, uuid: str) -> Neuron:
    for n in c.neurons:
        if n.uuid == uuid:
            return n
    raise ChangeError(f"no neuron {uuid!r} in the creature")


def _synapse(c: Creature, from_uuid: str, to_uuid: str) -> Synapse | None:
    for s in c.synapses:
        if s.from_uuid == from_uuid and s.to_uuid == to_uuid:
            return s
    return None


def _known(c: Creature, uuid: str) -> None:
    if uuid not in c.uuid_index():
        raise ChangeError(f"no neuron {uuid!r} in the creature")


def _apply_one(c: Creature, op: Operation, rng: random.Random) -> None:
    if op.kind in ("addSynapse", "setWeight"):
        _known(c, op.from_uuid)
        _known(c, op.to_uuid)
        existing = _synapse(c, op.from_uuid, op.to_uuid)
        if existing is not None:
            existing.weight = op.weight
        elif op.kind == "addSynapse":
            c.synapses.append(Synapse(op.from_uuid, op.to_uuid, op.weight))
        else:
            raise ChangeError(f"no synapse {op.from_uuid} -> {op.to_uuid} to re-weight")
    elif op.kind == "removeSynapse":
        if _synapse(c, op.from_uuid, op.to_uuid) is None:
            raise ChangeError(f"no synapse {op.from_uuid} -> {op.to_uuid} to remove")
        c.synapses = [s for s in c.synapses if (s.from_uuid, s.to_uuid) != (op.from_uuid, op.to_uuid)]
        # A neuron left without inputs or outputs goes, as NEAT-AI's removal does.
        repair(c, rng)
    elif op.kind == "removeNeuron":
        n = _neuron(c, op.neuron_uuid)
        if n.type == "output":
            raise ChangeError(f"output neuron {n.uuid} cannot be removed")
        c.neurons = [m for m in c.neurons if m.uuid != n.uuid]
        c.synapses = [s for s in c.synapses if n.uuid not in (s.from_uuid, s.to_uuid)]
        repair(c, rng)
    elif op.kind == "addNeuron":
        if op.neuron_uuid in c.uuid_index():
            raise ChangeError(f"neuron {op.neuron_uuid!r} exists already")
        squash = squashes.canonical(op.squash or squashes.DEFAULT_SQUASH)
        if squash is None:
            raise ChangeError(f"unknown squash {op.squash!r}")
        body = len(c.neurons) - c.output
        slot = body
        if op.insert_before_uuid:
            target = _neuron(c, op.insert_before_uuid)
            slot = min(body, c.neurons.index(target))
        c.neurons.insert(slot, Neuron(op.neuron_uuid, "hidden", op.bias, squash))
    elif op.kind == "changeSquash":
        n = _neuron(c, op.neuron_uuid)
        squash = squashes.canonical(op.squash)
        if squash is None or n.type == "constant":
            raise ChangeError(f"cannot set squash {op.squash!r} on {n.type} {n.uuid}")
        set_squash(c, n, squash, c.uuid_index(), rng)
    elif op.kind == "setBias":
        _neuron(c, op.neuron_uuid).bias = op.bias
    else:  # Operation refuses unknown kinds; kept for a new kind without a rule here
        raise ChangeError(f"no rule for operation {op.kind!r}")


def touched(operations: tuple[Operation, ...]) -> set[str]:
    """Every neuron uuid the operations name (to tell whether a change fits a creature)."""
    return {u for op in operations for u in (op.from_uuid, op.to_uuid, op.neuron_uuid, op.insert_before_uuid) if u}
