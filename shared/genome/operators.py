"""NEAT-AI's forward-only mutation operators (reference/neat-ai.md §3.2) and method selection.

Every operator edits a creature in place and returns whether it changed anything; each leaves
a valid forward-only creature: synapses run from a lower to a higher buffer index, no synapse is
duplicated (an IF neuron may take one source in several roles), outputs stay last, every IF
neuron has its condition, positive and negative inputs, and synapses stay sorted by index.
All randomness comes from the `random.Random` passed in.
"""
from __future__ import annotations

import math
import random
import uuid as uuidlib
from bisect import bisect_right
from typing import Callable, Protocol, Sequence

from neatai import squash as squashes
from neatai.creature import CURRENT_SEMANTIC_VERSION, IF_ROLES, PB_SYNAPSE_TYPE, Creature, Neuron, Synapse, synapse_order

from .memetic import TRACE_TAGS

ADD_NODE = "ADD_NODE"
SUB_NODE = "SUB_NODE"
ADD_CONN = "ADD_CONN"
SUB_CONN = "SUB_CONN"
MOD_WEIGHT = "MOD_WEIGHT"
MOD_BIAS = "MOD_BIAS"
MOD_SQUASH = "MOD_SQUASH"
SWAP_NODES = "SWAP_NODES"
ADD_SELF_CONN = "ADD_SELF_CONN"
SUB_SELF_CONN = "SUB_SELF_CONN"
ADD_BACK_CONN = "ADD_BACK_CONN"
SUB_BACK_CONN = "SUB_BACK_CONN"
FFW = (ADD_NODE, SUB_NODE, ADD_CONN, SUB_CONN, MOD_WEIGHT, MOD_BIAS, MOD_SQUASH, SWAP_NODES)
# Mutation.ALL: the recurrent operators join for creatures that are not forward-only.
RECURRENT = (ADD_SELF_CONN, SUB_SELF_CONN, ADD_BACK_CONN, SUB_BACK_CONN)
EXPANSION = (ADD_NODE, ADD_CONN, ADD_SELF_CONN, ADD_BACK_CONN)

POOL = tuple(squashes.mutation_pool())

# ModWeight/ModBias regularisation defaults (reference/neat-ai.md §3.2).
L2 = 0.1
MAX_CHANGE = 10.0
MAX_ABS = 100.0


def random_weight(rng: random.Random) -> float:
    """NEAT-AI `Synapse.randomWeight()`: U[0,1)*0.2 - 0.1 (also the initial bias)."""
    return rng.random() * 0.2 - 0.1


def new_uuid(rng: random.Random) -> str:
    return str(uuidlib.UUID(int=rng.getrandbits(128), version=4))


def copy_creature(c: Creature) -> Creature:
    """A copy sharing only immutable parts (tags are replaced, never edited in place)."""
    return Creature(
        c.input, c.output,
        [Neuron(n.uuid, n.type, n.bias, n.squash, n.frozen, n.tags) for n in c.neurons],
        [Synapse(s.from_uuid, s.to_uuid, s.weight, s.type, s.frozen, s.tags) for s in c.synapses],
        c.semantic_version, c.forward_only, c.tags, None, c.hyperparameters,
    )


def initial_creature(inputs: int, outputs: int, rng: random.Random, weights: str = "neat-ai",
                     output_squash: str | None = None, pool: Sequence[str] = POOL,
                     forward_only: bool = True) -> Creature:
    """NEAT-AI `new Creature(i, o)`: every input wired to every output, output bias U*0.2-0.1 and
    an output squash drawn from the weighted pool (as NEAT-AI does; IF is redrawn, a fresh output
    has no inputs for its roles) unless `output_squash` pins it (squashBudget.fixedOutputSquash);
    `pool` is the weighted squash pool (squashBudget.allowedSquashes); `forward_only=False` lets
    the recurrent operators give it self and back synapses (feedbackLoop runs).
    Weights: NEAT-AI's U[0,1)*i*sqrt(2/i), or with `weights="symmetric"` U(-1,1)*sqrt(2/i),
    which keeps creatures with many inputs unsaturated."""
    neurons = []
    for k in range(outputs):
        name = rng.choice(pool)
        while name == "IF":
            name = rng.choice(pool)
        neurons.append(Neuron(f"output-{k}", "output", random_weight(rng), output_squash or name))
    if weights == "symmetric":
        scale = math.sqrt(2.0 / inputs)
        synapses = [Synapse(f"input-{i}", f"output-{k}", rng.uniform(-1.0, 1.0) * scale)
                    for i in range(inputs) for k in range(outputs)]
    else:
        scale = inputs * math.sqrt(2.0 / inputs)
        synapses = [Synapse(f"input-{i}", f"output-{k}", rng.random() * scale)
                    for i in range(inputs) for k in range(outputs)]
    c = Creature(inputs, outputs, neurons, synapses, CURRENT_SEMANTIC_VERSION, forward_only)
    sort_synapses(c)
    return c


def sort_synapses(c: Creature, index: dict[str, int] | None = None) -> None:
    index = index or c.uuid_index()
    c.synapses.sort(key=synapse_order(index))


def _quantum_step(value: float, rng: random.Random) -> float:
    """ModWeight/ModBias: a change scaled to the value's magnitude, pulled towards zero (L2)."""
    q = 1.0 if abs(value) < 1 else 10.0 ** math.floor(math.log10(abs(value)))
    base = rng.uniform(-1.0, 1.0) * q
    pull = -value * L2 * rng.random()
    delta = max(-MAX_CHANGE, min(MAX_CHANGE, base * (1 - L2) + pull * L2))
    return max(-MAX_ABS, min(MAX_ABS, value + delta))


# ---- IF roles ------------------------------------------------------------------------------------


def _add_missing_roles(c: Creature, neuron: Neuron, index: dict[str, int], rng: random.Random) -> None:
    """An IF neuron needs a condition, a positive and a negative input: untyped inputs take the
    missing roles in order, any role still missing gets a new synapse from a random predecessor."""
    inward = [s for s in c.synapses if s.to_uuid == neuron.uuid]
    have = {s.type for s in inward if s.type}
    for s in inward:
        if s.type is None:
            missing = [r for r in IF_ROLES if r not in have]
            s.type = missing[0] if missing else "positive"
            have.add(s.type)
    sources = _sources_before(c, index[neuron.uuid])
    for role in IF_ROLES:
        if role not in have:
            c.synapses.append(Synapse(rng.choice(sources), neuron.uuid, random_weight(rng), role))


def _coalesce_roles(c: Creature, neuron: Neuron) -> None:
    """Leaving IF: one untyped synapse per source remains (the first in index order)."""
    seen: set[str] = set()
    kept = []
    for s in c.synapses:
        if s.to_uuid == neuron.uuid:
            if s.from_uuid in seen:
                continue
            seen.add(s.from_uuid)
            s.type = None
        kept.append(s)
    c.synapses = kept


def set_squash(c: Creature, neuron: Neuron, name: str, index: dict[str, int], rng: random.Random) -> None:
    was_if = neuron.squash == "IF"
    neuron.squash = name
    if was_if and name != "IF":
        _coalesce_roles(c, neuron)
    elif name == "IF" and not was_if:
        _add_missing_roles(c, neuron, index, rng)


def _sources_before(c: Creature, position: int) -> list[str]:
    """uuids of every neuron with a buffer index below `position` (inputs first)."""
    out = [f"input-{i}" for i in range(min(position, c.input))]
    out.extend(n.uuid for n in c.neurons[:max(0, position - c.input)])
    return out


# ---- repair ------------------------------------------------------------------------------------


def repair(c: Creature, rng: random.Random) -> None:
    """After removals: hidden neurons that feed nothing are dropped (repeatedly), hidden neurons
    left without inputs become constants (NEAT-AI `fixType`), IF neurons regain lost roles."""
    while True:
        feeds = {s.from_uuid for s in c.synapses}
        dead = {n.uuid for n in c.neurons if n.type != "output" and n.uuid not in feeds}
        if not dead:
            break
        c.neurons = [n for n in c.neurons if n.uuid not in dead]
        c.synapses = [s for s in c.synapses if s.to_uuid not in dead]
    fed = {s.to_uuid for s in c.synapses}
    for n in c.neurons:
        if n.type == "hidden" and n.uuid not in fed:
            n.type, n.squash = "constant", None
    index = c.uuid_index()
    for n in c.neurons:
        if n.squash == "IF":
            roles = {s.type for s in c.synapses if s.to_uuid == n.uuid}
            if not roles >= set(IF_ROLES):
                _add_missing_roles(c, n, index, rng)
    sort_synapses(c, index)


# ---- operators -----------------------------------------------------------------------------------


def add_node(c: Creature, rng: random.Random, pool: Sequence[str] = POOL) -> bool:
    """A new hidden neuron (not an edge split) at a random hidden slot, fed by a random
    predecessor and feeding a random non-constant successor."""
    body = len(c.neurons) - c.output
    slot = rng.randint(0, body)  # position among the non-output neurons
    position = c.input + slot
    successors = [n.uuid for n in c.neurons[slot:] if n.type != "constant"]
    neuron = Neuron(new_uuid(rng), "hidden", random_weight(rng), rng.choice(pool))
    source = rng.choice(_sources_before(c, position))
    c.neurons.insert(slot, neuron)
    c.synapses.append(Synapse(source, neuron.uuid, random_weight(rng)))
    c.synapses.append(Synapse(neuron.uuid, rng.choice(successors), random_weight(rng)))
    index = c.uuid_index()
    if neuron.squash == "IF":
        _add_missing_roles(c, neuron, index, rng)
    sort_synapses(c, index)
    return True


def sub_node(c: Creature, rng: random.Random) -> bool:
    """Remove a random hidden (or constant) neuron and its synapses, then repair."""
    candidates = [n for n in c.neurons if n.type != "output" and not n.frozen]
    if not candidates:
        return False
    gone = rng.choice(candidates).uuid
    c.neurons = [n for n in c.neurons if n.uuid != gone]
    c.synapses = [s for s in c.synapses if s.from_uuid != gone and s.to_uuid != gone]
    repair(c, rng)
    return True


def add_conn(c: Creature, rng: random.Random) -> bool:
    """A synapse uniformly over the absent forward pairs (rejection sampling, then an exact
    enumeration when the creature is nearly fully connected)."""
    index = c.uuid_index()
    targets = [(c.input + k, n) for k, n in enumerate(c.neurons) if n.type != "constant"]
    if not targets:
        return False
    present = {(s.from_uuid, s.to_uuid, s.type) for s in c.synapses}
    cumulative = []
    total = 0
    for position, _ in targets:
        total += position  # a target at buffer index p has p possible sources
        cumulative.append(total)

    def role(n: Neuron) -> str | None:
        return rng.choice(IF_ROLES) if n.squash == "IF" else None

    def absent(src: str, n: Neuron, kind: str | None) -> bool:
        if n.squash == "IF":
            return (src, n.uuid, kind) not in present
        return not any((src, n.uuid, t) in present for t in PB_SYNAPSE_TYPE)

    for _ in range(12):
        r = rng.randrange(total)
        t = bisect_right(cumulative, r)
        position, n = targets[t]
        src = _source_at(c, r - (cumulative[t] - position))
        kind = role(n)
        if absent(src, n, kind):
            c.synapses.append(Synapse(src, n.uuid, random_weight(rng), kind))
            sort_synapses(c, index)
            return True
    options = [(src, n, kind) for position, n in targets for src in _sources_before(c, position)
               for kind in (IF_ROLES if n.squash == "IF" else (None,)) if absent(src, n, kind)]
    if not options:
        return False
    src, n, kind = rng.choice(options)
    c.synapses.append(Synapse(src, n.uuid, random_weight(rng), kind))
    sort_synapses(c, index)
    return True


def _source_at(c: Creature, i: int) -> str:
    return f"input-{i}" if i < c.input else c.neurons[i - c.input].uuid


def sub_conn(c: Creature, rng: random.Random) -> bool:
    """Remove a random synapse whose source feeds something else (or is an input) and whose
    target keeps another input; an IF neuron's only synapse for a role is never removed."""
    outward: dict[str, int] = {}
    inward: dict[str, int] = {}
    roles: dict[tuple[str, str | None], int] = {}
    for s in c.synapses:
        outward[s.from_uuid] = outward.get(s.from_uuid, 0) + 1
        inward[s.to_uuid] = inward.get(s.to_uuid, 0) + 1
        roles[(s.to_uuid, s.type)] = roles.get((s.to_uuid, s.type), 0) + 1
    if_neurons = {n.uuid for n in c.neurons if n.squash == "IF"}
    candidates = [
        k for k, s in enumerate(c.synapses)
        if not s.frozen
        and (s.from_uuid.startswith("input-") or outward[s.from_uuid] > 1)
        and inward[s.to_uuid] > 1
        and (s.to_uuid not in if_neurons or roles[(s.to_uuid, s.type)] > 1)
    ]
    if not candidates:
        return False
    del c.synapses[rng.choice(candidates)]
    return True


def mod_weight(c: Creature, rng: random.Random) -> bool:
    candidates = [s for s in c.synapses if not s.frozen]
    if not candidates:
        return False
    s = rng.choice(candidates)
    for _ in range(8):  # retry when the change is not observable
        w = _quantum_step(s.weight, rng)
        if w != s.weight:
            s.weight = w
            return True
    return False


def mod_bias(c: Creature, rng: random.Random) -> bool:
    candidates = [n for n in c.neurons if n.type != "constant" and not n.frozen]
    if not candidates:
        return False
    n = rng.choice(candidates)
    b = _quantum_step(n.bias, rng)
    changed = b != n.bias
    n.bias = b
    return changed


def mod_squash(c: Creature, rng: random.Random, outputs: bool = True, pool: Sequence[str] = POOL) -> bool:
    """A random hidden (or, unless `outputs` is False, output) neuron takes a different squash
    from the weighted pool."""
    candidates = [n for n in c.neurons if n.type != "constant" and not n.frozen and (outputs or n.type != "output")]
    if not candidates:
        return False
    n = rng.choice(candidates)
    current = n.squash_name
    name = rng.choice(pool)
    for _ in range(8):
        if name != current:
            break
        name = rng.choice(pool)
    if name == current:
        return False
    index = c.uuid_index()
    set_squash(c, n, name, index, rng)
    sort_synapses(c, index)
    return True


def swap_nodes(c: Creature, rng: random.Random) -> bool:
    """Two hidden neurons that differ in bias or squash exchange (bias, squash)."""
    hidden = [n for n in c.neurons if n.type == "hidden" and not n.frozen]
    if len(hidden) < 2:
        return False
    for _ in range(6):
        a, b = rng.sample(hidden, 2)
        if a.bias != b.bias or a.squash != b.squash:
            break
    else:
        return False
    index = c.uuid_index()
    a.bias, b.bias = b.bias, a.bias
    sa, sb = a.squash, b.squash
    set_squash(c, a, sb, index, rng)
    set_squash(c, b, sa, index, rng)
    sort_synapses(c, index)
    return True


# ---- recurrent operators (creatures that are not forward-only) ----------------------------------


def _recurrent_targets(c: Creature) -> list[Neuron]:
    """Neurons a self or back synapse may feed: not constants, not IF (its roles are forward)."""
    return [n for n in c.neurons if n.type != "constant" and n.squash != "IF"]


def add_self_conn(c: Creature, rng: random.Random) -> bool:
    """A neuron without one gets a synapse from itself (it reads its previous activation)."""
    has = {s.to_uuid for s in c.synapses if s.from_uuid == s.to_uuid}
    candidates = [n for n in _recurrent_targets(c) if n.uuid not in has]
    if c.forward_only or not candidates:
        return False
    n = rng.choice(candidates)
    c.synapses.append(Synapse(n.uuid, n.uuid, random_weight(rng)))
    sort_synapses(c)
    return True


def add_back_conn(c: Creature, rng: random.Random) -> bool:
    """A synapse from a later neuron to an earlier one, uniformly over the absent pairs."""
    if c.forward_only:
        return False
    index = c.uuid_index()
    present = {(s.from_uuid, s.to_uuid) for s in c.synapses}
    targets = _recurrent_targets(c)
    options = [(src.uuid, n.uuid) for n in targets for src in c.neurons
               if index[src.uuid] > index[n.uuid] and (src.uuid, n.uuid) not in present]
    if not options:
        return False
    src, to = rng.choice(options)
    c.synapses.append(Synapse(src, to, random_weight(rng)))
    sort_synapses(c, index)
    return True


def _sub_recurrent(c: Creature, rng: random.Random, self_loop: bool) -> bool:
    """Remove a self (or back) synapse; like SUB_CONN it never leaves a target without another
    inward synapse or a hidden source without another outward one."""
    index = c.uuid_index()
    outward: dict[str, int] = {}
    inward: dict[str, int] = {}
    for s in c.synapses:
        outward[s.from_uuid] = outward.get(s.from_uuid, 0) + 1
        inward[s.to_uuid] = inward.get(s.to_uuid, 0) + 1
    candidates = [k for k, s in enumerate(c.synapses)
                  if not s.frozen and (s.from_uuid == s.to_uuid if self_loop else index[s.from_uuid] > index[s.to_uuid])
                  and inward[s.to_uuid] > 1 and outward[s.from_uuid] > 1]
    if not candidates:
        return False
    del c.synapses[rng.choice(candidates)]
    return True


def sub_self_conn(c: Creature, rng: random.Random) -> bool:
    return _sub_recurrent(c, rng, True)


def sub_back_conn(c: Creature, rng: random.Random) -> bool:
    return _sub_recurrent(c, rng, False)


def perturb_weights(c: Creature, rng: random.Random, power: float, replace_rate: float) -> bool:
    """The NEAT paper's weight mutation: every synapse weight and non-input bias is nudged by
    U(-power, power), or with `replace_rate` drawn anew from U(-1, 1) (clamped as MOD_WEIGHT)."""
    def changed(value: float) -> float:
        if rng.random() < replace_rate:
            return rng.uniform(-1.0, 1.0)
        return max(-MAX_ABS, min(MAX_ABS, value + rng.uniform(-power, power)))

    for s in c.synapses:
        if not s.frozen:
            s.weight = changed(s.weight)
    for n in c.neurons:
        if n.type != "constant" and not n.frozen:
            n.bias = changed(n.bias)
    return bool(c.synapses) or bool(c.neurons)


OPERATORS: dict[str, Callable[[Creature, random.Random], bool]] = {
    ADD_NODE: add_node, SUB_NODE: sub_node, ADD_CONN: add_conn, SUB_CONN: sub_conn,
    MOD_WEIGHT: mod_weight, MOD_BIAS: mod_bias, MOD_SQUASH: mod_squash, SWAP_NODES: swap_nodes,
    ADD_SELF_CONN: add_self_conn, SUB_SELF_CONN: sub_self_conn, ADD_BACK_CONN: add_back_conn,
    SUB_BACK_CONN: sub_back_conn,
}


# ---- method selection ----------------------------------------------------------------------------


class MutationSettings(Protocol):
    """What method selection reads of a run's config (the evolver's `EvolverConfig` has it)."""

    mutation_amount: int
    medium_threshold: int
    large_threshold: int
    large_topology_weight: float
    fixed_output_squash: str | None  # pinned outputs: MOD_SQUASH leaves them alone
    squash_pool: Sequence[str]  # what ADD_NODE and MOD_SQUASH draw from
    weight_mutation_rate: float  # > 0: every weight is perturbed apart (the NEAT paper's way)


def weight_bias_probability(neurons: int, config: MutationSettings) -> float:
    """p_wb: 0.75 below `medium`, linear to 1 - largeTopologyWeight at `large`, constant above."""
    high = 1.0 - config.large_topology_weight
    if neurons < config.medium_threshold:
        return 0.75
    if neurons >= config.large_threshold:
        return high
    t = (neurons - config.medium_threshold) / (config.large_threshold - config.medium_threshold)
    return 0.75 + t * (high - 0.75)


def candidates(c: Creature) -> list[str]:
    """The operators that can apply to `c` (NEAT-AI's candidate filter)."""
    hidden = sum(1 for n in c.neurons if n.type == "hidden")
    out = [ADD_NODE, ADD_CONN]
    if hidden or len(c.neurons) > c.output:
        out.append(SUB_NODE)
    if c.synapses:
        out += [SUB_CONN, MOD_WEIGHT]
    out += [MOD_BIAS, MOD_SQUASH]
    if hidden >= 2:
        out.append(SWAP_NODES)
    if c.forward_only is False:  # NEAT-AI: only with feedbackLoop, which makes creatures non-forward-only
        index = c.uuid_index()
        out += [ADD_SELF_CONN, ADD_BACK_CONN]
        if any(s.from_uuid == s.to_uuid for s in c.synapses):
            out.append(SUB_SELF_CONN)
        if any(index[s.from_uuid] > index[s.to_uuid] for s in c.synapses):
            out.append(SUB_BACK_CONN)
    return out


def select_method(c: Creature, config: MutationSettings, rng: random.Random) -> str:
    """NEAT-AI's draw: MOD_WEIGHT/MOD_BIAS with p_wb, else uniform over the candidates. When the
    run perturbs all weights apart (weightMutation.rate > 0) the p_wb draw is skipped: it would
    spend most mutations on one weight each beside a mutation of every weight."""
    neurons = c.input + len(c.neurons)
    if not config.weight_mutation_rate and rng.random() < weight_bias_probability(neurons, config):
        return MOD_WEIGHT if c.synapses and rng.random() < 0.5 else MOD_BIAS
    pool = candidates(c)
    if neurons >= config.medium_threshold:
        pool = [m for m in pool if m not in EXPANSION]
    return rng.choice(pool)


def mutate(c: Creature, config: MutationSettings, rng: random.Random, amount: int | None = None) -> list[str]:
    """Apply `amount` (default mutationAmount) mutations in place; the methods that changed `c`.
    A method that cannot apply is replaced by another draw (at most 8 draws per mutation)."""
    applied = []
    for _ in range(amount or config.mutation_amount):
        for _ in range(8):
            method = select_method(c, config, rng)
            if method == MOD_SQUASH:
                changed = mod_squash(c, rng, outputs=not config.fixed_output_squash, pool=config.squash_pool)
            elif method == ADD_NODE:
                changed = add_node(c, rng, config.squash_pool)
            else:
                changed = OPERATORS[method](c, rng)
            if changed:
                applied.append(method)
                break
    if applied and c.tags:  # a training's or fine-tuning's trace describes the parent, not this child
        c.tags = [t for t in c.tags if t.name not in TRACE_TAGS] or None
    return applied
